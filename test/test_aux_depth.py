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

"""Tests of the auxiliary coarse-depth supervision of the scale network."""

import json

from adaptive_depth.oracle_dataset import (coarse_depth_grid, DEPTH_GRID_NPY, OracleData,
                                           OracleFormatError, read_oracle_dir, write_oracle_dir)
from adaptive_depth.scale_net import (fuse_conv_bn, load_scale_net, save_scale_net, ScaleNet,
                                      ScaleNetConfig)
from adaptive_depth.training import train_scale_net, TrainConfig, TrainingError
from adaptive_depth.training_data import Augmenter
from adaptive_depth.training_losses import aux_depth_loss, depth_grid_targets
import numpy as np
import pytest
import torch


def test_coarse_depth_grid_is_the_geometric_mean_of_valid_pixels():
    depth = np.ones((48, 64), np.float32)
    depth[:2, :2] = 4.0          # top-left cell (2×2 pixels): geometric mean of 4, 4, 1, 1 is 2
    depth[:2, 2:4] = 0.0         # next cell: no valid depth → NaN
    depth[2:4, :2] = np.nan
    depth[2, 0] = 9.0            # one valid pixel of four: below half → NaN
    grid = coarse_depth_grid(depth, size=(24, 32))
    assert grid.shape == (24, 32) and grid.dtype == np.float32
    depth2 = depth.copy()
    depth2[1, :2] = 1.0
    assert coarse_depth_grid(depth2, size=(24, 32))[0, 0] == pytest.approx(2.0, rel=1e-5)
    assert grid[0, 0] == pytest.approx(4.0, rel=1e-5)
    assert np.isnan(grid[0, 1]) and np.isnan(grid[1, 0])
    assert np.isfinite(grid[2:, :]).all() and grid[5, 5] == pytest.approx(1.0)
    # An explicit mask excludes pixels as well; half valid is enough.
    valid = np.ones_like(depth, bool)
    valid[:, :32] = False
    masked = coarse_depth_grid(np.full((48, 64), 3.0, np.float32), valid, size=(24, 32))
    assert np.isnan(masked[:, :16]).all() and masked[:, 16:] == pytest.approx(3.0)
    # Any input size maps onto the grid (640×480 is 20×20 pixels a cell).
    big = coarse_depth_grid(np.full((480, 640), 2.5, np.float32))
    assert big.shape == (24, 32) and big == pytest.approx(2.5)
    with pytest.raises(ValueError, match='H×W'):
        coarse_depth_grid(np.ones((4, 4, 3), np.float32))


def _rows(n):
    return {'names': [f's{i}' for i in range(n)], 'scales': np.ones(n), 'w1': np.zeros(n),
            'n_valid': np.full(n, 10), 'kept': np.ones(n, bool),
            'images': np.zeros((n, 240, 320, 3), np.uint8)}


def test_depth_grids_round_trip_and_stale_or_bad_files(tmp_path):
    grids = np.random.default_rng(0).uniform(0.5, 8, (3, 24, 32)).astype(np.float32)
    grids[0, 0, 0] = np.nan
    write_oracle_dir(tmp_path, depth_grids=grids, histogram=False, **_rows(3))
    back = read_oracle_dir(tmp_path)
    np.testing.assert_array_equal(back.depth_grids, grids)
    assert json.loads((tmp_path / 'oracle.json').read_text())['depth_grid_size'] == [24, 32]
    # Rewriting without grids removes the old file instead of leaving it stale.
    write_oracle_dir(tmp_path, histogram=False, **_rows(3))
    assert not (tmp_path / DEPTH_GRID_NPY).exists()
    assert read_oracle_dir(tmp_path).depth_grids is None
    with pytest.raises(ValueError, match='depth_grids must be'):
        write_oracle_dir(tmp_path, depth_grids=grids[:2], histogram=False, **_rows(3))
    np.save(tmp_path / DEPTH_GRID_NPY, grids[:2])
    with pytest.raises(OracleFormatError, match=DEPTH_GRID_NPY):
        read_oracle_dir(tmp_path)


NET = {'input_size': (32, 32), 'channels': (4, 8, 8), 'fc': (8,), 'dropout': 0.0}


