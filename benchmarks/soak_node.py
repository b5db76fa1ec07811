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
Soak test of ``adaptive_depth_node``: N minutes of synthetic 30 Hz input in a real ROS 2 graph.

Starts the node as a subprocess (console script if installed, else ``python -m``) on a private
ROS domain restricted to localhost, publishes synthetic RGB frames + camera_info at ``--rate`` Hz
stamped with the wall clock, and reports the node's RSS growth (``/proc/<pid>/status``), the
output rate, the frames the node dropped (from ``/diagnostics``) and the latency percentiles
from header stamp to receipt of the depth image. Example::

    python benchmarks/soak_node.py --minutes 1 --json soak.json
"""

import argparse
import json
import os
from pathlib import Path
import random
import signal
import sys
import tempfile
import time
from typing import Dict, List, Optional

from adaptive_depth.ros.node_process import node_env, NodeProcess
import numpy as np
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]


def read_rss_kib(pid: int) -> Optional[int]:
    """Return the resident set size of ``pid`` in KiB (VmRSS), or None if it is gone."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def synthetic_frames(width: int, height: int, count: int = 8) -> List[np.ndarray]:
    """Return ``count`` different H×W×3 uint8 frames (a moving gradient pattern)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        phase = i * 0.7
        img = np.stack([127 + 120 * np.sin(u / 23.0 + phase), 127 + 120 * np.cos(v / 17.0),
                        255 * (u + v) / (width + height)], axis=-1)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def percentiles(values: List[float]) -> Dict[str, float]:
    """Return p50/p95/p99/max of ``values`` (NaN when empty)."""
    if not values:
        return {k: float('nan') for k in ('p50', 'p95', 'p99', 'max')}
    arr = np.asarray(values)
    return {'p50': float(np.percentile(arr, 50)), 'p95': float(np.percentile(arr, 95)),
            'p99': float(np.percentile(arr, 99)), 'max': float(arr.max())}


def run(args: argparse.Namespace) -> Dict[str, object]:
    """Run the soak test and return the report."""
    domain_id = random.SystemRandom().randint(100, 200)
    os.environ['ROS_DOMAIN_ID'] = str(domain_id)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    workdir = Path(tempfile.mkdtemp(prefix='adaptive_depth_soak_'))
    model = args.model
    if model is None:
        from adaptive_depth.testing import make_untrained_depth_anything
        model = str(make_untrained_depth_anything(workdir / 'da2', size=args.model_size))
    params = {'model': model, 'device': args.device, 'scale_source': 'fixed',
              'fixed_scale': 0.8, 'input_size': args.input_size,
              'point_decimation': args.point_decimation}
    env = node_env(domain_id, extra={
        'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', str(args.threads))})
    log_path = workdir / 'node.log'
    proc = NodeProcess(params, domain_id, log_path,
                       params_file=REPO_ROOT / 'config' / 'adaptive_depth.yaml', env=env)

    rclpy.init()
    node = rclpy.create_node('adaptive_depth_soak')
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, 'image', qos)
    info_pub = node.create_publisher(CameraInfo, 'camera_info', qos)
    latencies: List[float] = []
    arrivals: List[float] = []
    diag: Dict[str, str] = {}

    def on_depth(msg: Image) -> None:
        now = time.time()
        sent = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        latencies.append((now - sent) * 1e3)
        arrivals.append(now)

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith('/adaptive_depth_node'):
                diag.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(Image, 'depth', on_depth, qos)
    clouds = [0]
    node.create_subscription(PointCloud2, 'points',
                             lambda msg: clouds.__setitem__(0, clouds[0] + 1), qos)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)

    frames = synthetic_frames(args.width, args.height)
    fx = 0.9 * args.width
    sent = [0]

    def publish() -> None:
        stamp = node.get_clock().now().to_msg()
        rgb = frames[sent[0] % len(frames)]
        img = Image(height=args.height, width=args.width, encoding='rgb8', is_bigendian=0,
                    step=3 * args.width)
        img.header.stamp = stamp
        img.header.frame_id = 'camera_optical_frame'
        img.data = rgb.tobytes()
        info = CameraInfo(width=args.width, height=args.height, distortion_model='plumb_bob')
        info.header = img.header
        info.k = [fx, 0.0, args.width / 2.0, 0.0, fx, args.height / 2.0, 0.0, 0.0, 1.0]
        info_pub.publish(info)
        image_pub.publish(img)
        sent[0] += 1

    try:
        deadline = time.monotonic() + args.startup_timeout
        while image_pub.get_subscription_count() == 0 or node.count_publishers('depth') == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'node did not come up:\n{log_path.read_text()}')
            rclpy.spin_once(node, timeout_sec=0.1)
        node.create_timer(1.0 / args.rate, publish)
        # Warm-up: wait for the first outputs before measuring memory.
        warm_end = time.monotonic() + args.warmup
        while time.monotonic() < warm_end:
            rclpy.spin_once(node, timeout_sec=0.05)
        latencies.clear()
        arrivals.clear()
        sent_start = sent[0]
        dropped_start = int(diag.get('dropped_total', 0))
        rss_start = read_rss_kib(proc.pid)
        rss_samples = [rss_start]
        start = time.monotonic()
        duration = args.minutes * 60.0
        with tqdm(total=int(duration), unit='s', desc='soak') as bar:
            last_tick = start
            while time.monotonic() - start < duration:
                rclpy.spin_once(node, timeout_sec=0.02)
                if time.monotonic() - last_tick >= 1.0:
                    last_tick += 1.0
                    rss_samples.append(read_rss_kib(proc.pid))
                    bar.update(1)
                    bar.set_postfix(out=len(arrivals), rss_mib=rss_samples[-1] // 1024)
                if proc.poll() is not None:
                    raise RuntimeError(f'node died:\n{log_path.read_text()}')
        elapsed = time.monotonic() - start
        end_spin = time.monotonic() + 1.5  # one more diagnostics period
        while time.monotonic() < end_spin:
            rclpy.spin_once(node, timeout_sec=0.05)
        rss_end = read_rss_kib(proc.pid)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.stop(signal.SIGTERM, timeout=30)

    samples = [s for s in rss_samples if s is not None]
    half = len(samples) // 2
    report = {
        'minutes': args.minutes, 'input_rate_hz_target': args.rate,
        'input_rate_hz': (sent[0] - sent_start) / elapsed,
        'output_rate_hz': len(arrivals) / elapsed,
        'frames_sent': sent[0] - sent_start, 'frames_out': len(arrivals),
        'clouds_out_total': clouds[0],
        'dropped_by_node': int(diag.get('dropped_total', 0)) - dropped_start,
        'latency_ms': percentiles(latencies),
        'rss_mib_start': rss_start / 1024 if rss_start else None,
        'rss_mib_end': rss_end / 1024 if rss_end else None,
        'rss_growth_mib': (rss_end - rss_start) / 1024 if rss_start and rss_end else None,
        'rss_growth_second_half_mib': (samples[-1] - samples[half]) / 1024 if samples else None,
        'node_exit_code': proc.proc.returncode,
        'image_size': f'{args.width}x{args.height}', 'input_size': args.input_size,
        'model': args.model or f'untrained {args.model_size} DA2',
        'last_diagnostics': diag,
    }
    return report


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run the soak test and print (and optionally save) the report."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('minutes', nargs='?', type=float, default=5.0,
                        help='measured duration in minutes (default 5)')
    parser.add_argument('--rate', type=float, default=30.0, help='input rate in Hz')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--input-size', type=int, default=518, help='DA2 input size')
    parser.add_argument('--point-decimation', type=int, default=2)
    parser.add_argument('--model', default=None,
                        help='DA2 model dir/hub id (default: a random-weight tiny model)')
    parser.add_argument('--model-size', default='tiny', choices=('tiny', 'small'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=1, help='OMP_NUM_THREADS of the node')
    parser.add_argument('--warmup', type=float, default=10.0, help='seconds before measuring')
    parser.add_argument('--startup-timeout', type=float, default=180.0)
    parser.add_argument('--json', type=Path, default=None, help='also write the report here')
    args = parser.parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + '\n')
    return 0 if report['node_exit_code'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
