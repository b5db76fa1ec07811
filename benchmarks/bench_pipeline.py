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

"""
Benchmark the metric-depth pipeline stage by stage at 640×480.

Builds a random-weight model with the DA2-Small architecture (24.8 M parameters; speed does not
depend on the weights) and the default scale network, then times pre-processing, the DA2 forward,
the scale network, post-processing and back-projection (medians over repeats after warm-up) and
prints the overhead ratio (everything but the DA2 forward) / (DA2 forward), and the end-to-end
figures of ``FrameProcessor.process`` with the packed cloud (FPS, p50/p95 ms, ratio to the bare
DA2 forward; on CUDA checked against the GPU goals). ``--json`` writes them.

The only pipeline calls are ``DepthAnythingRunner(...)`` (``upload``, ``preprocess``, ``forward``,
``network_size``), ``FrameProcessor(runner, LearnedScale(...), max_depth=10.0)`` and
``pipe.process(rgb, intrinsics, compute_points=True)`` with its ``timings``.

    python benchmarks/bench_pipeline.py                 # CPU, 2 threads
    python benchmarks/bench_pipeline.py --device cuda   # fp16 autocast by default on CUDA
    python benchmarks/bench_pipeline.py --device cuda --json out/bench_pipeline.json
    python benchmarks/bench_pipeline.py --device cuda --execution cuda_graph   # or compile
"""

import argparse
import json
from pathlib import Path
import statistics
import tempfile
import time
from typing import Dict, List

from adaptive_depth.defaults import DEFAULT_EXECUTION, EXECUTIONS
from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.geometry import NYU_INTRINSICS
from adaptive_depth.scale_net import ScaleNet, ScaleNetConfig, ScalePredictor
from adaptive_depth.scale_source import LearnedScale
from adaptive_depth.testing import make_untrained_depth_anything
import numpy as np
import torch
from tqdm import tqdm

STAGES = ('preprocess', 'depth_forward', 'scale', 'postprocess', 'cloud', 'download', 'total')


