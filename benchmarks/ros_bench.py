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
Shared pieces of the ROS 2 benchmarks (``bench_node.py``, ``bench_transport.py``).

- :func:`relay_main` (run as ``python benchmarks/ros_bench.py relay ...``): a bare rclpy node
  that answers each image with prebuilt messages of the node's output sizes (32FC1 depth,
  camera_info, an organised cloud of 16 bytes per pixel, a scale message), or only with a small
  echo. It is the transport floor: everything the real node costs beyond it is the node's own.
- :class:`Prober`: publishes 640×480 rgb8 images stamped with the wall clock and records the
  stamp → receipt latency of every answer, in lock step (one frame in flight) or at a fixed rate.
- :func:`ros_env`: the environment of every process of one measurement (own ``ROS_DOMAIN_ID``,
  localhost discovery, an optional Fast DDS profile).

The black box is only its topics (``image``, ``camera_info`` in; ``depth``, ``depth/camera_info``,
``points``, ``scale`` out), so the same prober measures the node whatever its internals are.
"""

import argparse
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from adaptive_depth.ros.spinning import SpinningNode
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILE_ENV_VARS = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')
CLOUD_POINT_STEP = 16  # x, y, z float32 + rgb float32, as the node packs it


def pick_domain_id() -> int:
    """Return a random ROS domain id in 100–200 (valid with Fast DDS on localhost)."""
    return random.SystemRandom().randint(100, 200)


def ros_env(domain_id: int, profile: Optional[Path] = None, threads: int = 1,
            extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """
    Return the environment for every process of one measurement.

    Localhost discovery on ``domain_id``; ``profile`` (a Fast DDS XML file) is set through both
    variables Fast DDS 2.x reads (``FASTRTPS_DEFAULT_PROFILES_FILE``, and the 3.x name
    ``FASTDDS_DEFAULT_PROFILES_FILE``); without it both are removed so the default applies.
    """
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED='1',
               RCUTILS_LOGGING_BUFFERED_STREAM='0', HF_HUB_OFFLINE='1',
               TRANSFORMERS_OFFLINE='1')
    for name in PROFILE_ENV_VARS:
        env.pop(name, None)
    if profile is not None:
        for name in PROFILE_ENV_VARS:
            env[name] = str(Path(profile).resolve())
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.update(extra or {})
    return env


def percentiles(values: Sequence[float]) -> Dict[str, float]:
    """Return n, p50, p95, mean and max (ms) of ``values`` (NaN when empty)."""
    if len(values) == 0:
        return {'n': 0, 'p50': float('nan'), 'p95': float('nan'), 'mean': float('nan'),
                'max': float('nan')}
    arr = np.asarray(values, dtype=np.float64)
    return {'n': int(arr.size), 'p50': float(np.percentile(arr, 50)),
            'p95': float(np.percentile(arr, 95)), 'mean': float(arr.mean()),
            'max': float(arr.max())}


class Subprocess:
    """A child process whose output goes to a log file; stopped with SIGINT, then killed."""

    def __init__(self, command: List[str], env: Dict[str, str], log_path: Path) -> None:
        self.log_path = Path(log_path)
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(command, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=str(REPO_ROOT))

    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.proc.poll() is None

    def log(self) -> str:
        """Return the process's output so far."""
        self._log.flush()
        return self.log_path.read_text(errors='replace')

    def stop(self, timeout: float = 20.0) -> Optional[int]:
        """Stop the process (SIGINT, then SIGKILL after ``timeout`` s); return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


def relay_command(width: int, height: int, mode: str, input_reliability: str,
                  namespace: str = '') -> List[str]:
    """Return the command line of a relay subprocess (see :func:`relay_main`)."""
    return [sys.executable, str(Path(__file__).resolve()), 'relay', '--width', str(width),
            '--height', str(height), '--mode', mode, '--input-reliability', input_reliability,
            '--namespace', namespace]


def relay_main(argv: Optional[List[str]] = None) -> int:
    """
    Run the bare relay until SIGINT/SIGTERM.

    ``--mode full`` answers every image with depth (H×W 32FC1), depth/camera_info, scale and,
    while ``points`` has a subscriber, an organised cloud of H×W×16 bytes, all prebuilt once and
    only re-stamped (the node's output sizes, reliable keep-last 5 like the node's defaults).
    ``--mode echo`` answers with the scale message only (to count images that arrived).
    """
    parser = argparse.ArgumentParser(prog='ros_bench.py relay')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--mode', choices=('full', 'echo'), default='full')
    parser.add_argument('--input-reliability', choices=('reliable', 'best_effort'),
                        default='reliable')
    parser.add_argument('--namespace', default='', help='node namespace (topics are relative)')
    args = parser.parse_args(argv)

    import rclpy
    from geometry_msgs.msg import Vector3Stamped
    from rclpy.qos import HistoryPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

    rclpy.init()
    node = rclpy.create_node('adaptive_depth_relay', namespace=args.namespace or None)
    out_qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE)
    in_qos = qos_profile_sensor_data if args.input_reliability == 'best_effort' else \
        QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                   reliability=ReliabilityPolicy.RELIABLE)
    w, h = args.width, args.height
    depth = Image(height=h, width=w, encoding='32FC1', is_bigendian=0, step=4 * w)
    depth.data = np.full(h * w * 4, 0x7f, np.uint8).tobytes()
    info = CameraInfo(width=w, height=h, distortion_model='plumb_bob')
    info.k = [500.0, 0.0, w / 2.0, 0.0, 500.0, h / 2.0, 0.0, 0.0, 1.0]
    cloud = PointCloud2(height=h, width=w, is_bigendian=False, point_step=CLOUD_POINT_STEP,
                        row_step=CLOUD_POINT_STEP * w, is_dense=False)
    cloud.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                    for i, n in enumerate(('x', 'y', 'z', 'rgb'))]
    cloud.data = np.zeros(h * w * CLOUD_POINT_STEP, np.uint8).tobytes()
    scale = Vector3Stamped()
    pubs = {}
    if args.mode == 'full':
        pubs['depth'] = node.create_publisher(Image, 'depth', out_qos)
        pubs['info'] = node.create_publisher(CameraInfo, 'depth/camera_info', out_qos)
        pubs['points'] = node.create_publisher(PointCloud2, 'points', out_qos)
    pubs['scale'] = node.create_publisher(Vector3Stamped, 'scale', out_qos)

    def on_image(msg: Image) -> None:
        header = msg.header
        if args.mode == 'full':
            depth.header = header
            pubs['depth'].publish(depth)
            scale.header = header
            pubs['scale'].publish(scale)
            info.header = header
            pubs['info'].publish(info)
            if pubs['points'].get_subscription_count() > 0:
                cloud.header = header
                pubs['points'].publish(cloud)
        else:
            scale.header = header
            pubs['scale'].publish(scale)

    node.create_subscription(Image, 'image', on_image, in_qos)
    node.create_subscription(CameraInfo, 'camera_info', lambda msg: None, in_qos)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def synthetic_frames(width: int, height: int, count: int = 4) -> List[np.ndarray]:
    """Return ``count`` different H×W×3 uint8 frames (gradients; content does not matter)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        img = np.stack([127 + 120 * np.sin(u / 23.0 + 0.7 * i), 127 + 120 * np.cos(v / 17.0),
                        255 * (u + v) / (width + height)], axis=-1)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


