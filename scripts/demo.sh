#!/usr/bin/env bash
# Copyright 2026 The adaptive_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# Set up the environment (if needed) and run the main demo: the adaptive_depth node in a real
# ROS 2 graph on a sample camera stream, writing what it publishes to demo_output/ (replaced on
# every run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ADAPTIVE_DEPTH_VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup.sh"

cd "$ROOT"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/adaptive_depth_demo" --out "$ROOT/demo_output" --overwrite "$@"
