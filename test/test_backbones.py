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

"""Tests of the pretrained EfficientNet-Lite backbone, the variance head and ScaleEstimate."""

from dataclasses import asdict
import json

from adaptive_depth import backbones
from adaptive_depth.recipes import recipe_config
from adaptive_depth.scale_net import (fuse_conv_bn, load_scale_net, save_scale_net, ScaleNet,
                                      ScaleNetConfig, ScalePredictor)
from adaptive_depth.training import train_scale_net, TrainConfig
import numpy as np
import pytest
import torch

SMALL = (32, 32)


def _lite_cfg(**kw):
    return ScaleNetConfig(backbone='efficientnet_lite0', input_size=SMALL, fc=(), **kw)


def test_imagenet_weights_load_with_weights_only_and_set_normalisation():
    cfg = _lite_cfg()
    assert cfg.mean == pytest.approx((127 / 255,) * 3)
    assert cfg.std == pytest.approx((128 / 255,) * 3)
    assert ScaleNetConfig().mean == pytest.approx((0.485, 0.456, 0.406))   # scratch: ImageNet
    net = ScaleNet(cfg)
    before = net.features.stem[0].weight.detach().clone()
    path = net.features.load_imagenet()
    assert path.endswith('.pth')
    state = torch.load(path, map_location='cpu', weights_only=True)
    torch.testing.assert_close(net.features.stem[0].weight, state['_conv_stem.weight'])
    assert not torch.equal(before, net.features.stem[0].weight)
    assert net.features.out_channels == 1280


class _Frames:
    """A minimal oracle-like dataset: log s* = brightness-coded, learnable."""

    def __init__(self, n=24, seed=0):
        rng = np.random.default_rng(seed)
        level = rng.uniform(0, 1, n)
        self.images = (np.ones((n, 32, 32, 3)) * (40 + 180 * level)[:, None, None, None]
                       ).astype(np.uint8)
        self.log_scales = -1.0 + level
        self.names = [f'f{i}' for i in range(n)]
        self.kept = np.ones(n, bool)
        self.meta = {'base_model': {'name': 'simulated-test', 'simulated': True}}


