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

"""Tests of the lightweight scale network, its pre-processing and its checkpoints."""

import json
import math

from adaptive_depth.scale_net import (
    count_parameters, load_scale_net, preprocess_rgb, save_scale_net, ScaleNet,
    ScaleNetCheckpointError, ScaleNetConfig, ScalePredictor)
import numpy as np
import pytest
import torch

SMALL = {'input_size': (64, 80), 'channels': (8, 16, 16, 32), 'fc': (16,), 'dropout': 0.3}


def _images(n, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def _trained_model(cfg, steps=3):
    """Return a model after a few SGD steps, so BatchNorm statistics are non-trivial."""
    torch.manual_seed(0)
    model = ScaleNet(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = preprocess_rgb(_images(4, seed=1), cfg)
    target = torch.tensor([0.1, -0.5, 0.3, 0.0])
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), target)
        loss.backward()
        opt.step()
    return model.eval()


def test_default_architecture_and_parameter_count():
    cfg = ScaleNetConfig()
    model = ScaleNet(cfg)
    assert cfg.input_size == (224, 224)
    assert cfg.channels == (32, 64, 128, 256)
    chans = (3,) + cfg.channels
    conv = sum(9 * a * b for a, b in zip(chans[:-1], chans[1:]))
    bn = 2 * sum(cfg.channels)
    fc = (256 * 128 + 128) + (128 + 1)
    assert count_parameters(model) == conv + bn + fc == 421921  # documented in docs/scale_net.md
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 4
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == 2


def test_forward_backward():
    cfg = ScaleNetConfig(**SMALL)
    model = ScaleNet(cfg)
    x = preprocess_rgb(_images(3), cfg)
    out = model(x)
    assert out.shape == (3,)
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(float(p.grad.abs().sum()) > 0 for p in model.features.parameters())
    with pytest.raises(ValueError, match='N×3×h×w'):
        model(torch.zeros(3, 64, 80))


def test_initial_output_is_near_unit_scale():
    model = ScaleNet(ScaleNetConfig(**SMALL)).eval()
    with torch.no_grad():
        out = model(preprocess_rgb(_images(2), model.config))
    assert torch.all(out.abs() < 0.1)


def test_config_round_trip_and_validation():
    cfg = ScaleNetConfig(**SMALL, metadata={'epochs': 3, 'dataset': 'nyu'})
    d = cfg.to_dict()
    text = json.dumps(d)
    back = ScaleNetConfig.from_dict(json.loads(text))
    assert back == cfg
    assert back.scale_bounds == pytest.approx((0.1, 2.0))
    with pytest.raises(ValueError, match='unknown'):
        ScaleNetConfig.from_dict({**d, 'bogus': 1})
    with pytest.raises(ValueError, match='dropout'):
        ScaleNetConfig(dropout=1.5)
    with pytest.raises(ValueError, match='log_scale_bounds'):
        ScaleNetConfig(log_scale_bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match='input_size'):
        ScaleNetConfig(input_size=(8, 8))
    with pytest.raises(TypeError):
        ScaleNetConfig(metadata={'bad': object()}).to_dict()


def test_preprocess_rgb_shapes_and_normalisation():
    cfg = ScaleNetConfig(**SMALL)
    value = 200
    image = np.full((48, 64, 3), value, np.uint8)
    x = preprocess_rgb(image, cfg)
    assert x.shape == (1, 3, 64, 80) and x.dtype == torch.float32
    expected = (value / 255.0 - np.array(cfg.mean)) / np.array(cfg.std)
    np.testing.assert_allclose(x[0].mean(dim=(1, 2)).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(x[0].std(dim=(1, 2)).numpy(), 0, atol=1e-5)
    batch = _images(2)
    from_np = preprocess_rgb(batch, cfg)
    from_torch = preprocess_rgb(torch.from_numpy(batch), cfg)
    from_list = preprocess_rgb(list(batch), cfg)
    torch.testing.assert_close(from_np, from_torch)
    torch.testing.assert_close(from_np, from_list)
    torch.testing.assert_close(preprocess_rgb(batch[1], cfg), from_np[1:])
    with pytest.raises(ValueError, match='uint8'):
        preprocess_rgb(batch.astype(np.float32), cfg)
    with pytest.raises(ValueError, match='shape'):
        preprocess_rgb(batch[..., :2], cfg)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    cfg = ScaleNetConfig(**SMALL, metadata={'val_loss': 0.25})
    model = _trained_model(cfg)
    x = preprocess_rgb(_images(3, seed=5), cfg)
    with torch.no_grad():
        ref = model(x)
    directory = save_scale_net(tmp_path / 'ckpt', model, cfg)
    assert (directory / 'model.safetensors').is_file() and (directory / 'config.json').is_file()
    loaded, loaded_cfg = load_scale_net(directory)
    assert loaded_cfg == cfg
    assert not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ref, rtol=0, atol=0)
    # the same through a .safetensors file path and through a plain .pt state dict
    loaded_file, _ = load_scale_net(directory / 'model.safetensors')
    pt = tmp_path / 'pt' / 'scale.pt'
    pt.parent.mkdir()
    torch.save(model.state_dict(), pt)
    (pt.parent / 'config.json').write_text(json.dumps(cfg.to_dict()))
    loaded_pt, _ = load_scale_net(pt)
    with torch.no_grad():
        torch.testing.assert_close(loaded_file(x), ref, rtol=0, atol=0)
        torch.testing.assert_close(loaded_pt(x), ref, rtol=0, atol=0)


