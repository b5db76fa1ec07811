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
How to fill and publish the node's large messages (640×480 depth, organised cloud) cheapest.

Measures, in one run, per message: filling ``msg.data`` from the numpy buffer as ``bytes``
(``tobytes()``), as a ``memoryview``, as an ``array.array``; publishing the filled message; and
building the serialized CDR bytes directly (``adaptive_depth.ros.cdr``) and publishing those.
Prints medians in ms. Needs rclpy (no subscriber: publish cost is serialization + rmw).

    python benchmarks/bench_messages.py [--repeats 50] [--width 640 --height 480]
"""

import argparse
import array
import os
import time
from typing import Callable, Dict, List

from adaptive_depth.ros import cdr
import numpy as np


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times: List[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def run(width: int, height: int, repeats: int) -> Dict[str, float]:
    """Return the median milliseconds of every variant."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    import rclpy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image, PointCloud2, PointField

    depth = np.random.default_rng(0).uniform(0.5, 5, (height, width)).astype('<f4')
    cloud = np.random.default_rng(1).integers(0, 255, (height, width * 16), dtype=np.uint8)
    fields = [('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]
    rclpy.init()
    node = rclpy.create_node('bench_messages')
    img_pub = node.create_publisher(Image, 'bench_depth', 5)
    pc_pub = node.create_publisher(PointCloud2, 'bench_points', 5)

    def image_msg(data: object) -> Image:
        msg = Image(height=height, width=width, encoding='32FC1', step=4 * width)
        msg.header.frame_id = 'camera'
        msg.data = data
        return msg

    def cloud_msg(data: object) -> PointCloud2:
        msg = PointCloud2(height=height, width=width, point_step=16, row_step=16 * width,
                          fields=[PointField(name=n, offset=o, datatype=d, count=c)
                                  for n, o, d, c in fields])
        msg.header.frame_id = 'camera'
        msg.data = data
        return msg

    flat = depth.reshape(-1).view(np.uint8)
    hdr = image_msg(b'').header
    out = {
        'depth: fill msg.data = tobytes()': _median_ms(lambda: image_msg(flat.tobytes()),
                                                       repeats),
        'depth: fill msg.data = memoryview': _median_ms(lambda: image_msg(memoryview(flat)),
                                                        max(3, repeats // 10)),
        'depth: fill msg.data = array.array': _median_ms(
            lambda: image_msg(array.array('B', flat.tobytes())), repeats),
    }
    filled = image_msg(flat.tobytes())
    out['depth: publish filled msg'] = _median_ms(lambda: img_pub.publish(filled), repeats)
    out['depth: build CDR bytes'] = _median_ms(lambda: cdr.depth_image_cdr(hdr, depth), repeats)
    raw = cdr.depth_image_cdr(hdr, depth)
    assert deserialize_message(raw, Image) == filled, 'CDR differs from the message'
    out['depth: publish CDR bytes'] = _median_ms(lambda: img_pub.publish(raw), repeats)
    cflat = cloud.reshape(-1)
    out['cloud: fill msg.data = tobytes()'] = _median_ms(lambda: cloud_msg(cflat.tobytes()),
                                                         repeats)
    cfilled = cloud_msg(cflat.tobytes())
    out['cloud: publish filled msg'] = _median_ms(lambda: pc_pub.publish(cfilled), repeats)
    out['cloud: build CDR bytes'] = _median_ms(
        lambda: cdr.pointcloud2_cdr(hdr, height, width, fields, 16, 16 * width, cloud), repeats)
    craw = cdr.pointcloud2_cdr(hdr, height, width, fields, 16, 16 * width, cloud)
    assert deserialize_message(craw, PointCloud2) == cfilled, 'cloud CDR differs'
    out['cloud: publish CDR bytes'] = _median_ms(lambda: pc_pub.publish(craw), repeats)
    node.destroy_node()
    rclpy.shutdown()
    return out


def main() -> int:
    """Parse arguments, run and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--repeats', type=int, default=50)
    args = p.parse_args()
    res = run(args.width, args.height, args.repeats)
    for name, ms in res.items():
        print(f'{name:<40} {ms:8.3f} ms')
    msg_path = (res['depth: fill msg.data = tobytes()'] + res['depth: publish filled msg'] +
                res['cloud: fill msg.data = tobytes()'] + res['cloud: publish filled msg'])
    cdr_path = (res['depth: build CDR bytes'] + res['depth: publish CDR bytes'] +
                res['cloud: build CDR bytes'] + res['cloud: publish CDR bytes'])
    print(f'depth + cloud, message objects: {msg_path:.3f} ms; serialized CDR: {cdr_path:.3f} ms '
          f'({msg_path / cdr_path:.1f}x)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
