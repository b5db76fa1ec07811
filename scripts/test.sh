#!/usr/bin/env bash
# Copyright 2026 The adaptive_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# Set up the environment (if needed) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ADAPTIVE_DEPTH_VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup.sh"

cd "$ROOT"
# ROS 2 traffic of the tests never leaves loopback; each ROS test also picks its own domain id.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PATH="$VENV/bin:$PATH"

set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "test: pytest collected no tests - treated as a failure" >&2
  exit 1
fi
exit $rc
