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
The node's camera model in a real ROS 2 graph: lens distortion and rectified input.

Two node subprocesses: ``/raw`` (``input_rectified: false``, the default) reads k and d of
camera_info and its cloud follows the lens; ``/rect`` (``input_rectified: true``) reads p and
ignores d, as depth_image_proc does. Both get the same image and the same camera_info, whose k,
p and d all differ from a plain pinhole camera, so each reading gives other points. A third,
``/floor``, takes its scale from the floor (``scale_source: ground_plane``), which it fits along
the same lens rays, its mount calibrated from the first floor.
"""

import signal

from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.geometry import Intrinsics
from adaptive_depth.ground_plane import pitch_roll
from adaptive_depth.lens import make_distortion
from adaptive_depth.scale_net import save_scale_net, ScaleNet, ScaleNetConfig
from adaptive_depth.synthetic import render_scene
from node_harness import (diagnostic_values, make_camera_info_msg, make_image_msg, NodeProcess,
                          pick_domain_id, RosTester, synthetic_rgb)
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.ros

WIDTH, HEIGHT = 96, 72
INPUT_SIZE = 70
FRAME = 'lens_optical_frame'
K = Intrinsics(80.0, 82.0, 47.0, 35.5, WIDTH, HEIGHT)          # the raw camera
P = Intrinsics(70.0, 71.0, 49.0, 36.0, WIDTH, HEIGHT)          # its rectified projection
D = [-0.3, 0.1, 0.002, -0.001, 0.0]
LENS = make_distortion('plumb_bob', D)
NAMESPACES = ('/raw', '/rect', '/floor', '/fused')
FLOOR = {'scale_source': 'ground_plane', 'camera_height': 0.5, 'camera_pitch': 10.0,
         'floor_max_tilt': 20.0, 'floor_calibration': 1}


def _scale_network(directory):
    """Return a small scale-network checkpoint whose log s depends on the image."""
    torch.manual_seed(3)
    cfg = ScaleNetConfig(input_size=(32, 32), channels=(4, 4, 8, 8), fc=(8,))
    model = ScaleNet(cfg)
    with torch.no_grad():
        model.head[-1].weight.mul_(300.0)  # about 0.1 apart in ln s on the two rooms
        model.head[-1].bias.fill_(-0.5)
    return str(save_scale_net(directory, model, cfg))


def _camera_info(sec, model='plumb_bob', d=D):
    msg = make_camera_info_msg(WIDTH, HEIGHT, sec, FRAME, K.fx, K.fy, K.cx, K.cy)
    msg.p = [P.fx, 0.0, P.cx, 0.0, 0.0, P.fy, P.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.distortion_model = model
    msg.d = list(d)
    return msg


def _points(msg):
    data = np.frombuffer(bytes(msg.data), dtype='<f4').reshape(msg.height, msg.width, -1)
    return data[..., :3]


class LensGraph:
    """The three nodes, a tester and the in-process reference processor."""

    def __init__(self, root, model_dir):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        self.rgb = synthetic_rgb(WIDTH, HEIGHT, seed=4)
        common = {'model': str(model_dir), 'device': 'cpu', 'precision': 'fp32',
                  'input_size': INPUT_SIZE, 'scale_source': 'fixed', 'fixed_scale': 0.5,
                  'colorize_points': False, 'diagnostics_period': 0.5}
        self.reference = FrameProcessor.from_paths(
            str(model_dir), scale_source='fixed', fixed_scale=0.5, device='cpu',
            precision='fp32', input_size=INPUT_SIZE, colorize_points=False)
        domain = pick_domain_id()
        self.checkpoint = _scale_network(root / 'scale_net')
        overrides = {'/raw': {}, '/rect': {'input_rectified': True}, '/floor': FLOOR,
                     '/fused': dict(FLOOR, scale_checkpoint=self.checkpoint)}
        self.nodes = [NodeProcess(dict(common, **overrides[ns]), domain, root / f'{ns[1:]}.log',
                                  extra_ros_args=['-r', f'__ns:={ns}'])
                      for ns in NAMESPACES]
        self.tester = t = RosTester(domain)
        t.subscribe(DiagnosticArray, '/diagnostics')
        self.pubs = {}
        for ns in NAMESPACES:
            t.subscribe(PointCloud2, f'{ns}/points')
            t.subscribe(CameraInfo, f'{ns}/depth/camera_info')
            t.subscribe(Vector3Stamped, f'{ns}/scale')
            self.pubs[ns] = (t.node.create_publisher(Image, f'{ns}/image', 10),
                             t.node.create_publisher(CameraInfo, f'{ns}/camera_info', 10))
        for ns, node in zip(NAMESPACES, self.nodes):
            t.wait_for(lambda: t.node.count_subscribers(f'{ns}/image') > 0 and
                       t.node.count_publishers(f'{ns}/points') > 0, 120, f'node {ns}', node)
        t.wait_for(lambda: all(self.diag(ns, lambda v: True) for ns in NAMESPACES), 30,
                   'diagnostics of every node')

    def send(self, ns, sec, info, rgb=None):
        image_pub, info_pub = self.pubs[ns]
        info_pub.publish(info)
        image_pub.publish(make_image_msg(self.rgb if rgb is None else rgb, sec, FRAME))

    def output(self, topic, sec, node, timeout=30.0):
        def find():
            return next((m for m in self.tester.messages(topic) if m.header.stamp.sec == sec),
                        None)
        return self.tester.wait_for(find, timeout, f'{topic} at {sec}', node)

    def diag(self, ns, predicate):
        for msg in reversed(self.tester.messages('/diagnostics')):
            values = diagnostic_values(msg, f'{ns}/adaptive_depth_node:')
            if values is not None and predicate(values):
                return values
        return None

    def close(self):
        self.tester.close()
        for node in self.nodes:
            node.send_signal(signal.SIGTERM)
        codes = [node.stop() for node in self.nodes]
        assert codes == [0] * len(self.nodes), \
            f'exit codes {codes}\n' + '\n'.join(n.log() for n in self.nodes)


@pytest.fixture(scope='module')
def lens_graph(tmp_path_factory, tiny_da2_dir):
    g = LensGraph(tmp_path_factory.mktemp('node_lens'), tiny_da2_dir)
    yield g
    g.close()


def _sent_until_points(g, ns, first_sec, info_for, rgb=None):
    """Publish camera_info + image until a cloud comes back (the first may race the info)."""
    node = g.nodes[NAMESPACES.index(ns)]
    for sec in range(first_sec, first_sec + 10):
        g.send(ns, sec, info_for(sec), rgb)
        try:
            return sec, g.output(f'{ns}/points', sec, node, timeout=5.0)
        except AssertionError:
            continue
    raise AssertionError(f'no cloud from {ns}\n{node.log()}')


def test_raw_input_cloud_follows_the_lens_of_camera_info(lens_graph):
    g = lens_graph
    sec, cloud = _sent_until_points(g, '/raw', 100, _camera_info)
    expected = g.reference.process(g.rgb, K, distortion=LENS).points
    pinhole = g.reference.process(g.rgb, K).points
    got = _points(cloud)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.nanmax(np.abs(expected - pinhole)) > 0.01  # the lens really moves the points
    info = g.output('/raw/depth/camera_info', sec, g.nodes[0])
    assert info.distortion_model == 'plumb_bob' and list(info.d) == pytest.approx(D)
    assert list(info.k) == pytest.approx(K.matrix.ravel().tolist())
    values = g.tester.wait_for(lambda: g.diag('/raw', lambda v: v['lens'].startswith('plumb')),
                               10, 'lens in the diagnostics', g.nodes[0])
    assert values['lens'] == 'plumb_bob(-0.3, 0.1, 0.002, -0.001, 0)'


def test_rectified_input_uses_p_and_no_distortion(lens_graph):
    g = lens_graph
    sec, cloud = _sent_until_points(g, '/rect', 200, _camera_info)
    expected = g.reference.process(g.rgb, P).points
    np.testing.assert_allclose(_points(cloud), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    info = g.output('/rect/depth/camera_info', sec, g.nodes[1])
    assert not any(info.d) and list(info.k) == pytest.approx(P.matrix.ravel().tolist())
    assert g.diag('/rect', lambda v: v['lens'] == 'rectified') is not None


def test_unsupported_lens_model_warns_and_falls_back_to_pinhole(lens_graph):
    g = lens_graph
    node = g.nodes[0]
    image_pub, info_pub = g.pubs['/raw']
    reason = "'kannala_brandt' is not supported"

    def warned():
        info_pub.publish(_camera_info(300, 'kannala_brandt', [0.1, 0.0, 0.0, 0.0]))
        return next((ln for ln in node.log().splitlines() if reason in ln), None)
    # the warning is logged when the camera_info arrives: from then on it is the cached one
    line = g.tester.wait_for(warned, 20, 'the unsupported-lens warning', node)
    assert line.startswith('[WARN]') and 'pinhole model' in line, line
    image_pub.publish(make_image_msg(g.rgb, 301, FRAME))
    cloud = g.output('/raw/points', 301, node)
    np.testing.assert_allclose(_points(cloud), g.reference.process(g.rgb, K).points,
                               rtol=1e-5, atol=1e-6, equal_nan=True)
    info = g.output('/raw/depth/camera_info', 301, node)  # says what was applied: no lens
    assert info.distortion_model == 'plumb_bob' and not any(info.d), info
    assert g.tester.wait_for(lambda: g.diag('/raw', lambda v: v['lens'] == 'pinhole'), 10,
                             'lens pinhole in the diagnostics', node)


def test_binned_camera_info_describes_the_published_image(lens_graph):
    """A camera that bins 2×2 publishes k/p of the full sensor with binning_x/y = 2."""
    g = lens_graph
    node = g.nodes[1]
    full = Intrinsics(2 * P.fx, 2 * P.fy, 2 * P.cx + 0.5, 2 * P.cy + 0.5, 2 * WIDTH, 2 * HEIGHT)

    def binned(sec):
        msg = make_camera_info_msg(full.width, full.height, sec, FRAME, full.fx, full.fy,
                                   full.cx, full.cy)
        msg.binning_x = msg.binning_y = 2
        return msg
    before = node.log().count('scaling the intrinsics')
    sec, cloud = _sent_until_points(g, '/rect', 400, binned)
    expected_intr = Intrinsics(P.fx, P.fy, P.cx + 0.25, P.cy + 0.25, WIDTH, HEIGHT)
    np.testing.assert_allclose(_points(cloud), g.reference.process(g.rgb, expected_intr).points,
                               rtol=1e-5, atol=1e-6, equal_nan=True)
    info = g.output('/rect/depth/camera_info', sec, node)
    assert (info.width, info.height, info.binning_x) == (WIDTH, HEIGHT, 0)
    assert list(info.k) == pytest.approx(expected_intr.matrix.ravel().tolist())
    assert node.log().count('scaling the intrinsics') == before  # matched, not rescaled


def test_ground_plane_node_scales_like_the_python_api_along_the_lens(lens_graph, tiny_da2_dir):
    """The floor's scale, then a floorless frame that holds it: node and Python API agree."""
    g = lens_graph
    node = g.nodes[NAMESPACES.index('/floor')]
    reference = FrameProcessor.from_paths(
        str(tiny_da2_dir), device='cpu', precision='fp32', input_size=INPUT_SIZE,
        colorize_points=False, fixed_scale=0.5, **FLOOR)
    # the untrained DA2's depth of these two rooms: a plane the fit accepts, and none
    with_floor, without = (render_scene(seed, WIDTH, HEIGHT).rgb for seed in (3, 0))
    sec, cloud = _sent_until_points(g, '/floor', 500, _camera_info, with_floor)
    found = reference.process(with_floor, K, distortion=LENS)
    plane = reference.scale_source.last_plane
    assert plane is not None and found.scale == pytest.approx(0.5 / plane.height, rel=1e-9)
    assert g.output('/floor/scale', sec, node).vector.x == pytest.approx(found.scale, rel=1e-4)
    np.testing.assert_allclose(_points(cloud), found.points, rtol=1e-4, atol=1e-6,
                               equal_nan=True)
    values = g.tester.wait_for(lambda: g.diag('/floor', lambda v: 'floor' in v and
                                              v['floor'].endswith('of points')),
                               10, 'a floor in the diagnostics', node)
    assert values['scale_source'] == 'ground_plane'
    assert float(values['floor'].split(' m below')[0]) == pytest.approx(plane.height, abs=2e-3)
    pitch, roll = pitch_roll(reference.scale_source.mount)  # one floor calibrates the mount
    assert values['mount'] == (f'pitch {pitch:.2f} deg, roll {roll:.2f} deg (calibrated from 1 '
                               'floors)')
    g.tester.wait_for(lambda: 'mount calibrated from 1 floors' in node.log(), 10,
                      'the calibrated mount logged', node)

    held = reference.process(without, K, distortion=LENS)
    assert reference.scale_source.last_plane is None and held.scale == found.scale
    g.send('/floor', sec + 1, _camera_info(sec + 1), without)
    after = g.output('/floor/scale', sec + 1, node).vector.x
    assert after == pytest.approx(found.scale, rel=1e-4)
    values = g.tester.wait_for(lambda: g.diag('/floor', lambda v: v.get('floor', '').startswith(
        'not found')), 10, 'no floor in the diagnostics', node)
    assert values['floor'].endswith('frames (the last floor scale is held)'), values['floor']