def test_pickled_module_and_objects_are_refused(tmp_path):
    cfg = ScaleNetConfig(**SMALL)
    model = ScaleNet(cfg)
    (tmp_path / 'config.json').write_text(json.dumps(cfg.to_dict()))
    torch.save(model, tmp_path / 'module.pt')  # a pickled nn.Module
    with pytest.raises(ScaleNetCheckpointError, match='pickled'):
        load_scale_net(tmp_path / 'module.pt')
    torch.save({'weights': [1, 2, 3]}, tmp_path / 'object.pth')
    with pytest.raises(ScaleNetCheckpointError, match='dict of tensors'):
        load_scale_net(tmp_path / 'object.pth')


def test_bad_checkpoint_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_scale_net(tmp_path / 'missing')
    with pytest.raises(ScaleNetCheckpointError, match='must contain'):
        load_scale_net(tmp_path)
    lonely = tmp_path / 'lonely' / 'weights.pt'
    lonely.parent.mkdir()
    torch.save(ScaleNet(ScaleNetConfig(**SMALL)).state_dict(), lonely)
    with pytest.raises(ScaleNetCheckpointError, match='no config'):
        load_scale_net(lonely)
    # config from a different architecture
    (lonely.parent / 'config.json').write_text(json.dumps(ScaleNetConfig().to_dict()))
    with pytest.raises(ScaleNetCheckpointError, match='do not match'):
        load_scale_net(lonely)


def test_predictor_single_and_batch(tmp_path):
    cfg = ScaleNetConfig(**SMALL)
    model = _trained_model(cfg)
    predictor = ScalePredictor.from_checkpoint(save_scale_net(tmp_path, model, cfg))
    images = _images(3, seed=9)
    single = predictor.predict_log_scale(images[0])
    batch = predictor.predict_log_scale(images)
    assert isinstance(single, float)
    assert isinstance(batch, np.ndarray) and batch.shape == (3,)
    assert single == pytest.approx(float(batch[0]), abs=1e-5)
    assert predictor.predict_log_scale(images[0]) == single  # eval mode: no dropout noise
    with torch.no_grad():
        expected = model(preprocess_rgb(images, cfg)).numpy()
    np.testing.assert_allclose(batch, expected, rtol=1e-4, atol=1e-5)
    unfused = ScalePredictor(model, cfg, fuse=False).predict_log_scale(images)
    np.testing.assert_allclose(unfused, expected, rtol=1e-6, atol=1e-7)
    assert np.all(np.abs(expected) > 1e-3)  # outputs are not trivially zero
    scales = predictor.predict_scale(images)
    lo, hi = cfg.log_scale_bounds
    np.testing.assert_allclose(scales, np.exp(np.clip(expected, lo, hi)), rtol=1e-5)
    assert math.isclose(predictor.predict_scale(images[0]), float(scales[0]), rel_tol=1e-5)


def test_ensemble_averages_independent_members(tmp_path):
    cfg = ScaleNetConfig(**SMALL, members=3)
    model = _trained_model(cfg)
    single = ScaleNet(ScaleNetConfig(**SMALL))
    assert count_parameters(model) == 3 * count_parameters(single)
    x = preprocess_rgb(_images(5, seed=2), cfg)
    with torch.no_grad():
        members = model.forward_members(x)
        assert members.shape == (5, 3)
        # Independently initialised members disagree; the ensemble output is their mean.
        assert float(members.std(dim=1).min()) > 0
        torch.testing.assert_close(model(x), members.mean(dim=1))
    assert len(model.member_parameter_groups()) == 3
    save_scale_net(tmp_path / 'ens', model, cfg)
    loaded, loaded_cfg = load_scale_net(tmp_path / 'ens')
    assert loaded_cfg.members == 3
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    rgb = _images(2, seed=3)
    fused = ScalePredictor(loaded, loaded_cfg, fuse=True).predict_log_scale(rgb)
    plain = ScalePredictor(loaded, loaded_cfg, fuse=False).predict_log_scale(rgb)
    np.testing.assert_allclose(fused, plain, atol=1e-5)
    with pytest.raises(ValueError, match='members'):
        ScaleNetConfig(**SMALL, members=0)
