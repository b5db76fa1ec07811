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
Benchmark the exact oracle scale solver against the paper's scipy reference procedure.

On a 640×480 depth map (a real NYU depth from ``../shared/data/nyu_test_sample`` when present,
else a synthetic room-like map) with a perturbed, rescaled copy as the prediction, times the
median of repeated runs of ``optimal_scale(method='exact')`` and of ``optimal_scale_reference``
in the same process, and prints the speed-up and the agreement of s* and of W1.

    python benchmarks/bench_oracle.py [--frames 00000 00008] [--exact-repeats 30]
"""

import argparse
from pathlib import Path
import statistics
import sys
import time
from typing import Callable, List, Tuple

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
NYU_SAMPLE = REPO_ROOT.parent / 'shared' / 'data' / 'nyu_test_sample'


def _smooth_field(rng: np.random.Generator, height: int, width: int,
                  sigma: float) -> np.ndarray:
    coarse = rng.normal(0.0, sigma, size=(8, 8)).astype(np.float32)
    return np.exp(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))


def _synthetic_gt(rng: np.random.Generator, height: int = 480, width: int = 640) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    gt = 1.5 + 4.0 * (1.0 - rows / height) + 1.0 * np.abs(cols / width - 0.5)
    gt[height // 4:height // 2, width // 3:2 * width // 3] = 1.8
    gt[rng.random(gt.shape) < 0.03] = 0.0
    return gt.astype(np.float32)


def load_pairs(frames: List[str], seed: int) -> List[Tuple[str, np.ndarray, np.ndarray, float]]:
    """Return (name, pred H×W, gt H×W, true scale) pairs; NYU frames when available."""
    rng = np.random.default_rng(seed)
    gts = []
    if NYU_SAMPLE.is_dir():
        for frame in frames:
            raw = cv2.imread(str(NYU_SAMPLE / f'{frame}_depth.png'), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise FileNotFoundError(f'NYU depth {frame} not found in {NYU_SAMPLE}')
            gts.append((f'nyu/{frame}', raw.astype(np.float32) / 1000.0))
    else:
        print(f'{NYU_SAMPLE} absent: using synthetic 640x480 maps')
        gts = [(f'synthetic/{i}', _synthetic_gt(rng)) for i in range(len(frames))]
    pairs = []
    for name, gt in gts:
        true_scale = float(rng.uniform(0.6, 1.6))
        noise = rng.lognormal(0.0, 0.05, size=gt.shape).astype(np.float32)
        pred = gt * _smooth_field(rng, *gt.shape, sigma=0.1) * noise / true_scale
        pred[rng.random(gt.shape) < 0.01] = np.nan
        pairs.append((name, pred.astype(np.float32), gt, true_scale))
    return pairs


def median_time(fn: Callable[[], float], repeats: int) -> Tuple[float, float]:
    """Return (median seconds, last result) over ``repeats`` calls."""
    times = []
    result = float('nan')
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    """Run the benchmark and print one line per frame plus a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', nargs='+', default=['00000', '00008', '00014'],
                        help='NYU sample ids (default: %(default)s)')
    parser.add_argument('--exact-repeats', type=int, default=30)
    parser.add_argument('--reference-repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--min-speedup', type=float, default=100.0,
                        help='exit status 1 if the median speed-up is below this')
    args = parser.parse_args()
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing
    from adaptive_depth import oracle

    pairs = load_pairs(args.frames, args.seed)
    speedups = []
    worst_w1 = 0.0
    print(f'{"frame":<14}{"pixels":>8}{"exact ms":>10}{"ref ms":>10}{"speed-up":>10}'
          f'{"s* exact":>11}{"s* ref":>11}{"rel ds":>10}{"rel dW1":>11}')
    for name, pred, gt, _ in pairs:
        oracle.optimal_scale(pred, gt)  # warm-up
        t_exact, s_exact = median_time(lambda: oracle.optimal_scale(pred, gt),
                                       args.exact_repeats)
        t_ref, s_ref = median_time(lambda: oracle.optimal_scale_reference(pred, gt),
                                   args.reference_repeats)
        w_exact = oracle.scaled_wasserstein(pred, gt, s_exact)
        w_ref = oracle.scaled_wasserstein(pred, gt, s_ref)
        rel_s = abs(s_exact - s_ref) / s_ref
        rel_w = (w_exact - w_ref) / w_ref
        worst_w1 = max(worst_w1, abs(rel_w))
        speedups.append(t_ref / t_exact)
        n = int((np.isfinite(pred) & (pred > 0) & (gt > 0)).sum())
        print(f'{name:<14}{n:>8}{t_exact * 1e3:>10.2f}{t_ref * 1e3:>10.1f}'
              f'{t_ref / t_exact:>9.0f}x{s_exact:>11.6f}{s_ref:>11.6f}{rel_s:>10.2e}'
              f'{rel_w:>11.2e}')
    median_speedup = statistics.median(speedups)
    print(f'median speed-up {median_speedup:.0f}x; worst |relative W1 difference| '
          f'{worst_w1:.2e} (negative rel dW1 = exact found the lower W1)')
    ok = median_speedup >= args.min_speedup and worst_w1 <= 1e-4
    print('PASS' if ok else 'FAIL')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
