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
What a lens costs the point cloud: pinhole vs distorted rays, per frame and once per camera.

For one frame (640×480 by default, colour on, decimation 1) ``organised_cloud`` runs with the
pinhole rays (separable: a row and a column) and with the rays of a lens (H×W each, from the
cache), interleaved so machine load hits both alike; the ratio is measured in this one run. The
one-off cost is the inverse of each lens model over every pixel (``geometry.pixel_rays`` on an
empty cache).

    python benchmarks/bench_lens.py [--repeats 100] [--size 640x480] [--device cpu] [--json F]
"""

import argparse
import json
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence

from adaptive_depth.frame_processor import device_rays, organised_cloud, output_stage_threads
from adaptive_depth.geometry import _pixel_rays, Intrinsics
from adaptive_depth.lens import make_distortion
import numpy as np
import torch
from tqdm import tqdm

LENSES = {  # typical calibrations: a webcam, a wide lens, a fisheye
    'plumb_bob': make_distortion('plumb_bob', [-0.28, 0.09, 0.0012, -0.0008, -0.012]),
    'rational_polynomial': make_distortion(
        'rational_polynomial', [0.42, -0.05, 0.0007, 0.0011, 0.002, 0.75, 0.01, 0.004]),
    'equidistant': make_distortion('equidistant', [0.04, -0.012, 0.003, -0.0006]),
}


def _size(text: str) -> Sequence[int]:
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT, got {text!r}') from None
    if width < 2 or height < 2:
        raise argparse.ArgumentTypeError(f'size must be at least 2x2, got {text!r}')
    return width, height


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Time both clouds and the inverse of each lens; print the table (and write --json)."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=100)
    p.add_argument('--size', type=_size, default=(640, 480), metavar='WxH')
    p.add_argument('--device', default='cpu')
    p.add_argument('--json', default=None, help='also write the results here')
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error('--repeats must be >= 1')
    device = torch.device(args.device)
    width, height = args.size
    intr = Intrinsics(0.7 * width, 0.7 * width, width / 2 - 0.5, height / 2 - 0.5, width, height)
    rng = np.random.default_rng(0)
    depth = torch.from_numpy(rng.uniform(0.3, 9.0, (height, width)).astype(np.float32)).to(device)
    rgb = torch.from_numpy(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).to(device)

    once: Dict[str, float] = {}
    for name, lens in LENSES.items():
        _pixel_rays.cache_clear()
        t0 = time.perf_counter()
        device_rays.cache_clear()
        device_rays(intr, lens, device)
        once[name] = (time.perf_counter() - t0) * 1e3

    def cloud(lens):
        with output_stage_threads(device):
            out = organised_cloud(depth, intr, 0.0, rgb, 9.0, lens)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return out

    runs = {'pinhole': None, 'plumb_bob': LENSES['plumb_bob']}
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for lens in runs.values():
        cloud(lens)  # warm the caches
    for _ in tqdm(range(args.repeats), desc='frames', leave=False):
        for name, lens in runs.items():
            t0 = time.perf_counter()
            cloud(lens)
            times[name].append((time.perf_counter() - t0) * 1e3)
    p50 = {name: statistics.median(v) for name, v in times.items()}
    ratio = statistics.median(b / a for a, b in zip(times['pinhole'], times['plumb_bob']) if a > 0)
    print(f'{width}x{height} cloud with colour on {device}, {args.repeats} frames each, '
          f'{torch.get_num_threads()} torch threads')
    for name, values in times.items():
        print(f'  per frame, {name:<10} p50 {p50[name]:7.2f} ms  '
              f'p95 {float(np.percentile(values, 95)):7.2f} ms')
    print(f'  lens / pinhole per frame: median ratio {ratio:.2f}x')
    for name, ms in once.items():
        print(f'  once per camera: rays of {name:<20} {ms:8.1f} ms')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'size': f'{width}x{height}', 'device': str(device),
                       'repeats': args.repeats, 'per_frame_p50_ms': p50,
                       'lens_over_pinhole': ratio, 'rays_once_ms': once}, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