def test_aux_head_is_training_only_and_survives_checkpoints(tmp_path):
    with pytest.raises(ValueError, match='aux_depth_block'):
        ScaleNetConfig(aux_depth_block=4, **NET)
    plain = ScaleNet(ScaleNetConfig(**NET))
    with pytest.raises(ValueError, match='no auxiliary depth head'):
        plain.forward_with_aux(torch.zeros(1, 3, 32, 32))
    torch.manual_seed(0)
    net = ScaleNet(ScaleNetConfig(aux_depth_block=2, members=2, **NET)).eval()
    x = torch.randn(3, 3, 32, 32)
    log_s, depth = net.forward_with_aux(x)
    assert log_s.shape == (3, 2) and depth.shape == (3, 2, 8, 8)
    torch.testing.assert_close(log_s, net.forward_members(x))
    # The inference network (BatchNorm folded) ignores the head and gives the same scale.
    torch.testing.assert_close(fuse_conv_bn(net)(x), net(x), atol=1e-5, rtol=1e-5)
    save_scale_net(tmp_path / 'ck', net)
    loaded, cfg = load_scale_net(tmp_path / 'ck')
    assert cfg.aux_depth_block == 2
    torch.testing.assert_close(loaded.forward_with_aux(x)[1], depth)


def test_targets_loss_and_augmentation_move_maps_with_the_image():
    grids = np.full((2, 24, 32), 2.0, np.float32)
    grids[0, :12] = np.nan                   # top half of image 0 has no ground truth
    t = depth_grid_targets(grids)
    assert t.shape == (2, 2, 24, 32)
    assert float(t[0, 1, :12].sum()) == 0.0 and float(t[0, 1, 12:].min()) == 1.0
    pred = torch.full((2, 1, 6, 8), float(np.log(2.0)), requires_grad=True)
    assert float(aux_depth_loss(pred.detach(), t)) == pytest.approx(0.0, abs=1e-10)
    wrong = pred.detach().clone()
    wrong[0, 0, :3] += 5.0                   # errors only where the target is invalid
    assert float(aux_depth_loss(wrong, t)) == pytest.approx(0.0, abs=1e-10)
    wrong[1, 0, 0, 0] += 1.0
    valid_cells = 3 * 8 + 6 * 8
    assert float(aux_depth_loss(wrong, t)) == pytest.approx(1.0 / valid_cells, rel=1e-5)
    aux_depth_loss(pred, t).backward()       # differentiable
    # Flips and rolls move a target map exactly as the image: feed the image as its own map.
    cfg = ScaleNetConfig(**NET)
    aug = Augmenter(cfg, flip=True, jitter=0.0, device=torch.device('cpu'), rotate_deg=10.0)
    x = torch.randn(8, 3, 32, 32)
    out, maps = aug.with_maps(x, torch.Generator().manual_seed(1), x[:, :1].clone())
    inside = (slice(None), slice(None), slice(8, 24), slice(8, 24))   # away from the padding
    torch.testing.assert_close(maps[inside], out[:, :1][inside], atol=1e-5, rtol=0)
    assert not torch.allclose(out, x)
    # The same generator state gives the same image augmentation with or without maps.
    torch.testing.assert_close(aug.with_maps(x, torch.Generator().manual_seed(1), None)[0], out)


