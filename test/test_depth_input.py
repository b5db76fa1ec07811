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

"""Tests of ``depth_input``: the scale network also reads the base model's scale-free depth."""

import math

from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.oracle_dataset import OracleData, read_oracle_dir, write_oracle_dir
from adaptive_depth.scale_net import (depth_from_copy, load_scale_net, relative_depth_copy,
                                      relative_log_depth, save_scale_net, ScaleNet,
                                      ScaleNetConfig, ScalePredictor)
from adaptive_depth.scale_source import LearnedScale
from adaptive_depth.training import train_scale_net, TrainConfig, TrainingError
from adaptive_depth.training_data import Augmenter
import cv2
import numpy as np
import pytest
import torch

SMALL = {'input_size': (32, 32), 'channels': (8, 8), 'fc': (8,), 'dropout': 0.0}


def test_relative_log_depth_keeps_the_shape_and_drops_the_size():
    depth = np.ones((4, 4), np.float32)
    depth[2:] = 4.0                       # near top half, far bottom half
    rel = relative_log_depth(depth, (2, 2)).numpy()
    # cells: log depth minus the median cell (torch takes the lower of the two middle ones)
    np.testing.assert_allclose(rel, [[[0.0, 0.0], [math.log(4.0), math.log(4.0)]]], atol=1e-6)
    ramp = np.exp(np.linspace(0.0, 1.5, 48 * 64, dtype=np.float32)).reshape(48, 64)
    for k in (0.01, 3.0, 250.0):          # any global scale gives the same input
        np.testing.assert_allclose(relative_log_depth(k * ramp, (12, 16)),
                                   relative_log_depth(ramp, (12, 16)), atol=1e-5)
    # invalid pixels (NaN, 0, negative) do not count; a cell without a valid one is 0
    cells = np.exp(np.linspace(0.0, 1.5, 12 * 16, dtype=np.float32)).reshape(12, 16)
    blocky = np.kron(cells, np.ones((4, 4), np.float32))    # constant within each 4×4 cell
    holes = blocky.copy()
    holes[:4, :4] = np.nan                # cell (0, 0): no valid pixel
    holes[4:8, 4:6] = 0.0                 # cell (1, 1): half of it invalid
    holes[8:10, 8:12] = -1.0              # cell (2, 2): half of it invalid
    ref = relative_log_depth(blocky, (12, 16))[0].numpy()
    got = relative_log_depth(holes, (12, 16))[0].numpy()
    assert got[0, 0] == 0.0
    for r, c in ((1, 1), (2, 2)):         # the valid half keeps its cell's value
        assert got[r, c] - got[6, 6] == pytest.approx(ref[r, c] - ref[6, 6], abs=1e-5)
    assert np.all(relative_log_depth(np.full((1, 8, 8), np.nan), (4, 4)).numpy() == 0.0)
    with pytest.raises(ValueError, match='H×W'):
        relative_log_depth(np.ones((2, 3, 4, 5)), (2, 2))
    copy = relative_depth_copy(3.0 * ramp, (24, 32))
    assert copy.dtype == np.float16 and copy.shape == (24, 32)
    np.testing.assert_allclose(copy, relative_log_depth(ramp, (24, 32))[0], atol=2e-3)
    # a stored copy read back as depth gives the network the input of the live depth map
    np.testing.assert_allclose(relative_log_depth(depth_from_copy(copy), (12, 16)),
                               relative_log_depth(ramp, (12, 16)), atol=2e-3)


def _net(**kw):
    torch.manual_seed(0)
    cfg = ScaleNetConfig(**{**SMALL, 'depth_input': True, **kw})
    model = ScaleNet(cfg)
    with torch.no_grad():   # make the (tiny) initial output depend on the input
        for net in (model.members if model.members is not None else [model]):
            net.head[-1].weight.mul_(300.0)
    return model.eval(), cfg


@pytest.mark.parametrize('backbone', ['scratch', 'efficientnet_lite0'])
def test_network_reads_the_depth_shape_but_not_its_size(backbone, tmp_path):
    model, cfg = _net(backbone=backbone, test_time_flip=True, predict_variance=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (2, 48, 64, 3), dtype=np.uint8)
    ramp = np.exp(np.linspace(0.0, 1.5, 48, dtype=np.float32))[:, None].repeat(64, 1)
    depth = np.stack([ramp, ramp[::-1].copy()])
    pred = ScalePredictor(model, cfg)
    est = pred.estimate(rgb, depth)
    np.testing.assert_allclose(pred.estimate(rgb, 7.5 * depth).log_scale, est.log_scale,
                               atol=1e-6)
    flat = np.full_like(depth, 2.0)
    assert np.all(np.abs(pred.estimate(rgb, flat).log_scale - est.log_scale) > 1e-4)
    one = pred.estimate(rgb[0], depth[0])
    assert one.log_scale == pytest.approx(float(est.log_scale[0]), abs=1e-6)
    if backbone == 'scratch':   # BatchNorm folded into the convs: the same outputs
        unfused = ScalePredictor(model, cfg, fuse=False).estimate(rgb, depth)
        np.testing.assert_allclose(unfused.log_scale, est.log_scale, atol=1e-5)
    with pytest.raises(ValueError, match='depth_input'):
        pred.estimate(rgb)
    with pytest.raises(ValueError, match='depth map'):
        pred.estimate(rgb, depth[:1])
    with pytest.raises(ValueError, match='N×4×h×w'):
        model(torch.zeros(1, 3, 32, 32))
    save_scale_net(tmp_path / 'net', model)
    loaded, loaded_cfg = load_scale_net(tmp_path / 'net')
    assert loaded_cfg.depth_input and loaded_cfg.in_channels == 4
    np.testing.assert_allclose(ScalePredictor(loaded, loaded_cfg).estimate(rgb, depth).log_scale,
                               est.log_scale, atol=1e-6)