@pytest.fixture
def one_thread():
    """Train on one torch thread, then restore the count (later tests compare bit for bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('policy', ['frozen', 'last', 'full'])
def test_finetune_policy_controls_what_trains(tmp_path, policy, one_thread):
    cfg = TrainConfig(epochs=1, batch_size=8, val_fraction=0.0, device='cpu', input_size=SMALL,
                      optimizer='adamw', schedule='cosine', backbone_lr=1e-3,
                      init_head_bias=True, checkpoint_every=0,
                      net_options={'backbone': 'efficientnet_lite0', 'fc': (),
                                   'finetune': policy})
    ref = ScaleNet(ScaleNetConfig(backbone='efficientnet_lite0', input_size=SMALL, fc=()))
    ref.features.load_imagenet()
    result = train_scale_net(_Frames(), cfg, tmp_path / policy, progress=False)
    model, loaded_cfg = load_scale_net(result.last_dir)
    assert loaded_cfg.finetune == policy and loaded_cfg.backbone == 'efficientnet_lite0'
    stem_same = torch.equal(model.features.stem[0].weight, ref.features.stem[0].weight)
    head_same = torch.equal(model.features.head[0].weight, ref.features.head[0].weight)
    bn_same = torch.equal(model.features.stem[1].running_mean, ref.features.stem[1].running_mean)
    assert stem_same == (policy != 'full')
    assert bn_same == (policy != 'full')       # frozen BatchNorm keeps its statistics
    assert head_same == (policy == 'frozen')
    # the output started at the mean target (init_head_bias) instead of 0
    assert model.head[-1].bias[0].item() == pytest.approx(np.mean(_Frames().log_scales),
                                                          abs=0.05)


def test_checkpoint_loads_without_the_pretrained_weights_package(tmp_path, monkeypatch):
    net = ScaleNet(_lite_cfg(predict_variance=True, test_time_flip=True)).eval()
    save_scale_net(tmp_path / 'ckpt', net)
    assert json.loads((tmp_path / 'ckpt' / 'config.json').read_text())['backbone'] == \
        'efficientnet_lite0'

    def no_weights(name):
        raise AssertionError('loading a checkpoint must not read the ImageNet weights')

    monkeypatch.setattr(backbones, 'pretrained_weights_path', no_weights)
    loaded, cfg = load_scale_net(tmp_path / 'ckpt')
    x = torch.randn(2, 3, *SMALL)
    torch.testing.assert_close(loaded.forward_raw(x), net.forward_raw(x))
    assert cfg.predict_variance and cfg.test_time_flip
    with pytest.raises(ValueError, match='scratch CNN only'):
        fuse_conv_bn(loaded)


def test_estimate_combines_member_spread_and_predicted_variance():
    torch.manual_seed(0)
    cfg = ScaleNetConfig(input_size=(32, 32), channels=(4, 8), fc=(8,), members=3,
                         predict_variance=True)
    net = ScaleNet(cfg).eval()
    with torch.no_grad():
        for k, member in enumerate(net.members):
            member.head[-1].bias.copy_(torch.tensor([0.1 * k, np.log(0.04)]))
    pred = ScalePredictor(net)
    rgb = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    est = pred.estimate(rgb)
    raw = net.forward_raw(_pre(rgb, cfg)).detach()
    mean = raw[..., 0].mean(1)
    var = raw[..., 0].var(1, unbiased=False) + raw[..., 1].exp().mean(1)
    np.testing.assert_allclose(est.log_scale, mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(est.log_scale_std, var.sqrt().numpy(), atol=1e-5)
    assert est.log_scale_std.min() > 0.2     # std 0.2 predicted + 0.08 spread
    one = pred.estimate(rgb[0])
    assert isinstance(one.log_scale, float) and one.log_scale == pytest.approx(
        float(est.log_scale[0]), abs=1e-6)
    assert pred.predict_log_scale(rgb[0]) == pytest.approx(one.log_scale, abs=1e-6)
    assert one.scale == pytest.approx(np.exp(one.log_scale), rel=1e-5)


def _pre(rgb, cfg):
    from adaptive_depth.scale_net import preprocess_rgb
    return preprocess_rgb(rgb, cfg)


def test_single_net_without_variance_has_zero_std_and_flip_adds_spread():
    torch.manual_seed(1)
    cfg = ScaleNetConfig(input_size=(32, 32), channels=(4, 8), fc=(8,))
    net = ScaleNet(cfg)
    with torch.no_grad():
        net.head[-1].weight.normal_(std=1.0)
    rgb = np.random.default_rng(1).integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    assert np.all(ScalePredictor(net).estimate(rgb).log_scale_std == 0)
    flip_cfg = ScaleNetConfig(input_size=(32, 32), channels=(4, 8), fc=(8,), test_time_flip=True)
    flip = ScaleNet(flip_cfg)
    flip.load_state_dict(net.state_dict())
    assert np.all(ScalePredictor(flip).estimate(rgb).log_scale_std > 0)


def test_config_validation():
    with pytest.raises(ValueError, match='unknown backbone'):
        ScaleNetConfig(backbone='resnet')
    with pytest.raises(ValueError, match='finetune'):
        _lite_cfg(finetune='some')
    with pytest.raises(ValueError, match='aux_depth_block must be 0'):
        _lite_cfg(aux_depth_block=2)
    with pytest.raises(ValueError, match='unknown recipe'):
        recipe_config('nope')
    cfg = recipe_config('pretrained', epochs=3, net_options={'finetune': 'frozen'})
    assert cfg.epochs == 3 and cfg.net_options['backbone'] == 'efficientnet_lite0'
    assert cfg.net_options['finetune'] == 'frozen'
    # `pretrained_small` is `pretrained` with a smaller input and fewer epochs, nothing else.
    small, base = asdict(recipe_config('pretrained_small')), asdict(recipe_config('pretrained'))
    assert {k for k in base if small[k] != base[k]} == {'input_size', 'epochs'}
    assert small['input_size'] == (128, 160) and small['epochs'] < base['epochs']


def test_train_scale_net_cli_recipes(tmp_path, capsys):
    from adaptive_depth.tools import generate_oracle, train_scale_net as cli

    assert generate_oracle.main(['--data', 'synthetic:8', '--synthetic-size', '80x60',
                                 '--simulated', '--out', str(tmp_path / 'oracle'),
                                 '--no-progress']) == 0
    rc = cli.main(['--oracle', str(tmp_path / 'oracle'), '--out', str(tmp_path / 'net'),
                   '--recipe', 'pretrained_small', '--epochs', '1', '--input-size', '32',
                   '--finetune', 'last', '--quiet', '--device', 'cpu'])
    assert rc == 0, capsys.readouterr().err
    _, cfg = load_scale_net(tmp_path / 'net' / 'best')
    # the recipe's settings, with the given options on top
    assert (cfg.backbone, cfg.finetune, cfg.input_size) == ('efficientnet_lite0', 'last', (32, 32))
    assert cfg.predict_variance and cfg.metadata['trained_with']['optimizer'] == 'adamw'
    rc = cli.main(['--oracle', str(tmp_path / 'oracle'), '--out', str(tmp_path / 'paper'),
                   '--recipe', 'paper', '--epochs', '1', '--input-size', '32', '--channels',
                   '4,8', '--quiet', '--device', 'cpu'])
    assert rc == 0
    _, cfg = load_scale_net(tmp_path / 'paper' / 'best')
    assert (cfg.backbone, cfg.channels, cfg.predict_variance) == ('scratch', (4, 8), False)
    assert cfg.metadata['trained_with']['optimizer'] == 'adam'
    with pytest.raises(SystemExit):
        cli.main(['--oracle', 'x', '--out', 'y', '--recipe', 'nope'])
    # no --recipe: the default, the from-scratch 3-member ensemble
    rc = cli.main(['--oracle', str(tmp_path / 'oracle'), '--out', str(tmp_path / 'default'),
                   '--epochs', '1', '--input-size', '64', '--quiet', '--device', 'cpu'])
    assert rc == 0
    _, cfg = load_scale_net(tmp_path / 'default' / 'best')
    assert (cfg.backbone, cfg.members, cfg.test_time_flip) == ('scratch', 3, True)


def test_pretrained_aux_depth_head_trains_on_the_body_output(tmp_path, one_thread):
    frames = _Frames(n=16)
    frames.depth_grids = np.exp(np.random.default_rng(0).normal(1, 0.2, (16, 24, 32))
                                ).astype(np.float32)
    cfg = recipe_config('pretrained_aux', epochs=1, batch_size=8, val_fraction=0.0,
                        device='cpu', input_size=SMALL, checkpoint_every=0)
    result = train_scale_net(frames, cfg, tmp_path / 'aux', progress=False)
    assert result.history[0]['train_aux_depth_loss'] > 0
    model, net_cfg = load_scale_net(result.best_dir)
    # The recipe has no variance head: its std is the flip spread (times std_scale).
    assert net_cfg.aux_depth_block == 1 and not net_cfg.predict_variance
    raw, maps = model.forward_raw_with_aux(torch.randn(2, 3, *SMALL))
    assert raw.shape == (2, 1, 1) and maps.shape == (2, 1, 1, 1)   # 32 px / 32
    est = ScalePredictor(model).estimate(frames.images[:2])        # inference ignores the head
    assert est.log_scale.shape == (2,)
