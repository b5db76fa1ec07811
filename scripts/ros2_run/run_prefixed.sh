#!/bin/sh
# Copyright 2026 The adaptive_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# `ros2 run adaptive_depth <tool>` runs lib/adaptive_depth/<tool>. The console scripts are
# installed there (and on a pip PATH) as adaptive_depth_<tool>, so that generic names such as
# `evaluate` never shadow other programs; every short name in scripts/ros2_run/ links to this
# wrapper, which runs the prefixed script next to it.
exec "$(dirname "$0")/adaptive_depth_$(basename "$0")" "$@"
