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
prints the overhead ratio (everything but the DA2 forward) / (DA2 forward). On CUDA it also
reports FPS and p95 latency end-to-end and of the bare DA2 forward.

    python benchmarks/bench_pipeline.py                 # CPU, 2 threads
    python benchmarks/bench_pipeline.py --device cuda   # fp16 autocast by default on CUDA
"""

import argparse
import statistics
import tempfile
import time
from typing import Dict, List

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
    """Run ``pipe.process`` ``warmup + repeats`` times; return per-stage ms lists."""
    for _ in range(warmup):
        pipe.process(rgb, NYU_INTRINSICS, compute_points=compute_points)
    runs: Dict[str, List[float]] = {k: [] for k in STAGES}
    for _ in tqdm(range(repeats), desc='pipeline', leave=False):
        result = pipe.process(rgb, NYU_INTRINSICS, compute_points=compute_points)
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


def report(runs: Dict[str, List[float]], bare: List[float], device: torch.device) -> None:
    """Print medians per stage, the overhead ratio and (on CUDA) FPS / p95 latency."""
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f'{"stage":<16}{"median ms":>12}')
    for k in STAGES:
        print(f'{k:<16}{med[k]:>12.2f}')
    overhead = statistics.median(
        t - f for t, f in zip(runs['total'], runs['depth_forward']))  # per run, then median
    print(f'overhead (all but DA2 forward): {overhead:.2f} ms; ratio overhead / DA2 forward = '
          f'{overhead / med["depth_forward"]:.3%} (goal <= 5 %)')
    print(f'bare DA2 forward: median {statistics.median(bare):.2f} ms, '
          f'p95 {_percentile(bare, 95):.2f} ms')
    if device.type == 'cuda':
        total = runs['total']
        fps = 1000.0 / statistics.median(total)
        bare_fps = 1000.0 / statistics.median(bare)
        print(f'end-to-end: {fps:.1f} FPS (median), p95 latency {_percentile(total, 95):.2f} ms; '
              f'bare forward {bare_fps:.1f} FPS; end-to-end / bare = '
              f'{statistics.median(total) / statistics.median(bare):.2f}x (goal <= 1.3x, '
              '>= 150 FPS on an H100)')


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
    parser.add_argument('--model', default=None,
                        help='DA2 checkpoint (default: random DA2-Small architecture)')
    parser.add_argument('--no-points', action='store_true', help='skip back-projection')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(make_untrained_depth_anything(tmp, size='small'))
        runner = DepthAnythingRunner(model, device=args.device, precision=args.precision,
                                     input_size=args.input_size)
        cuda = runner.device.type == 'cuda'
        repeats = args.repeats or (200 if cuda else 3)
        warmup = args.warmup if args.warmup is not None else (20 if cuda else 1)
        predictor = ScalePredictor(ScaleNet(ScaleNetConfig()), device=runner.device)
        pipe = FrameProcessor(runner, LearnedScale(predictor), max_depth=10.0)
        rgb = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
        h, w = runner.network_size(480, 640)
        gpu = f'{torch.cuda.get_device_name(runner.device)}, ' if cuda else ''
        print(f'device {runner.device} ({gpu}'
              f'{torch.get_num_threads()} threads), precision {runner.precision}, model '
              f'{runner.num_parameters / 1e6:.1f} M params, 640x480 -> network {w}x{h}, '
              f'{repeats} repeats after {warmup} warm-up')
        runs = time_pipeline(pipe, rgb, repeats, warmup, compute_points=not args.no_points)
        bare = time_bare_forward(runner, rgb, repeats, warmup)
    report(runs, bare, runner.device)


if __name__ == '__main__':
    main()
