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
How fast can the bare DA2 forward go? Time it in several execution modes at one input size.

Issue 10's GPU goals (>= 150 FPS end to end, p95 <= 10 ms) fail because the bare DA2-Small
forward itself takes about 8.3 ms at 518 on an H200 (``bench_pipeline.py``), while the rest of
the frame costs about 1.6 ms. At batch 1 a 25 M-parameter ViT is launch-bound, so this
benchmark measures what each way of launching it buys (the runner's ``execution`` ships two):

- ``autocast``: ``DepthAnythingRunner.forward`` eager (fp16 autocast on CUDA; the default
  before 0.9.0);
- ``half``: the weights and input cast to fp16 once (no per-op autocast casts);
- ``autocast_graph`` / ``half_graph``: the same, captured once in a CUDA graph and replayed;
- ``half_graph_cudnn``: ``half_graph`` with ``cudnn.benchmark`` on;
- ``compile`` / ``compile_graph`` (``--compile``): ``torch.compile`` of the fp16 model, default
  mode and ``reduce-overhead`` (its own CUDA graphs); compiling takes about a minute each.

For every mode: p50 / p95 ms over ``--repeats`` synchronised runs after warm-up, and the relative
difference of its depth to the fp32 forward (median and max over pixels of |d − d32| / d32).
On a CPU only ``autocast`` and ``half`` run (for a smoke test). Random DA2-Small weights
(speed does not depend on the weights). ``--json`` writes the figures.

    python benchmarks/bench_forward_modes.py --device cuda --compile --json out/forward.json
"""

import argparse
import copy
import json
from pathlib import Path
import tempfile
import time
from typing import Callable, Dict, List, Optional

from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.fast_forward import CudaGraphForward
from adaptive_depth.testing import make_untrained_depth_anything
import numpy as np
import torch

Forward = Callable[[torch.Tensor], torch.Tensor]


def time_forward(fn: Forward, x: torch.Tensor, repeats: int, warmup: int) -> List[float]:
    """Return per-run wall times (ms) of ``fn(x)``, synchronised on CUDA, after ``warmup``."""
    cuda = x.device.type == 'cuda'
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        fn(x)
        if cuda:
            torch.cuda.synchronize(x.device)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def graphed(fn: Forward, cudnn_benchmark: bool = False) -> Callable[[], Forward]:
    """
    Return a builder of ``fn`` replayed from CUDA graphs (the runner's ``CudaGraphForward``).

    ``cudnn_benchmark`` is set before the capture, so cuDNN's algorithm search happens in the
    warm-up runs; the caller resets it after the mode.
    """
    def build() -> Forward:
        torch.backends.cudnn.benchmark = cudnn_benchmark
        graphs = CudaGraphForward(lambda x: (fn(x),))
        return lambda x: graphs(x)[0]
    return build


def build_modes(runner: DepthAnythingRunner, compile_: bool) -> Dict[str, Callable[[], Forward]]:
    """Return the mode builders (each returns a forward taking fp32 N×3×h×w input)."""
    model32 = runner.model
    cuda = runner.device.type == 'cuda'
    half_model = copy.deepcopy(model32).half() if cuda else None

    def autocast_fwd(x: torch.Tensor) -> torch.Tensor:
        return runner.forward(x)  # the eager runner: fp16 autocast on CUDA

    def half_fwd(x: torch.Tensor) -> torch.Tensor:
        model = half_model if cuda else model32
        dtype = torch.float16 if cuda else torch.float32
        return model(pixel_values=x.to(dtype)).predicted_depth.float()

    modes: Dict[str, Callable[[], Forward]] = {
        'autocast': lambda: autocast_fwd,
        'half': lambda: half_fwd,
    }
    if not cuda:
        return modes
    modes['autocast_graph'] = graphed(autocast_fwd)   # what execution='cuda_graph' runs
    modes['half_graph'] = graphed(half_fwd)
    modes['half_graph_cudnn'] = graphed(half_fwd, cudnn_benchmark=True)
    if compile_:
        def compiled(mode: str) -> Forward:
            net = torch.compile(half_model, mode=mode, dynamic=False)
            return lambda x: net(pixel_values=x.half()).predicted_depth.float()
        modes['compile'] = lambda: compiled('default')
        modes['compile_graph'] = lambda: compiled('reduce-overhead')
    return modes


def relative_error(depth: torch.Tensor, reference: torch.Tensor) -> Dict[str, float]:
    """Median and max over pixels of |depth − reference| / reference (reference > 0 only)."""
    ok = reference > 1e-6
    rel = ((depth.float() - reference).abs()[ok] / reference[ok]).cpu().numpy()
    return {'rel_diff_median': float(np.median(rel)), 'rel_diff_max': float(rel.max())}


def run(device: str, input_size: int, repeats: int, warmup: int, compile_: bool,
        budget_s: float) -> Dict[str, object]:
    """Time every mode; return the figures (a failed mode records its error and is skipped)."""
    t_start = time.perf_counter()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_untrained_depth_anything(tmp, size='small')
        runner = DepthAnythingRunner(path, device=device, input_size=input_size,
                                     execution='eager')
    rgb = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    results: Dict[str, object] = {
        'device': str(runner.device), 'torch': torch.__version__, 'input_size': input_size,
        'gpu': torch.cuda.get_device_name(runner.device) if runner.device.type == 'cuda' else None,
        'repeats': repeats, 'warmup': warmup, 'modes': {}}
    with torch.inference_mode():
        x = runner.preprocess(runner.upload(rgb))
        results['network_input'] = f'{x.shape[-1]}x{x.shape[-2]}'
        reference = runner.model(pixel_values=x).predicted_depth.float()
        for name, build in build_modes(runner, compile_).items():
            if time.perf_counter() - t_start > budget_s:
                results['modes'][name] = {'error': 'skipped: --budget spent'}
                continue
            t0 = time.perf_counter()
            try:
                fn = build()
                depth = fn(x)  # first call: compiles / warms up
                setup_s = time.perf_counter() - t0
                times = time_forward(fn, x, repeats, warmup)
            except Exception as exc:  # report the failure of one mode, try the others
                results['modes'][name] = {'error': f'{type(exc).__name__}: {exc}'[:300]}
                print(f'{name:<18} FAILED: {results["modes"][name]["error"]}', flush=True)
                continue
            finally:
                torch.backends.cudnn.benchmark = False
            row = {'p50_ms': float(np.percentile(times, 50)),
                   'p95_ms': float(np.percentile(times, 95)),
                   'fps': 1000.0 / float(np.median(times)), 'setup_s': setup_s,
                   **relative_error(depth, reference)}
            results['modes'][name] = row
            print(f'{name:<18} p50 {row["p50_ms"]:7.2f} ms  p95 {row["p95_ms"]:7.2f} ms  '
                  f'{row["fps"]:7.1f} FPS  setup {setup_s:5.1f} s  rel. diff to fp32 '
                  f'median {row["rel_diff_median"]:.1e} max {row["rel_diff_max"]:.1e}', flush=True)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, time the modes, print and optionally write the figures."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='auto', help='auto | cpu | cuda[:N]')
    p.add_argument('--input-size', type=int, default=518)
    p.add_argument('--repeats', type=int, default=None, help='default 200 on CUDA, 2 on CPU')
    p.add_argument('--warmup', type=int, default=None, help='default 20 on CUDA, 1 on CPU')
    p.add_argument('--compile', action='store_true', help='also time torch.compile (slow setup)')
    p.add_argument('--budget', type=float, default=240.0,
                   help='seconds after which the remaining modes are skipped')
    p.add_argument('--json', type=Path, default=None)
    args = p.parse_args(argv)
    cuda = args.device.startswith('cuda') or (args.device == 'auto' and torch.cuda.is_available())
    repeats = args.repeats or (200 if cuda else 2)
    warmup = args.warmup if args.warmup is not None else (20 if cuda else 1)
    results = run(args.device, args.input_size, repeats, warmup, args.compile, args.budget)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + '\n')
        print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