def test_colour_augmentation_leaves_the_depth_channel_alone():
    cfg = ScaleNetConfig(**SMALL, depth_input=True)
    x = torch.randn(16, 4, 8, 8)
    aug = Augmenter(cfg, flip=False, jitter=0.3, device=torch.device('cpu'),
                    channel_shuffle=True)
    out, _ = aug.with_maps(x, torch.Generator().manual_seed(0), None)
    torch.testing.assert_close(out[:, 3], x[:, 3])
    assert float((out[:, :3] - x[:, :3]).abs().max()) > 0.1
    flip = Augmenter(cfg, flip=True, jitter=0.0, device=torch.device('cpu'))
    out, _ = flip.with_maps(x, torch.Generator().manual_seed(1), None)
    flipped = 0
    for src, dst in zip(x, out):   # all four channels move together
        mirrored = bool(torch.equal(dst, torch.flip(src, dims=(2,))))
        assert mirrored or torch.equal(dst, src)
        flipped += mirrored
    assert 0 < flipped < 16


def _depth_toy(n, seed):
    """Noise images (no cue) whose log s is the steepness of a far-to-near depth ramp."""
    rng = np.random.default_rng(seed)
    steep = rng.uniform(0.2, 2.0, n)
    rows = np.linspace(0.0, 1.0, 24, dtype=np.float32)
    depth = np.exp(steep[:, None, None] * rows[None, :, None]) * np.ones((1, 1, 32))
    depth *= rng.uniform(0.5, 8.0, (n, 1, 1))        # a size the network must not need
    rel = np.stack([relative_depth_copy(d, (24, 32)) for d in depth.astype(np.float32)])
    images = rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8)
    log_s = steep - 1.1
    return depth.astype(np.float32), OracleData(
        names=[f'toy/{i}' for i in range(n)], scales=np.exp(log_s), log_scales=log_s,
        w1=np.zeros(n), n_valid=np.full(n, 768), kept=np.ones(n, bool), images=images,
        meta={'base_model': {'name': 'toy', 'simulated': True}}, relative_depths=rel)


def test_training_learns_what_only_the_depth_shape_shows(tmp_path):
    _, oracle = _depth_toy(64, 0)
    base = {'epochs': 25, 'batch_size': 16, 'lr': 3e-3, 'val_fraction': 0.0, 'seed': 0,
            'device': 'cpu', 'color_jitter': 0.0, 'input_size': (24, 32),
            'checkpoint_every': 0}
    with_depth = train_scale_net(oracle, TrainConfig(
        **base, net_options={**SMALL, 'depth_input': True}), tmp_path / 'd', progress=False)
    plain = train_scale_net(oracle, TrainConfig(**base, net_options=SMALL), tmp_path / 'p',
                            progress=False)
    assert with_depth.history[-1]['train_loss'] < 0.3 * plain.history[-1]['train_loss']
    # new scenes: the deployed network follows the steepness, whatever the depth's size
    depth, test = _depth_toy(32, 1)
    pred = ScalePredictor(*load_scale_net(with_depth.best_dir))
    log_s = pred.estimate(test.images, depth).log_scale
    assert np.corrcoef(log_s, test.log_scales)[0, 1] > 0.8
    # an oracle directory without the copies is refused with the file to regenerate
    oracle.relative_depths = None
    with pytest.raises(TrainingError, match='relative_depth.npy'):
        train_scale_net(oracle, TrainConfig(**base, net_options={**SMALL, 'depth_input': True}),
                        tmp_path / 'x', progress=False)


def test_relative_depth_file_round_trip_and_stale_file(tmp_path):
    n = 3
    rows = {'names': [f's{i}' for i in range(n)], 'scales': np.ones(n), 'w1': np.zeros(n),
            'n_valid': np.full(n, 10), 'kept': np.ones(n, bool),
            'images': np.zeros((n, 240, 320, 3), np.uint8)}
    rel = np.random.default_rng(0).normal(size=(n, 240, 320)).astype(np.float16)
    write_oracle_dir(tmp_path, relative_depths=rel, histogram=False, **rows)
    back = read_oracle_dir(tmp_path, mmap=True)
    np.testing.assert_array_equal(back.relative_depths, rel)
    write_oracle_dir(tmp_path, histogram=False, **rows)      # a new run without copies
    assert read_oracle_dir(tmp_path).relative_depths is None
    with pytest.raises(ValueError, match='relative_depths must be'):
        write_oracle_dir(tmp_path, relative_depths=rel[:2], histogram=False, **rows)


def test_frame_processor_gives_the_network_the_da2_depth(tiny_da2_dir, nyu_sample_dir):
    runner = DepthAnythingRunner(str(tiny_da2_dir), device='cpu', input_size=112)
    path = sorted(nyu_sample_dir.glob('*_colors.png'))[0]
    frame = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    model, cfg = _net(members=2)
    predictor = ScalePredictor(model, cfg)
    result = FrameProcessor(runner, LearnedScale(predictor)).process(frame, return_raw=True)
    expected = predictor.estimate(frame, result.raw_depth)
    assert result.log_scale_std == pytest.approx(expected.log_scale_std, rel=1e-4)
    assert math.log(result.raw_scale) == pytest.approx(
        min(max(expected.log_scale, math.log(0.1)), math.log(2.0)), abs=1e-5)


def test_pretrained_depth_recipe_is_pretrained_aux_with_the_depth_input():
    from adaptive_depth.recipes import recipe_config

    depth, aux = recipe_config('pretrained_depth'), recipe_config('pretrained_aux')
    assert depth.net_options.pop('depth_input') is True
    assert depth == aux
