#!/usr/bin/env bash
# Copyright 2026 The adaptive_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# Create (or refresh) the project's virtual environment with pinned versions and install
# adaptive_depth into it in editable mode. Idempotent: a stamp of the lock file skips the work when
# nothing changed. Usage: bash scripts/setup.sh   (ADAPTIVE_DEPTH_VENV, PYTHON and
# ADAPTIVE_DEPTH_SETUP_MIN_FREE_MB override defaults)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ADAPTIVE_DEPTH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup: $PYTHON not found; the ROS 2 Jazzy wheels need CPython 3.11 (set PYTHON=...)" >&2
  exit 1
fi

STAMP_WANT="$(cat "$ROOT/requirements-lock.txt" "$ROOT/setup.py" "$ROOT/setup.cfg" | sha256sum | cut -d' ' -f1)"
STAMP_FILE="$VENV/.adaptive_depth_stamp"
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP_WANT" ]]; then
  exit 0
fi

# The environment takes about 1.8 GiB (torch alone 1 GiB) plus pip's unpacking space. Check first, so
# a full disk stops here with its size named instead of half-way through pip with "Errno 28".
NEED_MB="${ADAPTIVE_DEPTH_SETUP_MIN_FREE_MB:-3072}"
VENV_PARENT="$(dirname "$VENV")"
mkdir -p "$VENV_PARENT"
FREE_MB="$(df -Pm "$VENV_PARENT" | awk 'NR == 2 {print $4}')"
if [[ "$FREE_MB" =~ ^[0-9]+$ ]] && (( FREE_MB < NEED_MB )); then
  echo "setup: only ${FREE_MB} MiB free on the disk of $VENV_PARENT; the virtual environment needs" \
       "about ${NEED_MB} MiB (free space, or set ADAPTIVE_DEPTH_VENV to a folder on another disk)" >&2
  exit 1
fi

echo "setup: creating virtual environment in $VENV (pinned versions from requirements-lock.txt)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24" "setuptools>=68,<80" wheel
# torch==2.13.0 resolves to the CPU build on machines that ship it locally. GPU users set
# TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cu128) to install the CUDA build of the same
# version first; the lock's torch==2.13.0 is then already satisfied.
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
fi
"$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements-lock.txt"
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT"
echo "$STAMP_WANT" > "$STAMP_FILE"
echo "setup: done ($("$VENV/bin/python" -c 'import torch, transformers, rclpy; print("torch", torch.__version__, "| transformers", transformers.__version__, "| rclpy ok")'))"
