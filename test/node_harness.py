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
Helpers for tests that run ``adaptive_depth_node`` as a subprocess in a real ROS 2 graph.

Every test module picks its own ROS domain id and restricts discovery to localhost, both in the
test process (before ``rclpy.init``) and in the node subprocesses, so concurrent test runs on the
same machine never see each other.
"""

import os
from pathlib import Path
import random
import signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from adaptive_depth.ros.node_process import node_command  # noqa: F401 - used by the tests
from adaptive_depth.ros.node_process import node_env, NodeProcess as _NodeProcess
from adaptive_depth.ros.spinning import SpinningNode
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE = REPO_ROOT / 'config' / 'adaptive_depth.yaml'


def pick_domain_id() -> int:
    """Return a random ROS domain id in 100–200 (valid with Fast DDS on localhost)."""
    return random.SystemRandom().randint(100, 200)


def ros_env(domain_id: int) -> Dict[str, str]:
    """Return a copy of the environment for a node subprocess on ``domain_id``."""
    return node_env(domain_id, extra={'OMP_NUM_THREADS': '1'})


class NodeProcess(_NodeProcess):
    """The node as users start it (with config/adaptive_depth.yaml), for the tests."""

    def __init__(self, parameters: Dict[str, Any], domain_id: int, log_path: Path,
                 extra_ros_args: Sequence[str] = (), managed: bool = False) -> None:
        super().__init__(parameters, domain_id, log_path, params_file=CONFIG_FILE,
                         ros_args=extra_ros_args, env=ros_env(domain_id), cwd=REPO_ROOT,
                         managed=managed)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` (SIGTERM by default) and wait; return the exit code."""
        return super().stop(sig, timeout)


class RosTester(SpinningNode):
    """An ``rclpy`` node in its own context that spins in a background thread."""

    def __init__(self, domain_id: int, name: str = 'adaptive_depth_tester') -> None:
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        os.environ['ROS_DOMAIN_ID'] = str(domain_id)
        super().__init__(name, domain_id=domain_id, spin_timeout=0.05)
        self.lock = threading.Lock()
        self.received: Dict[str, List[Tuple[float, Any]]] = {}

    def subscribe(self, msg_type: Any, topic: str, reliable: bool = True) -> None:
        """Record every message on ``topic`` into ``received[topic]`` with its arrival time."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        self.received.setdefault(topic, [])

        def _callback(msg: Any) -> None:
            with self.lock:
                self.received[topic].append((time.monotonic(), msg))
        self.node.create_subscription(msg_type, topic, _callback, qos)

    def messages(self, topic: str) -> List[Any]:
        """Return a snapshot of the messages received on ``topic``."""
        with self.lock:
            return [msg for _, msg in self.received.get(topic, [])]

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str,
                 node: Optional[NodeProcess] = None) -> Any:
        """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if node is not None and node.proc.poll() is not None:
                raise AssertionError(f'node exited ({node.proc.returncode}) while waiting for '
                                     f'{what}:\n{node.log()}')
            time.sleep(0.02)
        log = f'\nnode log:\n{node.log()}' if node is not None else ''
        raise AssertionError(f'timed out after {timeout} s waiting for {what}{log}')


def synthetic_rgb(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """Return a deterministic H×W×3 uint8 test image with structure (gradients and blocks)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([255 * u / max(width - 1, 1), 255 * v / max(height - 1, 1),
                    128 + 100 * np.sin(u / 7.0) * np.cos(v / 5.0)], axis=-1)
    blocks = rng.integers(0, 80, size=(height // 20 + 1, width // 20 + 1, 3))
    img = img + np.kron(blocks, np.ones((20, 20, 1)))[:height, :width]
    return np.clip(img, 0, 255).astype(np.uint8)


def stamp(sec: int, nanosec: int = 0) -> Any:
    """Return a ``builtin_interfaces/Time``."""
    from builtin_interfaces.msg import Time
    return Time(sec=sec, nanosec=nanosec)


def make_image_msg(rgb: np.ndarray, sec: int, frame_id: str, encoding: str = 'rgb8',
                   pad: int = 0) -> Any:
    """Build a ``sensor_msgs/Image`` from an H×W×3 RGB array in ``encoding`` with row padding."""
    from sensor_msgs.msg import Image
    if encoding == 'rgb8':
        pix = rgb
    elif encoding == 'bgr8':
        pix = rgb[..., ::-1]
    elif encoding == 'rgba8':
        pix = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    elif encoding == 'mono8':
        pix = rgb[..., :1]
    else:
        raise ValueError(encoding)
    h, w, c = pix.shape
    rows = np.zeros((h, w * c + pad), np.uint8)
    rows[:, :w * c] = pix.reshape(h, w * c)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=w * c + pad)
    msg.header.stamp = stamp(sec)
    msg.header.frame_id = frame_id
    msg.data = rows.tobytes()
    return msg


def make_camera_info_msg(width: int, height: int, sec: int, frame_id: str, fx: float,
                         fy: float, cx: float, cy: float) -> Any:
    """Build a ``sensor_msgs/CameraInfo`` (plumb_bob, zero distortion)."""
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    msg.header.stamp = stamp(sec)
    msg.header.frame_id = frame_id
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def diagnostic_values(msg: Any, prefix: str = '/adaptive_depth_node:') -> Optional[Dict]:
    """Return the key → value dict of the status whose name starts with ``prefix``, or None."""
    for status in msg.status:
        if status.name.startswith(prefix):
            values = {kv.key: kv.value for kv in status.values}
            values['_level'] = status.level
            values['_message'] = status.message
            return values
    return None


def image_to_array(msg: Any) -> np.ndarray:
    """Decode a 32FC1 ``sensor_msgs/Image`` into an H×W float32 array (honours step)."""
    assert msg.encoding == '32FC1'
    raw = np.frombuffer(bytes(msg.data), dtype='<f4' if not msg.is_bigendian else '>f4')
    rows = raw.reshape(msg.height, msg.step // 4)
    return rows[:, :msg.width].astype(np.float32)
