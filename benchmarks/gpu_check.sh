#!/usr/bin/env bash
# Copyright 2026 The adaptive_depth Authors
# SPDX-License-Identifier: Apache-2.0
#
# One command for a CUDA machine: the CUDA tests, the pipeline benchmark (DA2-Small-sized
# untrained model, fp16, 640x480, with the point map) and, where rclpy is importable, the node
# benchmark; then the headline figures against the GPU goals (>= 150 FPS end to end, p95 <= 10 ms,
# <= 1.3x the bare DA2 forward). Logs and JSON go to $OUT if set, else ./gpu_check_output.
#
#   bash benchmarks/gpu_check.sh              # on the GPU machine (about 2-4 minutes)
#   bash benchmarks/gpu_check.sh --dry-run    # say which interpreter and commands it would use
#   bash benchmarks/gpu_check.sh --device cpu # the same steps on the CPU (smoke test, short runs)
#
# Interpreter: if `python3` already has a CUDA torch (a prepared GPU machine without network),
# it is used as is with PYTHONPATH=<repo>; wheels in <repo>/.whl/ (benchmarks/fetch_gpu_wheels.sh)
# are installed offline into /tmp/adaptive_depth_site first. Otherwise the project venv is set up
# with the CUDA build of the pinned torch (TORCH_INDEX_URL, default cu128) by scripts/setup.sh.
# Exit codes: 0 all steps ran (goals are reported, not enforced), 1 a step failed,
# 2 bad argument, 3 no usable CUDA torch.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVICE=cuda
DRY_RUN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --device) DEVICE="${2:-}"; shift ;;
    -h|--help) sed -n '3,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$DEVICE" == cuda* || "$DEVICE" == cpu ]] || {
  echo "gpu_check: --device must be cuda[:N] or cpu, got '$DEVICE'" >&2; exit 2; }

OUT_DIR="${OUT:-$PWD/gpu_check_output}"
SITE=/tmp/adaptive_depth_site
START=$(date +%s)
run() {  # run "what" cmd...: print, then run unless --dry-run
  local what="$1"; shift
  echo "+ [$what] $*"
  [[ $DRY_RUN -eq 1 ]] && return 0
  "$@"
}

