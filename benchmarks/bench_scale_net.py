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
Cost of each scale-network option per frame at the node's input size (640×480 uint8 RGB).

Times ``ScalePredictor.estimate`` (resize + normalise + network; best of the repeats after
warm-up, as the median drifts with the load of a shared machine) for the recipes of
``adaptive_depth.recipes`` (random weights: speed does not depend on them), and the DA2
feature head: the extra cost of returning the encoder features from the depth forward
(``forward_with_features`` vs ``forward``) plus the head itself, with the tiny and the untrained
DA2-Small model. Ratios are against the DA2-Small forward of the same run::

    python benchmarks/bench_scale_net.py                 # CPU, 2 threads
    python benchmarks/bench_scale_net.py --device cuda
"""

import argparse
import tempfile
import time
from typing import Callable, Dict

from adaptive_depth.da2_head import FeatureHeadConfig, FeatureScaleHead
from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.recipes import recipe_config, RECIPES
from adaptive_depth.scale_net import ScaleNet, ScaleNetConfig, ScalePredictor
from adaptive_depth.testing import make_untrained_depth_anything
import numpy as np
import torch


def best_ms(fn: Callable[[], object], repeats: int, warmup: int,
            sync: Callable[[], None]) -> float:
    """Return the best (minimum) wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def paired_ms(fn_a: Callable[[], object], fn_b: Callable[[], object], repeats: int,
              warmup: int, sync: Callable[[], None]) -> tuple:
    """Return the best ms of ``fn_a`` and ``fn_b``, timed alternately (same machine load)."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, a), (fn_b, b)):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            out.append((time.perf_counter() - t0) * 1e3)
    return min(a), min(b)


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 8.0, (480, 640)).astype(np.float32)   # for depth_input networks
    rows: Dict[str, float] = {}
    for name in RECIPES:
        cfg = recipe_config(name)
        net_cfg = ScaleNetConfig(input_size=cfg.input_size, **cfg.net_options)
        pred = ScalePredictor(ScaleNet(net_cfg), net_cfg, device)
        d = depth if net_cfg.depth_input else None
        rows[f'scale net: {name} ({net_cfg.backbone}, {net_cfg.input_size[0]}x'
             f'{net_cfg.input_size[1]}, {net_cfg.members} member(s)'
             f'{", flip" if net_cfg.test_time_flip else ""}'
             f'{", depth input" if net_cfg.depth_input else ""})'] = best_ms(
            lambda pred=pred, d=d: pred.estimate(rgb, d), args.repeats, args.warmup, sync)
    with tempfile.TemporaryDirectory() as tmp:
        for size in ('tiny', 'small'):
            runner = DepthAnythingRunner(make_untrained_depth_anything(f'{tmp}/{size}', size),
                                         device=device)
            x = runner.preprocess(runner.upload(rgb))
            with torch.inference_mode():
                plain, both = paired_ms(lambda: runner.forward(x),
                                        lambda: runner.forward_with_features(x), args.repeats,
                                        args.warmup, sync)
                feats = runner.forward_with_features(x)[1]
                head = FeatureScaleHead(FeatureHeadConfig(feats.shape[1])).to(device).eval()
                head_ms = best_ms(lambda: head(feats), args.repeats, args.warmup, sync)
            label = 'DA2-Small (untrained)' if size == 'small' else 'tiny DA2'
            rows[f'{label} forward'] = plain
            rows[f'{label}: forward returning features'] = both
            rows[f'{label}: feature head ({feats.shape[1]} → log s)'] = head_ms
            if size == 'small':
                da2_small = plain
    print(f'\nScale-network options at 640x480 input, {device}, {args.threads} thread(s), '
          f'best of {args.repeats}:\n')
    print('| stage | ms | vs DA2-Small forward |\n|---|---|---|')
    for name, ms in rows.items():
        print(f'| {name} | {ms:.1f} | {100 * ms / da2_small:.1f} % |')


if __name__ == '__main__':
    main()
