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

"""Tests of the DA2 encoder features and the scale head on them (tiny random DA2)."""

import math

from adaptive_depth import da2_head as dh
from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.ros.params import NodeParams, ParameterError
from adaptive_depth.scale_net import ScaleNetCheckpointError
import numpy as np
import pytest
import torch


@pytest.fixture(scope='module')
def runner(tiny_da2_dir):
    return DepthAnythingRunner(str(tiny_da2_dir), device='cpu', input_size=56)


def test_features_come_from_the_same_forward(runner):
    rgb = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 40, 60, 3),
                                                             dtype=np.uint8))
    calls = []
    handle = runner.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        depth, feats = runner.predict_tensor(rgb, return_features=True)
    finally:
        handle.remove()
    assert len(calls) == 1                                     # one depth forward, no second
    torch.testing.assert_close(depth, runner.predict_tensor(rgb))
    hidden = runner.model.config.backbone_config.hidden_size
    assert feats.shape == (3, 2 * hidden) and feats.dtype == torch.float32
    # CLS ‖ mean patch token of the backbone's last feature map
    x = runner.preprocess(runner.upload(rgb))
    with torch.inference_mode():
        tokens = runner.model.backbone(x).feature_maps[-1]
    torch.testing.assert_close(feats, torch.cat([tokens[:, 0], tokens[:, 1:].mean(1)], 1))
    assert not runner.model.backbone._forward_hooks              # hook removed


def test_head_trains_saves_and_loads(runner, tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (28, 42, 3), dtype=np.uint8) for _ in range(12)]
    feats = dh.extract_features(runner, images, batch_size=5)
    assert feats.shape == (12, 2 * runner.model.config.backbone_config.hidden_size)
    targets = np.linspace(-1.0, 0.3, 12)
    cfg = dh.FeatureHeadConfig(feats.shape[1], hidden=32, base_model='tiny')
    head = dh.train_feature_head(feats, targets, cfg, epochs=300, lr=3e-3)
    est = head.estimate(torch.from_numpy(feats))
    start = np.mean((targets - targets.mean()) ** 2)
    assert np.mean((est.log_scale - targets) ** 2) < 0.2 * start   # it learns (memorises)
    assert np.all(est.log_scale_std > 0)
    dh.save_feature_head(tmp_path / 'head', head)
    loaded = dh.load_feature_head(tmp_path / 'head')
    np.testing.assert_allclose(loaded.estimate(torch.from_numpy(feats)).log_scale,
                               est.log_scale, atol=1e-6)
    assert loaded.config.base_model == 'tiny'
    (tmp_path / 'head' / 'config.json').write_text('{"kind": "other"}')
    with pytest.raises(ScaleNetCheckpointError, match='not a DA2 feature-head'):
        dh.load_feature_head(tmp_path / 'head')
    with pytest.raises(ValueError, match='features'):
        head(torch.zeros(2, 3))


def _saved_head(runner, directory, bias):
    """Save a random head (image-dependent output around ``bias``) for the runner's DA2."""
    torch.manual_seed(2)
    width = 2 * runner.model.config.backbone_config.hidden_size
    head = dh.FeatureScaleHead(dh.FeatureHeadConfig(width, hidden=16, base_model='tiny'))
    with torch.no_grad():
        head.net[-1].weight.normal_(0.0, 0.05)
        head.net[-1].bias.copy_(torch.tensor([bias, -2.0]))
    return dh.save_feature_head(directory, head), head


def test_head_is_a_scale_source_of_the_processor_and_node(runner, tiny_da2_dir, tmp_path):
    """scale_source da2_head: the head's scale from the features of the one depth forward."""
    checkpoint, head = _saved_head(runner, tmp_path / 'head', math.log(0.7))
    params = NodeParams.from_mapping({'model': str(tiny_da2_dir), 'device': 'cpu',
                                      'input_size': 56, 'scale_source': 'da2_head',
                                      'scale_checkpoint': str(checkpoint), 'max_depth': 1000.0})
    proc = FrameProcessor.from_paths(**params.processor_arguments())   # as the node builds it
    assert proc.scale_source.name == 'da2_head'
    rgb = np.random.default_rng(4).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    calls = []
    handle = proc.depth_model.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        result = proc.process(rgb, return_raw=True)
    finally:
        handle.remove()
    assert len(calls) == 1                                     # no second forward
    depth, feats = runner.predict_tensor(torch.from_numpy(rgb), return_features=True)
    expected = head.estimate(feats)
    log_s = float(np.clip(expected.log_scale[0], math.log(0.1), math.log(2.0)))
    assert result.raw_scale == pytest.approx(math.exp(log_s), rel=1e-5)
    assert abs(math.log(result.scale) - math.log(0.7)) < 0.5   # around the bias, not 1
    assert result.log_scale_std == pytest.approx(float(expected.log_scale_std[0]), rel=1e-5)
    np.testing.assert_allclose(result.raw_depth, depth[0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(result.depth, result.raw_depth * np.float32(result.scale),
                               rtol=1e-6)
    # a head of another DA2 width and a missing checkpoint are clear errors
    other = dh.save_feature_head(tmp_path / 'other',
                                 dh.FeatureScaleHead(dh.FeatureHeadConfig(10, hidden=4)))
    with pytest.raises(ValueError, match='expects 10 features'):
        FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='da2_head',
                                  scale_checkpoint=other, device='cpu', input_size=56)
    with pytest.raises(ParameterError, match='da2_head'):
        NodeParams.from_mapping({'scale_source': 'da2_head'})