def _percentile(values: List[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_pipeline(pipe: FrameProcessor, rgb: np.ndarray, repeats: int, warmup: int,
                  compute_points: bool = True) -> Dict[str, List[float]]:
    """
    Run ``pipe.process`` ``warmup + repeats`` times; return per-stage ms lists.

    ``'wall'`` is the caller's view of one frame: host H×W×3 uint8 in, host depth and points
    out (``process`` returns numpy arrays, so the device → host copies are inside).
    """
    for _ in range(warmup):
        pipe.process(rgb, NYU_INTRINSICS, compute_points=compute_points)
    runs: Dict[str, List[float]] = {k: [] for k in STAGES + ('wall',)}
    for _ in tqdm(range(repeats), desc='pipeline', leave=False):
        t0 = time.perf_counter()
        result = pipe.process(rgb, NYU_INTRINSICS, compute_points=compute_points)
        runs['wall'].append((time.perf_counter() - t0) * 1e3)
        for k in STAGES:
            runs[k].append(result.timings[k])
    return runs


def time_bare_forward(runner: DepthAnythingRunner, rgb: np.ndarray, repeats: int,
                      warmup: int) -> List[float]:
    """Time only ``runner.forward`` on a pre-processed input already on the device (ms)."""
    with torch.inference_mode():
        x = runner.preprocess(runner.upload(rgb))
        for _ in range(warmup):
            runner.forward(x)
        times = []
        for _ in tqdm(range(repeats), desc='bare forward', leave=False):
            if runner.device.type == 'cuda':
                torch.cuda.synchronize(runner.device)
            t0 = time.perf_counter()
            runner.forward(x)
            if runner.device.type == 'cuda':
                torch.cuda.synchronize(runner.device)
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def summarise(runs: Dict[str, List[float]], bare: List[float]) -> Dict[str, float]:
    """Return the headline figures: end-to-end FPS, p50/p95 ms, ratio to the bare forward."""
    wall = runs['wall']
    overhead = statistics.median(t - f for t, f in zip(runs['total'], runs['depth_forward']))
    return {
        'end_to_end_fps': 1000.0 / statistics.median(wall),
        'end_to_end_p50_ms': _percentile(wall, 50),
        'end_to_end_p95_ms': _percentile(wall, 95),
        'bare_forward_p50_ms': _percentile(bare, 50),
        'bare_forward_p95_ms': _percentile(bare, 95),
        'bare_forward_fps': 1000.0 / statistics.median(bare),
        'ratio_to_bare_forward': statistics.median(wall) / statistics.median(bare),
        'overhead_ms': overhead,
        'overhead_over_forward': overhead / statistics.median(runs['depth_forward']),
    }


def report(runs: Dict[str, List[float]], bare: List[float], device: torch.device) -> None:
    """Print medians per stage, the overhead ratio and the end-to-end figures (+ goals)."""
    med = {k: statistics.median(v) for k, v in runs.items()}
    fig = summarise(runs, bare)
    print(f'{"stage":<16}{"median ms":>12}')
    for k in STAGES:
        print(f'{k:<16}{med[k]:>12.2f}')
    print(f'overhead (all but DA2 forward): {fig["overhead_ms"]:.2f} ms; ratio overhead / DA2 '
          f'forward = {fig["overhead_over_forward"]:.3%} (goal <= 5 % on CPU)')
    print(f'bare DA2 forward: p50 {fig["bare_forward_p50_ms"]:.2f} ms, '
          f'p95 {fig["bare_forward_p95_ms"]:.2f} ms ({fig["bare_forward_fps"]:.1f} FPS)')
    print(f'end to end (process, host image in -> host depth + points out): '
          f'{fig["end_to_end_fps"]:.1f} FPS, p50 {fig["end_to_end_p50_ms"]:.2f} ms, '
          f'p95 {fig["end_to_end_p95_ms"]:.2f} ms, {fig["ratio_to_bare_forward"]:.2f}x the bare '
          'forward')
    if device.type == 'cuda':
        goals = goal_check(fig)
        print('GPU goals (DA2-Small fp16, 640x480, H100/H200): ' + ', '.join(
            f'{name} {"PASS" if ok else "FAIL"}' for name, ok in goals.items()))


def goal_check(fig: Dict[str, float]) -> Dict[str, bool]:
    """Return the issue's GPU goals: >= 150 FPS, p95 <= 10 ms, <= 1.3x the bare forward."""
    return {'>=150 FPS': fig['end_to_end_fps'] >= 150.0,
            'p95<=10 ms': fig['end_to_end_p95_ms'] <= 10.0,
            '<=1.3x bare': fig['ratio_to_bare_forward'] <= 1.3}


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='auto', help='auto | cpu | cuda[:N]')
    parser.add_argument('--precision', default='auto', help='auto | fp32 | fp16 | bf16')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed runs (default 3 on CPU, 200 on CUDA)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='warm-up runs (default 1 on CPU, 20 on CUDA)')
    parser.add_argument('--input-size', type=int, default=518)
    parser.add_argument('--execution', default=DEFAULT_EXECUTION, choices=EXECUTIONS,
                        help='DA2 forward: auto (cuda_graph on CUDA), eager, cuda_graph or '
                             'compile (the first frame compiles; warm-up covers it)')
    parser.add_argument('--model', default=None,
                        help='DA2 checkpoint (default: random DA2-Small architecture)')
    parser.add_argument('--no-points', action='store_true', help='skip back-projection')
    parser.add_argument('--json', type=Path, default=None, help='also write the figures here')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(make_untrained_depth_anything(tmp, size='small'))
        runner = DepthAnythingRunner(model, device=args.device, precision=args.precision,
                                     input_size=args.input_size, execution=args.execution)
        cuda = runner.device.type == 'cuda'
        repeats = args.repeats or (200 if cuda else 3)
        warmup = args.warmup if args.warmup is not None else (20 if cuda else 1)
        predictor = ScalePredictor(ScaleNet(ScaleNetConfig()), device=runner.device)
        pipe = FrameProcessor(runner, LearnedScale(predictor), max_depth=10.0)
        rgb = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
        h, w = runner.network_size(480, 640)
        gpu = f'{torch.cuda.get_device_name(runner.device)}, ' if cuda else ''
        print(f'device {runner.device} ({gpu}'
              f'{torch.get_num_threads()} threads), precision {runner.precision}, execution '
              f'{runner.execution}, model '
              f'{runner.num_parameters / 1e6:.1f} M params, 640x480 -> network {w}x{h}, '
              f'{repeats} repeats after {warmup} warm-up')
        runs = time_pipeline(pipe, rgb, repeats, warmup, compute_points=not args.no_points)
        bare = time_bare_forward(runner, rgb, repeats, warmup)
    report(runs, bare, runner.device)
    if args.json is not None:
        fig = summarise(runs, bare)
        out = {'device': str(runner.device), 'gpu': gpu.rstrip(', ') or None,
               'precision': runner.precision, 'execution': runner.execution,
               'parameters_m': runner.num_parameters / 1e6,
               'image': '640x480', 'network_input': f'{w}x{h}', 'points': not args.no_points,
               'repeats': repeats, 'warmup': warmup, 'torch': torch.__version__,
               'stage_median_ms': {k: statistics.median(v) for k, v in runs.items()}, **fig}
        if runner.device.type == 'cuda':
            out['goals'] = goal_check(fig)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + '\n')
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