class Prober(SpinningNode):
    """
    The measuring side: publishes images + camera_info, records stamp → receipt latencies.

    Must be created after the process environment holds the measurement's ROS variables (Fast
    DDS reads its profile once per process). Answers are matched to frames by their stamp.
    """

    def __init__(self, width: int = 640, height: int = 480, reliable_input: bool = True,
                 topics: Sequence[str] = ('depth', 'points'), namespace: str = '') -> None:
        from geometry_msgs.msg import Vector3Stamped
        from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        self._types = {'depth': Image, 'points': PointCloud2, 'scale': Vector3Stamped,
                       'depth/camera_info': CameraInfo}
        self.width, self.height = width, height
        super().__init__('adaptive_depth_prober', namespace=namespace, spin_timeout=0.02,
                         start=False)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE) if reliable_input \
            else qos_profile_sensor_data
        self.image_pub = self.node.create_publisher(Image, 'image', qos)
        self.info_pub = self.node.create_publisher(CameraInfo, 'camera_info', qos)
        self._out_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.arrivals: Dict[str, Dict[int, float]] = {}
        self.subs: Dict[str, object] = {}
        for topic in topics:
            self.subscribe(topic)
        self.start()
        self.frames = synthetic_frames(width, height)
        self._image = Image(height=height, width=width, encoding='rgb8', is_bigendian=0,
                            step=3 * width)
        self._image.header.frame_id = 'camera_optical_frame'
        self._frame_data = [f.tobytes() for f in self.frames]
        self._info = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
        fx = 0.9 * width
        self._info.k = [fx, 0.0, width / 2.0, 0.0, fx, height / 2.0, 0.0, 0.0, 1.0]
        self._info.d = [0.0] * 5
        self._info.header.frame_id = 'camera_optical_frame'
        self.sent = 0

    def subscribe(self, topic: str) -> None:
        """Record the receipt time of every message on ``topic`` by its stamp (ns)."""
        self.arrivals.setdefault(topic, {})

        def on_msg(msg, topic=topic) -> None:
            now = time.time()
            key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            with self.lock:
                self.arrivals[topic][key] = now
        self.subs[topic] = self.node.create_subscription(self._types[topic], topic, on_msg,
                                                         self._out_qos)

    def unsubscribe(self, topic: str) -> None:
        """Destroy the subscription on ``topic`` (the node then stops building that output)."""
        sub = self.subs.pop(topic, None)
        if sub is not None:
            self.node.destroy_subscription(sub)

    def wait_for_peer(self, target: Optional[Any], timeout: float,
                      answer_topic: str = 'depth') -> None:
        """Wait until the target subscribes to ``image`` and publishes ``answer_topic``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.image_pub.get_subscription_count() > 0 and \
                    self.node.count_publishers(answer_topic) > 0 and \
                    all(sub.get_publisher_count() > 0 for sub in self.subs.values()):
                return
            if target is not None and target.proc.poll() is not None:
                raise RuntimeError(f'target exited ({target.proc.returncode}):\n{target.log()}')
            time.sleep(0.05)
        log = target.log() if target is not None else ''
        raise RuntimeError(f'target did not come up within {timeout} s\n{log}')

    def publish(self) -> int:
        """Publish the next frame and its camera_info stamped with the wall clock; return ns."""
        now_ns = time.time_ns()
        self._image.header.stamp.sec = now_ns // 1_000_000_000
        self._image.header.stamp.nanosec = now_ns % 1_000_000_000
        self._image.data = self._frame_data[self.sent % len(self._frame_data)]
        self._info.header.stamp = self._image.header.stamp
        self.info_pub.publish(self._info)
        self.image_pub.publish(self._image)
        self.sent += 1
        return now_ns

    def _latency_ms(self, topic: str, stamp_ns: int) -> Optional[float]:
        with self.lock:
            t = self.arrivals.get(topic, {}).get(stamp_ns)
        return None if t is None else (t - stamp_ns * 1e-9) * 1e3

    def one_frame(self, wait_topics: Sequence[str],
                  timeout: float = 30.0) -> Optional[Dict[str, float]]:
        """Send one frame; return the latency (ms) per topic, or None after ``timeout`` s."""
        stamp = self.publish()
        deadline = time.monotonic() + timeout
        while True:
            values = {t: self._latency_ms(t, stamp) for t in wait_topics}
            if all(v is not None for v in values.values()):
                return values
            if time.monotonic() > deadline:
                return None
            time.sleep(0.0002)

    def lockstep(self, count: int, wait_topics: Sequence[str], timeout: float = 30.0,
                 gap: float = 0.01, desc: str = 'frames') -> Dict[str, List[float]]:
        """
        Send ``count`` frames one at a time; wait for every topic in ``wait_topics`` each time.

        Returns per-topic latency lists (ms, stamp → receipt); a frame whose answers do not all
        come within ``timeout`` s counts as lost (``'lost'`` entry).
        """
        from tqdm import tqdm
        out: Dict[str, List[float]] = {t: [] for t in wait_topics}
        lost = 0
        for _ in tqdm(range(count), desc=desc, leave=False):
            values = self.one_frame(wait_topics, timeout)
            if values is None:
                lost += 1
            else:
                for t, v in values.items():
                    out[t].append(v)
            time.sleep(gap)
        out['lost'] = [float(lost)]
        return out

    def stream(self, rate: float, count: int, answer_topic: str,
               settle: float = 2.0) -> Dict[str, object]:
        """
        Publish ``count`` frames at ``rate`` Hz; return how many got an answer and the latency.

        Answers still arriving ``settle`` s after the last frame are counted.
        """
        from tqdm import tqdm
        stamps = []
        period = 1.0 / rate
        start = time.monotonic()
        for i in tqdm(range(count), desc=f'{rate:g} Hz', leave=False):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamps.append(self.publish())
        elapsed = time.monotonic() - start
        time.sleep(settle)
        lat = [v for v in (self._latency_ms(answer_topic, s) for s in stamps) if v is not None]
        return {'sent': len(stamps), 'answered': len(lat),
                'loss': 1.0 - len(lat) / max(len(stamps), 1),
                'rate_hz': len(stamps) / elapsed if elapsed > 0 else float('nan'),
                'latency_ms': percentiles(lat)}


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'relay':
        sys.exit(relay_main(sys.argv[2:]))
    sys.exit('usage: ros_bench.py relay [--width W --height H --mode full|echo '
             '--input-reliability reliable|best_effort]')