# ---------------------------------------------------------------- interpreter
PY=""
# With --device cpu any torch will do (that is how the offline branch is smoke-tested on a CPU).
WANT='import torch; assert torch.cuda.is_available()'
[[ "$DEVICE" == cpu ]] && WANT='import torch'
if python3 -c "$WANT" >/dev/null 2>&1; then
  PY=python3
  echo "gpu_check: using the preinstalled python3 (torch found); PYTHONPATH=$ROOT"
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  shopt -s nullglob
  WHEELS=("$ROOT"/.whl/*.whl)
  if [[ ${#WHEELS[@]} -gt 0 ]]; then
    run wheels python3 -m pip install --quiet --no-index --no-deps --target "$SITE" "${WHEELS[@]}" \
      || { echo "gpu_check: installing the wheels from .whl/ failed" >&2; exit 1; }
    export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}"
  fi
elif [[ "$DEVICE" == cpu ]]; then
  run setup bash "$ROOT/scripts/setup.sh" || exit 1
  PY="$ROOT/.venv/bin/python"
else
  echo "gpu_check: python3 has no CUDA torch; setting up .venv with the CUDA build of the pinned torch"
  if [[ -x "$ROOT/.venv/bin/python" ]] && \
      ! "$ROOT/.venv/bin/python" -c 'import torch; assert torch.version.cuda' >/dev/null 2>&1; then
    echo "gpu_check: .venv holds a CPU-only torch; delete .venv/ and rerun to get the CUDA build" >&2
    [[ $DRY_RUN -eq 1 ]] || exit 3
  fi
  run setup env TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cu128}" \
    bash "$ROOT/scripts/setup.sh" || exit 1
  PY="$ROOT/.venv/bin/python"
fi
if [[ $DRY_RUN -eq 0 && "$DEVICE" == cuda* ]] && \
    ! "$PY" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  echo "gpu_check: $PY has no usable CUDA device (torch.cuda.is_available() is False)" >&2
  exit 3
fi
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST

if [[ $DRY_RUN -eq 0 ]]; then
  mkdir -p "$OUT_DIR"
  exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
fi
echo "gpu_check: device $DEVICE, interpreter $PY, output $OUT_DIR"
[[ $DRY_RUN -eq 1 ]] || { command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; \
  "$PY" -c 'import sys, torch, transformers; print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.version.cuda, "| transformers", transformers.__version__, "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")'; }

FAILED=()
# ---------------------------------------------------------------- CUDA tests
# Every test module that carries the `cuda` marker (found by name, so modules that import rclpy
# are not collected on a machine without ROS).
mapfile -t CUDA_TESTS < <(cd "$ROOT" && grep -l 'mark\.cuda' test/test_*.py)
if [[ ${#CUDA_TESTS[@]} -eq 0 ]]; then
  echo "gpu_check: no test module carries the cuda marker" >&2; FAILED+=(tests)
else
  (cd "$ROOT" && run tests timeout 240 "$PY" -m pytest -p no:cacheprovider -q -rs -m cuda \
     --junitxml="$OUT_DIR/cuda_tests.xml" "${CUDA_TESTS[@]}") || FAILED+=(tests)
  if [[ $DRY_RUN -eq 0 && "$DEVICE" == cuda* ]] && \
      ! grep -q 'tests="[1-9]' "$OUT_DIR/cuda_tests.xml" 2>/dev/null; then
    echo "gpu_check: no CUDA test ran" >&2; FAILED+=(tests)
  elif [[ $DRY_RUN -eq 0 && "$DEVICE" == cuda* ]] && grep -q 'skipped="[1-9]' "$OUT_DIR/cuda_tests.xml"; then
    echo "gpu_check: CUDA tests were skipped on a CUDA machine" >&2; FAILED+=(tests)
  fi
fi

# ---------------------------------------------------------------- pipeline benchmark
# Once per execution mode of the DA2 forward (eager, CUDA-graph replay = the default on CUDA,
# torch.compile; compile is left out of the CPU smoke run, where inductor takes minutes).
if [[ "$DEVICE" == cpu ]]; then BENCH_ARGS=(--repeats 2 --warmup 1); MODES=(eager cuda_graph)
else BENCH_ARGS=(); MODES=(eager cuda_graph compile); fi
for mode in "${MODES[@]}"; do
  (cd "$ROOT" && run bench_pipeline timeout 180 "$PY" benchmarks/bench_pipeline.py --device "$DEVICE" \
     --precision auto --execution "$mode" "${BENCH_ARGS[@]}" \
     --json "$OUT_DIR/bench_pipeline_$mode.json") || FAILED+=("bench_pipeline_$mode")
done

# ---------------------------------------------------------------- node benchmark
if "$PY" -c 'import rclpy' >/dev/null 2>&1; then
  if [[ "$DEVICE" == cpu ]]; then NODE_ARGS=(--model-size tiny --frames 10); else NODE_ARGS=(--model-size small --frames 60); fi
  (cd "$ROOT" && run bench_node timeout 240 "$PY" benchmarks/bench_node.py --device "$DEVICE" \
     "${NODE_ARGS[@]}" --out "$OUT_DIR/bench_node") || FAILED+=(bench_node)
else
  echo "gpu_check: node benchmark SKIPPED: rclpy is not importable with $PY (no ROS 2 here);" \
       "run benchmarks/bench_node.py on a machine with the project venv"
fi

# ---------------------------------------------------------------- summary
if [[ $DRY_RUN -eq 0 ]]; then
  "$PY" - "$OUT_DIR" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for p in sorted(out.glob('bench_pipeline_*.json')):
    r = json.loads(p.read_text())
    print(f"\n== pipeline, {r['device']} {r.get('gpu') or ''} {r['precision']}, "
          f"execution {r.get('execution', 'eager')}, "
          f"{r['parameters_m']:.1f} M params, {r['image']} -> {r['network_input']}, "
          f"points {r['points']}, {r['repeats']} runs")
    print(f"end to end: {r['end_to_end_fps']:.1f} FPS, p50 {r['end_to_end_p50_ms']:.2f} ms, "
          f"p95 {r['end_to_end_p95_ms']:.2f} ms; bare forward p50 {r['bare_forward_p50_ms']:.2f} ms"
          f" -> {r['ratio_to_bare_forward']:.2f}x")
    for goal, ok in (r.get('goals') or {}).items():
        print(f"  goal {goal:<12} {'PASS' if ok else 'FAIL'}")
n = out / 'bench_node' / 'bench_node.json'
if n.is_file():
    r = json.loads(n.read_text())
    print(f"== node: points p50 {r['node_points_ms']['p50']:.1f} ms, model {r['model_points_ms']['p50']:.1f}"
          f" ms, floor {r['floor_points_ms']['p50']:.1f} ms -> own overhead "
          f"{r['overhead_points_p50_ms']:.1f} ms (cloud), {r['overhead_depth_p50_ms']:.1f} ms (depth)")
EOF
fi
echo "gpu_check: done in $(( $(date +%s) - START )) s; output in $OUT_DIR"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "gpu_check: FAILED steps: ${FAILED[*]}" >&2
  exit 1
fi
exit 0