def _depth_oracle(n=40, seed=0):
    """Toy scenes: a bright square whose size sets both the depth and log s."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.2, 0.9, n)
    images = np.full((n, 240, 320, 3), 30, np.uint8)
    grids = np.empty((n, 24, 32), np.float32)
    for i, f in enumerate(size):
        h, w = int(240 * f), int(320 * f)
        images[i, (240 - h) // 2:(240 + h) // 2, (320 - w) // 2:(320 + w) // 2] = 220
        grids[i] = 1.0 / f
    log_s = np.log(size)
    return OracleData(names=[f'toy/{i}' for i in range(n)], scales=np.exp(log_s),
                      log_scales=log_s, w1=np.zeros(n), n_valid=np.full(n, 100),
                      kept=np.ones(n, bool), images=images, depth_grids=grids,
                      meta={'base_model': {'name': 'toy', 'simulated': True}})


def _cfg(**kw):
    base = {'epochs': 8, 'batch_size': 10, 'lr': 3e-3, 'val_fraction': 0.25, 'val_every': 4,
            'checkpoint_every': 0, 'device': 'cpu', 'input_size': (32, 32),
            'net_options': {'channels': (4, 8, 8), 'fc': (8,), 'dropout': 0.0}}
    base.update(kw)
    return TrainConfig(**base)


def test_training_with_aux_depth_learns_the_depth_and_logs_it(tmp_path):
    oracle = _depth_oracle()
    result = train_scale_net(oracle, _cfg(aux_depth_weight=1.0), tmp_path / 'aux',
                             progress=False)
    aux = [h['train_aux_depth_loss'] for h in result.history]
    assert len(aux) == 8 and aux[-1] < 0.5 * aux[0]
    net, cfg = load_scale_net(result.best_dir)
    assert cfg.aux_depth_block == 2 and cfg.metadata['trained_with']['aux_depth_weight'] == 1.0
    # The head predicts log depth in metres: its mean follows the true depth of each image.
    from adaptive_depth.scale_net import preprocess_rgb
    x = preprocess_rgb(oracle.images[:6], cfg)
    with torch.no_grad():
        _, depth = net.forward_with_aux(x)
    pred = depth.mean(dim=(1, 2, 3)).numpy()
    truth = np.log(oracle.depth_grids[:6, 0, 0])
    assert np.corrcoef(pred, truth)[0, 1] > 0.8
    history = json.loads((tmp_path / 'aux' / 'history.json').read_text())
    assert history['epochs'][0]['train_aux_depth_loss'] == pytest.approx(aux[0])
    # Ensemble members each get a head, initialised and trained alike.
    ens = train_scale_net(oracle, _cfg(aux_depth_weight=1.0, epochs=2, net_options={
        'channels': (4, 8, 8), 'fc': (8,), 'members': 2}), tmp_path / 'ens', progress=False)
    net2, _ = load_scale_net(ens.best_dir)
    assert net2.forward_with_aux(x)[1].shape == (6, 2, 8, 8)
    # Without the auxiliary loss nothing changes for the paper's plain training.
    plain = train_scale_net(oracle, _cfg(), tmp_path / 'plain', progress=False)
    assert 'train_aux_depth_loss' not in plain.history[0]
    assert load_scale_net(plain.best_dir)[1].aux_depth_block == 0


def test_variance_head_trains_beside_the_aux_depth_loss(tmp_path):
    # Regression: the auxiliary loss once replaced the variance head's likelihood term, so the
    # head of every aux recipe kept its initial std (0.25) whatever the residuals were.
    from adaptive_depth.scale_net import ScalePredictor

    oracle = _depth_oracle()
    net_options = {'channels': (4, 8, 8), 'fc': (8,), 'dropout': 0.0, 'predict_variance': True}
    stds = {}
    for weight in (0.0, 0.5):
        cfg = _cfg(aux_depth_weight=1.0, variance_weight=weight, net_options=net_options,
                   val_fraction=0.0)   # the raw head's std, without held-out calibration
        result = train_scale_net(oracle, cfg, tmp_path / f'v{weight:g}', progress=False)
        stds[weight] = ScalePredictor.from_checkpoint(result.best_dir, 'cpu').estimate(
            oracle.images).log_scale_std
    # Without its likelihood term the head keeps the initial std; with it, the head learns.
    assert stds[0.0] == pytest.approx(0.25, abs=1e-3)
    assert abs(float(np.mean(stds[0.5])) - 0.25) > 0.02
    assert float(np.ptp(stds[0.5])) > 1e-3


def test_aux_depth_needs_depth_grids_and_a_head(tmp_path):
    oracle = _depth_oracle(n=12)
    oracle.depth_grids = None
    with pytest.raises(TrainingError, match='depth_grid.npy'):
        train_scale_net(oracle, _cfg(aux_depth_weight=1.0), tmp_path, progress=False)
    with pytest.raises(TrainingError, match='aux_depth_block'):
        train_scale_net(_depth_oracle(n=12), _cfg(aux_depth_weight=1.0, net_options={
            'channels': (4, 8), 'aux_depth_block': 0}), tmp_path, progress=False)
    with pytest.raises(TrainingError, match='aux_depth_weight'):
        _cfg(aux_depth_weight=-1.0).validate()


def test_test_time_flip_averages_image_and_mirror_image(tmp_path):
    from dataclasses import replace

    from adaptive_depth.scale_net import ScalePredictor

    torch.manual_seed(0)
    net = ScaleNet(ScaleNetConfig(**NET)).eval()
    with torch.no_grad():
        net.head[-1].weight.normal_(0.0, 0.5)     # a non-trivial, not mirror-symmetric net
    rgb = np.random.default_rng(0).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    plain = ScalePredictor(net)
    one, mirrored = plain.predict_log_scale(rgb), plain.predict_log_scale(rgb[:, :, ::-1].copy())
    assert not np.allclose(one, mirrored, atol=1e-4)
    tta_cfg = replace(net.config, test_time_flip=True)
    tta = ScalePredictor(net, tta_cfg)
    np.testing.assert_allclose(tta.predict_log_scale(rgb), (one + mirrored) / 2, atol=1e-5)
    assert tta.predict_log_scale(rgb[0]) == pytest.approx((one[0] + mirrored[0]) / 2, abs=1e-5)
    save_scale_net(tmp_path / 'tta', net, tta_cfg)
    loaded = ScalePredictor.from_checkpoint(tmp_path / 'tta')
    assert loaded.cfg.test_time_flip
    np.testing.assert_allclose(loaded.predict_log_scale(rgb), tta.predict_log_scale(rgb),
                               atol=1e-6)
