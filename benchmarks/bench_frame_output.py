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
The node's own per-frame host cost after the model, old path vs frame processor, in one run.

For one 640×480 frame with a cloud (colour on, decimation 1): the pre-processor node path
(numpy masking, ``geometry.backproject``, ``pack_organized_cloud``, message objects filled with
``bytes``) against the frame processor's path (torch masking and ``organised_cloud`` in
``output_stage_threads``, one host copy per output, serialized CDR messages). Both start from
the same DA2 output tensor and are timed interleaved, so machine load hits both alike. Prints
wall p50/p95 and the calling thread's CPU time (load-independent; both paths run on that one
thread) in ms, and the ratio.

    python benchmarks/bench_frame_output.py [--repeats 200] [--threads N]
"""

import argparse
import math
import statistics
import time
from types import SimpleNamespace
from typing import Dict, List

from adaptive_depth.frame_processor import (mask_depth_, organised_cloud,
                                            output_stage_threads)
from adaptive_depth.geometry import backproject, NYU_INTRINSICS, pack_organized_cloud
from adaptive_depth.ros import cdr, conversions
import numpy as np
import torch
from tqdm import tqdm


def old_path(raw: torch.Tensor, rgb: np.ndarray, scale: float, max_depth: float,
             image_cls: type, cloud_cls: type, field_cls: type) -> None:
    """Run the node's output path before the frame processor (numpy, message objects)."""
    depth = raw.numpy() * np.float32(scale)
    with np.errstate(invalid='ignore'):
        invalid = ~np.isfinite(depth) | (depth <= 0) | (depth > max_depth)
    depth[invalid] = np.nan
    conversions.fill_message(image_cls(), conversions.depth_to_image_fields(depth))
    buf = pack_organized_cloud(backproject(depth, NYU_INTRINSICS), rgb)
    fields = conversions.cloud_to_pointcloud2_fields(buf)
    point_fields = [field_cls(name=f['name'], offset=int(f['offset']),
                              datatype=int(f['datatype']), count=int(f.get('count', 1)))
                    for f in fields.pop('fields')]
    conversions.fill_message(cloud_cls(fields=point_fields), fields)


def new_path(raw: torch.Tensor, x: torch.Tensor, scale: float, max_depth: float,
             header: object) -> None:
    """Run the frame processor's output stages and build the serialized messages."""
    with output_stage_threads(raw.device):
        depth = mask_depth_(raw.mul(scale), 0.0, max_depth)
        cloud = organised_cloud(depth, NYU_INTRINSICS, 0.0, x)
    d, c = depth.numpy(), cloud.numpy().view(np.uint8).reshape(480, -1)
    cdr.depth_image_cdr(header, d)
    cdr.pointcloud2_cdr(header, 480, 640, [('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1),
                                           ('rgb', 12, 7, 1)], 16, 16 * 640, c)


def main() -> int:
    """Run both paths interleaved and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=200)
    p.add_argument('--threads', type=int, default=0, help='torch threads (0 = default)')
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from sensor_msgs.msg import Image, PointCloud2, PointField

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    raw = torch.from_numpy(rng.uniform(0.3, 12.0, (480, 640)).astype(np.float32))
    x = torch.from_numpy(rgb)
    header = SimpleNamespace(stamp=SimpleNamespace(sec=1, nanosec=2), frame_id='camera')
    times: Dict[str, List[float]] = {'old (numpy + message objects)': [],
                                     'new (frame processor + CDR)': []}
    runs = [lambda: old_path(raw, rgb, 0.8, 10.0, Image, PointCloud2, PointField),
            lambda: new_path(raw, x, 0.8, 10.0, header)]
    for fn in runs:
        fn()
    cpu: Dict[str, List[float]] = {name: [] for name in times}
    for _ in tqdm(range(args.repeats), desc='frames', leave=False):
        for name, fn in zip(times, runs):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
            cpu[name].append((time.thread_time() - c0) * 1e3)
    print(f'640x480 with cloud (colour), {torch.get_num_threads()} torch threads, '
          f'{args.repeats} frames')
    for name, values in times.items():
        print(f'{name:<34} wall p50 {statistics.median(values):7.2f} ms  '
              f'p95 {float(np.percentile(values, 95)):7.2f} ms   this thread CPU p50 '
              f'{statistics.median(cpu[name]):7.2f} ms')
    old, new = (statistics.median(v) for v in times.values())
    ratio = [a / b for a, b in zip(*times.values()) if b > 0]
    print(f'per-frame ratio old/new: median {statistics.median(ratio):.1f}x '
          f'(p50 old {old:.2f} ms vs new {new:.2f} ms; goal: new <= 3 ms)')
    return 0 if math.isfinite(old) else 1


if __name__ == '__main__':
    raise SystemExit(main())
