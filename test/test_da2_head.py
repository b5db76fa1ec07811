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

from adaptive_depth import da2_head as dh
from adaptive_depth.depth_model import DepthAnythingRunner
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