def test_ground_plane_node_fills_floorless_frames_with_the_scale_network(
        lens_graph, tiny_da2_dir):
    """With scale_checkpoint, a floorless frame takes the network's scale, offset by the floor."""
    g = lens_graph
    node = g.nodes[NAMESPACES.index('/fused')]
    reference = FrameProcessor.from_paths(
        str(tiny_da2_dir), device='cpu', precision='fp32', input_size=INPUT_SIZE,
        colorize_points=False, fixed_scale=0.5, scale_checkpoint=g.checkpoint, **FLOOR)
    with_floor, without = (render_scene(seed, WIDTH, HEIGHT).rgb for seed in (3, 0))
    sec, _ = _sent_until_points(g, '/fused', 700, _camera_info, with_floor)
    found = reference.process(with_floor, K, distortion=LENS)
    assert reference.scale_source.last_plane is not None
    assert g.output('/fused/scale', sec, node).vector.x == pytest.approx(found.scale, rel=1e-4)
    filled = reference.process(without, K, distortion=LENS)
    source = reference.scale_source
    assert source.last_plane is None and not filled.scale_held
    assert filled.scale != pytest.approx(found.scale, rel=1e-2)  # not the held floor scale
    g.send('/fused', sec + 1, _camera_info(sec + 1), without)
    assert g.output('/fused/scale', sec + 1, node).vector.x == pytest.approx(filled.scale,
                                                                             rel=1e-4)
    values = g.tester.wait_for(lambda: g.diag('/fused', lambda v: v.get('floor', '').startswith(
        'not found')), 10, 'no floor in the diagnostics', node)
    assert f'the scale network applies, offset {source.network_offset:+.3f} ln s' in \
        values['floor'], values['floor']


def test_the_floor_diagnostics_say_which_scale_fills_a_floorless_frame():
    from adaptive_depth.ros.node import _floor_label
    from adaptive_depth.scale_source import GroundPlaneScale

    held = GroundPlaneScale(0.5)
    held.frames_without_floor = 3
    assert _floor_label(held) == 'none seen in 3 frames (fixed_scale applies)'
    fused = GroundPlaneScale(0.5, network=object())
    fused.frames_without_floor = 3
    assert _floor_label(fused) == ('none seen in 3 frames (the scale network applies, no offset '
                                   'yet)')
    fused.network_offset, fused.offset_floors = -0.25, 7
    assert _floor_label(fused) == ('not found in the last 3 frames (the scale network applies, '
                                   'offset -0.250 ln s from 7 floors)')
