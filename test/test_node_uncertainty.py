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
The scale uncertainty in a real ROS 2 graph.

The ``scale/uncertainty`` topic, its diagnostics and ``scale_hold_uncertainty`` holding the
scale, with a learned 3-member ensemble (spread) and the DA2-feature head (variance) as the
scale source.
"""

import math
import signal

from adaptive_depth import da2_head as dh
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.scale_net import save_scale_net, ScaleNet, ScaleNetConfig
from node_harness import (diagnostic_values, make_image_msg, NodeProcess, pick_domain_id,
                          RosTester, synthetic_rgb)
import pytest
import torch

pytestmark = pytest.mark.ros

WIDTH, HEIGHT = 96, 72
FRAME = 'camera_optical_frame'


def _ensemble(directory):
    torch.manual_seed(5)
    cfg = ScaleNetConfig(input_size=(64, 64), channels=(8, 8, 16, 16), fc=(8,), members=3)
    model = ScaleNet(cfg)
    with torch.no_grad():   # members far apart and image-dependent: every frame is uncertain
        for member_head in model.modules():
            if isinstance(member_head, torch.nn.Linear) and member_head.out_features == 1:
                member_head.weight.mul_(50.0)
    return save_scale_net(directory, model, cfg)


def _feature_head(directory, model_dir):
    from transformers import AutoConfig

    width = 2 * AutoConfig.from_pretrained(str(model_dir)).backbone_config.hidden_size
    torch.manual_seed(6)
    head = dh.FeatureScaleHead(dh.FeatureHeadConfig(width, hidden=16))
    with torch.no_grad():   # image-dependent log s and log-variance
        head.net[-1].weight.normal_(0.0, 0.5)
        head.net[-1].bias.copy_(torch.tensor([-0.3, -1.0]))
    return dh.save_feature_head(directory, head)


@pytest.mark.parametrize('source', ['learned', 'da2_head'])
def test_uncertainty_topic_diagnostics_and_hold(tmp_path, tiny_da2_dir, source):
    checkpoint = (_ensemble(tmp_path / 'ensemble') if source == 'learned'
                  else _feature_head(tmp_path / 'head', tiny_da2_dir))
    frames = [synthetic_rgb(WIDTH, HEIGHT, seed=s) for s in (1, 2)]
    reference = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source=source,
                                          scale_checkpoint=checkpoint, device='cpu',
                                          precision='fp32', input_size=70)
    expected = [reference.process(rgb) for rgb in frames]   # no hold: each frame's own scale
    assert all(r.log_scale_std > 0.01 for r in expected)
    assert expected[0].raw_scale != pytest.approx(expected[1].raw_scale, rel=1e-3)
    hold = 0.5 * min(r.log_scale_std for r in expected)
    domain = pick_domain_id()
    node = NodeProcess({'model': str(tiny_da2_dir), 'device': 'cpu', 'precision': 'fp32',
                        'input_size': 70, 'scale_source': source,
                        'scale_checkpoint': str(checkpoint), 'scale_hold_uncertainty': hold,
                        'diagnostics_period': 0.3, 'publish_points': False},
                       domain, tmp_path / 'node.log')
    tester = RosTester(domain)
    try:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import Image
        tester.subscribe(Vector3Stamped, '/scale')
        tester.subscribe(Vector3Stamped, '/scale/uncertainty')
        tester.subscribe(DiagnosticArray, '/diagnostics')
        pub = tester.node.create_publisher(Image, '/image', 10)
        tester.wait_for(lambda: tester.node.count_subscribers('/image') > 0 and
                        tester.node.count_publishers('/scale/uncertainty') > 0, 120,
                        'the node', node)
        tester.wait_for(lambda: tester.messages('/diagnostics'), 30, 'diagnostics', node)
        got = {}
        for sec, rgb in zip((10, 11), frames):
            pub.publish(make_image_msg(rgb, sec, FRAME))

            def both(sec=sec):
                found = {t: m for t in ('/scale', '/scale/uncertainty')
                         for m in tester.messages(t) if m.header.stamp.sec == sec}
                return found if len(found) == 2 else None
            got[sec] = tester.wait_for(both, 60, f'scale and uncertainty of frame {sec}', node)
        for sec, ref in zip((10, 11), expected):
            unc = got[sec]['/scale/uncertainty']
            assert unc.header.frame_id == FRAME
            assert unc.vector.x == pytest.approx(ref.log_scale_std, rel=1e-4)
            assert unc.vector.z == pytest.approx(hold)
        # frame 10 starts the average; frame 11 is too uncertain: the scale of frame 10 is held
        first, second = got[10]['/scale'], got[11]['/scale']
        assert got[10]['/scale/uncertainty'].vector.y == 0.0
        assert got[11]['/scale/uncertainty'].vector.y == 1.0
        assert first.vector.x == pytest.approx(expected[0].raw_scale, rel=1e-4)
        assert second.vector.x == pytest.approx(first.vector.x, rel=1e-12)
        assert second.vector.z == pytest.approx(expected[1].raw_scale, rel=1e-4)  # unsmoothed
        assert math.log(second.vector.x) == pytest.approx(second.vector.y, rel=1e-9)

        def diag():
            for msg in reversed(tester.messages('/diagnostics')):
                values = diagnostic_values(msg)
                if values is not None and int(values['processed_total']) >= 2:
                    return values
            return None
        values = tester.wait_for(diag, 20, 'diagnostics after two frames', node)
        assert int(values['scale_held_total']) == 1
        assert float(values['scale_log_std']) == pytest.approx(expected[1].log_scale_std,
                                                               rel=1e-4)
        assert float(values['scale_hold_uncertainty']) == pytest.approx(hold, rel=1e-5)
    finally:
        tester.close()
        node.send_signal(signal.SIGTERM)
        assert node.stop() == 0, node.log()
