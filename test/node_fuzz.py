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
Fuzzing ``adaptive_depth_node`` with malformed messages mixed with valid frames.

Malformed Image / CompressedImage / CameraInfo messages and extreme shapes go into live nodes
(used by test/test_node_bad_input.py and benchmarks/fuzz_node.py).

:class:`FuzzSession` drives two nodes, one with raw input (namespace ``raw_ns``) and one with
compressed input (``cmp_ns``), both with reliable input QoS. Each cycle publishes a burst of
malformed messages drawn at random from :func:`malformed_catalogue`, then one valid frame (a
normal one or an extreme-but-valid shape) to each node, waits for its outputs and checks them
(REP 117/118 depth, no ±inf anywhere, headers, cloud layout). The latency of every valid frame is
recorded; the stall metric is how much longer a valid frame took than the clean baseline.
"""

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import cv2
from node_harness import (diagnostic_values, make_camera_info_msg, make_image_msg, NodeProcess,
                          pick_domain_id, stamp, synthetic_rgb)
import numpy as np

FRAME = 'fuzz_optical_frame'
WIDTH, HEIGHT = 160, 120
FX, FY, CX, CY = 140.0, 150.0, 79.5, 59.5
MAX_INPUT_PIXELS = 200_000
# Valid frames of odd shapes (H, W): aspect ratio at most 4:1, within MAX_INPUT_PIXELS.
EXTREME_VALID_SHAPES = ((1, 1), (1, 4), (4, 1), (2, 8), (8, 2), (3, 3), (40, 160), (160, 40),
                        (97, 123), (200, 50))


def start_fuzz_nodes(model: str, input_size: int, fixed_scale: float,
                     log_dir: Any) -> Tuple[np.ndarray, float, List[NodeProcess], int]:
    """
    Start the raw-input (``/fz``) and compressed-input (``/fzc``) nodes that a fuzz run drives.

    Returns the depth a valid frame must produce (H×W metres, from the same processor settings),
    the ``max_depth`` the nodes run with (60th percentile of that depth, so NaN masking is
    exercised), the two node processes and their ROS domain id.
    """
    from adaptive_depth.frame_processor import FrameProcessor
    expected = FrameProcessor.from_paths(
        model, scale_source='fixed', fixed_scale=fixed_scale, device='cpu', precision='fp32',
        input_size=input_size).process(synthetic_rgb(WIDTH, HEIGHT, seed=3)).depth
    max_depth = float(np.round(np.percentile(expected[np.isfinite(expected)], 60), 3))
    params = {'model': str(model), 'device': 'cpu', 'precision': 'fp32',
              'input_size': input_size, 'scale_source': 'fixed', 'fixed_scale': fixed_scale,
              'max_depth': max_depth, 'max_input_pixels': MAX_INPUT_PIXELS,
              'input_qos_reliability': 'reliable', 'diagnostics_period': 0.5}
    domain_id = pick_domain_id()
    nodes = [NodeProcess(params, domain_id, log_dir / 'raw.log',
                         extra_ros_args=['-r', '__ns:=/fz']),
             NodeProcess(dict(params, input_transport='compressed'), domain_id,
                         log_dir / 'cmp.log', extra_ros_args=['-r', '__ns:=/fzc'])]
    return expected, max_depth, nodes, domain_id


def _png(img: np.ndarray) -> bytes:
    ok, enc = cv2.imencode('.png', img)
    assert ok
    return enc.tobytes()


def _jpeg(img: np.ndarray) -> bytes:
    ok, enc = cv2.imencode('.jpg', img)
    assert ok
    return enc.tobytes()


def malformed_catalogue(rgb: np.ndarray) -> Dict[str, List[Tuple[str, Callable[[], Any]]]]:
    """
    Return builders of malformed messages: ``{'raw'|'compressed'|'info': [(label, make)]}``.

    ``make()`` returns a fresh message (header filled in later). Every message must be refused
    by the node (counted as bad_images, rejected_images or bad_camera_info), never processed.
    """
    from sensor_msgs.msg import CompressedImage, Image

    def raw(**fields: Any) -> Callable[[], Any]:
        def make() -> Any:
            msg = make_image_msg(rgb, 0, FRAME)
            for key, value in fields.items():
                setattr(msg, key, value)
            return msg
        return make

    def sized(h: int, w: int, encoding: str = 'rgb8', ch: int = 3) -> Callable[[], Any]:
        return lambda: Image(height=h, width=w, encoding=encoding, step=w * ch,
                             data=bytes(h * w * ch))

    good = bytes(make_image_msg(rgb, 0, FRAME).data)
    raws = [
        ('0x0', lambda: Image(height=0, width=0, encoding='rgb8', step=0)),
        ('0x10', lambda: Image(height=10, width=0, encoding='rgb8', step=0)),
        ('1x4097 rgb8', sized(1, 4097)), ('4097x1 rgb8', sized(4097, 1)),
        ('1x5 mono8', sized(1, 5, 'mono8', 1)), ('600x600 mono8 > max pixels',
                                                 sized(600, 600, 'mono8', 1)),
        ('step too small', raw(step=WIDTH * 3 - 1)),
        ('step larger than data', raw(step=WIDTH * 3 + 8)),
        ('truncated data', raw(data=good[:-10])), ('extra data', raw(data=good + b'1234')),
        ('no data', raw(data=b'')),
        ('encoding 16UC1', raw(encoding='16UC1')), ('encoding 32FC1', raw(encoding='32FC1')),
        ('encoding nv21', raw(encoding='nv21')), ('encoding empty', raw(encoding='')),
        ('encoding bayer 32', raw(encoding='bayer_rggb32')),
        ('encoding 8UC3', raw(encoding='8UC3')),
        ('yuv422 odd width', sized(4, 5, 'yuv422', 2)),
        ('huge declared 100000x100000', raw(height=100000, width=100000, step=300000)),
        ('huge declared 2^31 rows', raw(height=2 ** 31, width=1, step=3)),
    ]

    bgr = np.ascontiguousarray(rgb[..., ::-1])
    png, jpeg = _png(bgr), _jpeg(bgr)
    bomb = _png(np.zeros((2500, 2500, 3), np.uint8))
    header_bomb = png[:16] + (100000).to_bytes(4, 'big') * 2 + png[24:]
    float_tiff = cv2.imencode('.tiff', np.ones((8, 8), np.float32))[1].tobytes()
    cmp_data = [
        ('empty', b''), ('garbage', b'\x00\x01 definitely not an image' * 3),
        ('truncated png', png[:len(png) // 2]), ('truncated jpeg', jpeg[:len(jpeg) // 2]),
        ('png bad crc', png[:60] + bytes([png[60] ^ 0xFF]) + png[61:]),
        ('png bad zlib', png[:-40] + b'x' * 28 + png[-12:]),
        ('jpeg extraneous bytes', jpeg[:200] + b'\xff\x00abc' + jpeg[200:]),
        ('png bomb 2500x2500', bomb), ('png header 100000x100000', header_bomb),
        ('png 1x4097', _png(np.zeros((1, 4097), np.uint8))),
        ('gif', b'GIF89a\x10\x00\x10\x00' + bytes(40)), ('bmp', b'BM' + bytes(80)),
        ('float tiff', float_tiff),
        ('pfm', b'PF\n2 2\n-1.0\n' + np.ones(12, np.float32).tobytes()),
        ('hdr', b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n' + b'\x80' * 16),
        ('exr', b'\x76\x2f\x31\x01' + bytes(100)),
        ('jpeg height 0', jpeg[:2] + b'\xff\xc0\x00\x11\x08\x00\x00\x00\x10\x03' + jpeg[12:]),
    ]
    compressed = [(label, (lambda d=data: CompressedImage(format='png', data=d)))
                  for label, data in cmp_data]
    compressed.append(('compressedDepth', lambda: CompressedImage(
        format='16UC1; compressedDepth png', data=png)))

    def info(**changes: float) -> Callable[[], Any]:
        def make() -> Any:
            values = {'width': WIDTH, 'height': HEIGHT, 'fx': FX, 'fy': FY, 'cx': CX,
                      'cy': CY}
            values.update(changes)
            msg = make_camera_info_msg(int(values['width']), int(values['height']), 0, FRAME,
                                       values['fx'], values['fy'], values['cx'], values['cy'])
            if changes.get('zero_k'):
                msg.k = [0.0] * 9
                msg.p = [0.0] * 12
            return msg
        return make

    nan, inf = float('nan'), float('inf')
    infos = [(f'camera_info {key}={value}', info(**{key: value})) for key, value in (
        ('fx', 0.0), ('fx', -1.0), ('fx', nan), ('fx', inf), ('fx', 1e-300), ('fy', 1e-300),
        ('fx', 1e300), ('cx', 1e300), ('cy', -1e300), ('cx', nan), ('width', 0), ('height', 0),
        ('zero_k', 1.0))]
    return {'raw': raws, 'compressed': compressed, 'info': infos}


class FuzzSession:
    """
    Drive a raw-input and a compressed-input node with malformed and valid messages.

    ``tester`` is a ``node_harness.RosTester``; ``expected`` is the H×W depth (metres, before the
    ``max_depth`` cut) the nodes must publish for the standard frame :attr:`rgb`.
    """

    def __init__(self, tester: Any, raw_ns: str, cmp_ns: str, max_depth: float,
                 expected: np.ndarray, seed: int = 0) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
        from geometry_msgs.msg import Vector3Stamped
        self.tester = tester
        self.rng = np.random.default_rng(seed)
        self.rgb = synthetic_rgb(WIDTH, HEIGHT, seed=3)
        self.expected = expected
        self.max_depth = max_depth
        self.catalogue = malformed_catalogue(self.rgb)
        self.ns = {'raw': raw_ns, 'compressed': cmp_ns}
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        node = tester.node
        self.pubs = {
            'raw': node.create_publisher(Image, f'{raw_ns}/image', qos),
            'compressed': node.create_publisher(CompressedImage, f'{cmp_ns}/image/compressed',
                                                qos),
            'info': [node.create_publisher(CameraInfo, f'{ns}/camera_info', qos)
                     for ns in (raw_ns, cmp_ns)]}
        self.outputs = {'depth': Image, 'depth/camera_info': CameraInfo, 'points': PointCloud2,
                        'scale': Vector3Stamped}
        for ns in (raw_ns, cmp_ns):
            for topic, kind in self.outputs.items():
                tester.subscribe(kind, f'{ns}/{topic}')
        self.next_sec = 10_000
        self.sent = {'raw': 0, 'compressed': 0, 'info': 0}
        self.latencies: Dict[str, List[float]] = {'raw': [], 'compressed': []}
        self.baseline: Dict[str, List[float]] = {'raw': [], 'compressed': []}
        self.valid_frames = 0
        self.checked_clouds = 0
        self.records: List[Tuple[float, str, Any, List[str]]] = []
        self._last_burst: List[str] = []
        self._deck: List[Tuple[str, Tuple[str, Callable[[], Any]]]] = []

    def wait_ready(self, nodes: List[Any], timeout: float = 120.0) -> None:
        """Wait until both nodes subscribe to our inputs and publish depth."""
        t = self.tester
        for node, ns in zip(nodes, (self.ns['raw'], self.ns['compressed'])):
            topic = f'{ns}/image' + ('/compressed' if ns == self.ns['compressed'] else '')
            t.wait_for(lambda: t.node.count_subscribers(topic) > 0 and
                       t.node.count_publishers(f'{ns}/depth') > 0 and
                       t.node.count_subscribers(f'{ns}/camera_info') > 0, timeout,
                       f'node {ns}', node)
        time.sleep(1.0)  # let the nodes discover our subscriptions (else frames count as idle)

    def _stamp(self) -> Tuple[int, Any]:
        self.next_sec += 1
        return self.next_sec, stamp(self.next_sec, 123)

    def _publish_info(self, msg: Any) -> None:
        for pub in self.pubs['info']:
            pub.publish(msg)
        self.sent['info'] += 1

    def send_malformed(self, count: int) -> List[str]:
        """
        Publish ``count`` malformed messages (no pause); return their labels.

        Kinds are dealt from a shuffled deck of the whole catalogue, so every kind is sent once
        before any is sent twice.
        """
        labels = []
        for _ in range(count):
            if not self._deck:   # every kind once per round, in random order
                self._deck = [(kind, entry) for kind, entries in self.catalogue.items()
                              for entry in entries]
                self.rng.shuffle(self._deck)
            kind, (label, make) = self._deck.pop()
            msg = make()
            msg.header.stamp = self._stamp()[1]
            msg.header.frame_id = FRAME
            if kind == 'info':
                self._publish_info(msg)
            else:
                self.pubs[kind].publish(msg)
                self.sent[kind] += 1
            labels.append(label)
        self._last_burst = labels
        return labels

    def _valid_image(self, shape: Optional[Tuple[int, int]]) -> np.ndarray:
        if shape is None:
            return self.rgb
        return synthetic_rgb(shape[1], shape[0], seed=int(self.rng.integers(1000)))

    def send_valid(self, shape: Optional[Tuple[int, int]] = None, baseline: bool = False,
                   timeout: float = 30.0, node: Any = None) -> Dict[str, float]:
        """
        Publish one valid frame to each node (None = the standard frame); check its outputs.

        Returns the latency (s) from publishing to the last output, per node kind.
        """
        from sensor_msgs.msg import CompressedImage
        sec, st = self._stamp()
        rgb = self._valid_image(shape)
        info = make_camera_info_msg(WIDTH, HEIGHT, sec, FRAME, FX, FY, CX, CY)
        info.header.stamp = st
        self._publish_info(info)
        raw = make_image_msg(rgb, sec, FRAME)
        raw.header.stamp = st
        use_jpeg = shape is not None and bool(self.rng.integers(2))
        cmp = CompressedImage(format='jpeg' if use_jpeg else 'png',
                              data=(_jpeg if use_jpeg else _png)(
                                  np.ascontiguousarray(rgb[..., ::-1])))
        cmp.header.stamp = st
        cmp.header.frame_id = FRAME
        t0 = time.monotonic()
        self.pubs['raw'].publish(raw)
        self.pubs['compressed'].publish(cmp)
        self.sent['raw'] += 1
        self.sent['compressed'] += 1
        result = {}
        for kind in ('raw', 'compressed'):
            out = self._wait_outputs(kind, st, timeout, node)
            result[kind] = max(t for t, _ in out.values()) - t0
            self._check(kind, {k: m for k, (_, m) in out.items()}, rgb, st,
                        exact=shape is None)
            (self.baseline if baseline else self.latencies)[kind].append(result[kind])
            self.records.append((result[kind], kind, shape, self._last_burst))
        self.valid_frames += 1
        self._forget_outputs()
        return result

    def _wait_outputs(self, kind: str, st: Any, timeout: float,
                      node: Any) -> Dict[str, Tuple[float, Any]]:
        ns = self.ns[kind]
        t = self.tester

        def find() -> Optional[Dict[str, Tuple[float, Any]]]:
            found = {}
            with t.lock:
                for topic in self.outputs:
                    for arrival, msg in t.received.get(f'{ns}/{topic}', []):
                        if msg.header.stamp == st:
                            found[topic] = (arrival, msg)
                            break
            return found if len(found) == len(self.outputs) else None
        return t.wait_for(find, timeout, f'all outputs of {kind} frame {st.sec}', node)

    def _forget_outputs(self) -> None:
        with self.tester.lock:
            for ns in self.ns.values():
                for topic in self.outputs:
                    self.tester.received[f'{ns}/{topic}'] = []

    def _check(self, kind: str, out: Dict[str, Any], rgb: np.ndarray, st: Any,
               exact: bool) -> None:
        h, w = rgb.shape[:2]
        for topic, msg in out.items():
            assert msg.header.stamp == st and msg.header.frame_id == FRAME, (kind, topic)
        depth_msg = out['depth']
        assert depth_msg.encoding == '32FC1' and (depth_msg.height, depth_msg.width) == (h, w)
        assert depth_msg.step == 4 * w and depth_msg.is_bigendian == 0
        depth = np.frombuffer(bytes(depth_msg.data), '<f4').reshape(h, w)
        assert not np.isinf(depth).any(), f'{kind}: inf in depth'
        finite = np.isfinite(depth)
        assert np.all(depth[finite] > 0) and np.all(depth[finite] <= self.max_depth)
        if exact:
            expected = np.where(self.expected > self.max_depth, np.nan, self.expected)
            with np.errstate(invalid='ignore'):
                clear = ~(np.abs(self.expected - self.max_depth) <= 1e-3)
            np.testing.assert_array_equal(np.isnan(depth)[clear], np.isnan(expected)[clear])
            np.testing.assert_allclose(depth[finite & clear], expected[finite & clear],
                                       rtol=1e-4, atol=1e-5)
        info = out['depth/camera_info']
        assert (info.width, info.height) == (w, h)
        k = np.reshape(info.k, (3, 3))
        assert np.isfinite(k).all() and k[0, 0] > 0 and k[1, 1] > 0
        cloud = out['points']
        assert (cloud.height, cloud.width) == (h, w) and cloud.point_step == 16
        assert cloud.row_step == 16 * w and not cloud.is_dense and not cloud.is_bigendian
        assert [f.name for f in cloud.fields][:3] == ['x', 'y', 'z']
        pts = np.frombuffer(bytes(cloud.data), '<f4').reshape(h, w, 4)[..., :3]
        assert not np.isinf(pts).any(), f'{kind}: inf in the point cloud'
        np.testing.assert_array_equal(np.isnan(pts[..., 2]), ~finite)
        np.testing.assert_allclose(pts[..., 2][finite], depth[finite], rtol=1e-6)
        self.checked_clouds += 1
        scale = out['scale']
        assert np.isfinite(scale.vector.x) and scale.vector.x > 0

    def cycle(self, burst: int, timeout: float = 30.0, node: Any = None) -> List[str]:
        """One fuzz cycle: ``burst`` malformed messages, then one valid frame per node."""
        labels = self.send_malformed(burst)
        shape = None
        if self.rng.random() < 0.3:
            shape = EXTREME_VALID_SHAPES[int(self.rng.integers(len(EXTREME_VALID_SHAPES)))]
        self.send_valid(shape, timeout=timeout, node=node)
        return labels

    def node_latency_max_ms(self, kind: str, start: float, end: float = float('inf')) -> float:
        """
        Return the node-side max latency (ms, receipt → published) over diagnostics windows.

        Uses ``latency_total_since_receipt_ms_max`` of the ``kind`` node's diagnostics that
        arrived between ``start`` and ``end`` (``time.monotonic()``): the time from the image
        callback to the end of publishing, including any wait for the worker. Unlike the
        end-to-end latency it excludes DDS transport (e.g. a reliable retransmission).
        """
        prefix = f'{self.ns[kind]}/adaptive_depth_node:'
        with self.tester.lock:
            messages = [m for t, m in self.tester.received.get('/diagnostics', [])
                        if start <= t <= end]
        worst = float('nan')
        for msg in messages:
            values = diagnostic_values(msg, prefix)
            if values and 'latency_total_since_receipt_ms_max' in values:
                value = float(values['latency_total_since_receipt_ms_max'])
                worst = value if not worst >= value else worst
        return worst

    def slowest(self, n: int = 3) -> List[Tuple[float, str, Any, List[str]]]:
        """Return the ``n`` slowest valid frames: (latency s, node kind, shape, burst before)."""
        return sorted(self.records, key=lambda r: -r[0])[:n]

    def stall_report(self) -> Dict[str, Dict[str, float]]:
        """
        Per node kind: baseline (clean) latency median/max and the fuzzed frames' latencies (s).

        ``stall_s`` = max fuzzed latency − max clean latency: how long a valid frame waited
        beyond a normal one (the goal is at most one normal frame time).
        """
        report = {}
        for kind in ('raw', 'compressed'):
            base, lat = self.baseline[kind], self.latencies[kind]
            report[kind] = {
                'baseline_median_s': float(np.median(base)), 'baseline_max_s': float(max(base)),
                'fuzzed_median_s': float(np.median(lat)) if lat else float('nan'),
                'fuzzed_p95_s': float(np.percentile(lat, 95)) if lat else float('nan'),
                'fuzzed_max_s': float(max(lat)) if lat else float('nan'),
                'stall_s': float(max(lat) - max(base)) if lat else float('nan')}
        return report
