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

"""Tests of the scale-network training loop (adaptive_depth.training)."""

import json

from adaptive_depth.oracle_dataset import OracleData
from adaptive_depth.scale_net import load_scale_net, preprocess_rgb
from adaptive_depth.training import train_scale_net, TrainConfig, TrainingError
from adaptive_depth.training_data import (Augmenter, recording_weights, rotate_images,
                                          split_indices)
import numpy as np
import pytest
import torch

NET = {'channels': (8, 16), 'fc': (16,), 'dropout': 0.0}


def toy_oracle(n: int = 48, seed: int = 0) -> OracleData:
    """Return N uniform-colour 24×32 images whose log s is a linear function of brightness."""
    rng = np.random.default_rng(seed)
    brightness = rng.uniform(20, 235, size=n)
    images = np.empty((n, 24, 32, 3), dtype=np.uint8)
    images[:] = brightness.astype(np.uint8)[:, None, None, None]
    images = np.clip(images.astype(np.int16) + rng.integers(-3, 4, images.shape), 0, 255)
    images = images.astype(np.uint8)
    log_s = (brightness / 255.0 - 0.5) * 1.2
    kept = np.ones(n, dtype=bool)
    kept[:2] = False   # the percentile filter dropped two samples
    return OracleData(names=[f'toy/{i:03d}' for i in range(n)], scales=np.exp(log_s),
                      log_scales=log_s, w1=np.zeros(n), n_valid=np.full(n, 768),
                      kept=kept, images=images,
                      meta={'base_model': {'name': 'toy', 'simulated': True}})


def cfg(**kw) -> TrainConfig:
    base = {'epochs': 12, 'batch_size': 16, 'lr': 3e-3, 'step_size': 10, 'gamma': 0.5,
            'val_fraction': 0.25, 'val_every': 3, 'checkpoint_every': 4, 'seed': 0,
            'device': 'cpu', 'augment_flip': True, 'color_jitter': 0.0, 'input_size': (16, 16),
            'net_options': NET}
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp('train')
    oracle = toy_oracle()
    return oracle, out, train_scale_net(oracle, cfg(), out, progress=False)


def test_loss_decreases_on_learnable_problem(trained):
    _, _, result = trained
    losses = [h['train_loss'] for h in result.history]
    assert len(losses) == 12
    assert losses[-1] < 0.3 * losses[0]
    vals = [h['val_loss'] for h in result.history if h['val_loss'] is not None]
    assert vals[-1] < vals[0]


def test_steplr_halves_lr_and_validation_schedule(trained):
    _, _, result = trained
    lrs = [h['lr'] for h in result.history]
    assert lrs[:10] == pytest.approx([3e-3] * 10)
    assert lrs[10:] == pytest.approx([1.5e-3] * 2)
    val_epochs = [h['epoch'] for h in result.history if h['val_loss'] is not None]
    assert val_epochs == [3, 6, 9, 12]


def test_split_uses_only_kept_samples(trained):
    oracle, out, result = trained
    assert 'toy/000' not in result.train_names + result.val_names
    assert 'toy/001' not in result.train_names + result.val_names
    assert len(result.val_names) == round(0.25 * 46)
    assert not set(result.train_names) & set(result.val_names)
    split = json.loads((out / 'split.json').read_text())
    assert split['val'] == result.val_names
    a = split_indices(48, oracle.kept, 0.25, seed=0)
    b = split_indices(48, oracle.kept, 0.25, seed=1)
    assert not np.array_equal(a[1], b[1])


def _recording_names(sizes):
    return [f'{rec}/frame-{i:06d}' for rec, n in sizes.items() for i in range(n)]


def test_split_by_recording_holds_out_whole_recordings():
    sizes = {'kitchen': 50, 'office/run1': 12, 'office/run2': 10, 'cabinet': 8}
    names = _recording_names(sizes)
    kept = np.ones(len(names), dtype=bool)
    kept[3] = False
    for seed in range(6):
        train, val = split_indices(len(names), kept, 0.2, seed, names)
        held = {names[i].rsplit('/', 1)[0] for i in val}
        trained = {names[i].rsplit('/', 1)[0] for i in train}
        assert held and trained and not held & trained
        assert 3 not in train and 3 not in val
        assert sorted(train.tolist() + val.tolist()) == np.flatnonzero(kept).tolist()
        # 0.2 of 79 kept frames is about 16: never the 50-frame kitchen
        assert 'kitchen' not in held
        assert 8 <= val.size <= 22
    # one recording that alone overshoots the target is still held out (the nearest one)
    train, val = split_indices(58, np.ones(58, bool), 0.05, 0, _recording_names(
        {'kitchen': 50, 'cabinet': 8}))
    assert {_recording_names({'kitchen': 50, 'cabinet': 8})[i].split('/')[0] for i in val} \
        == {'cabinet'}


def test_split_by_recording_needs_two_recordings():
    names = _recording_names({'synthetic': 20})
    with pytest.raises(TrainingError,
                       match=r"needs two or more recordings .*found 1 \('synthetic'\)"):
        split_indices(20, np.ones(20, bool), 0.2, 0, names)
    with pytest.raises(TrainingError, match='val_split must be one of frame, recording'):
        cfg(val_split='scene').validate()


def test_training_validates_on_held_out_recordings(tmp_path):
    oracle = toy_oracle(n=40)
    oracle.names = _recording_names({'a': 10, 'b/run1': 10, 'b/run2': 10, 'c': 10})
    result = train_scale_net(oracle, cfg(epochs=3, val_split='recording'), tmp_path,
                             progress=False)
    split = json.loads((tmp_path / 'split.json').read_text())
    assert split['val_split'] == 'recording'
    held = set(split['val_recordings'])
    assert len(held) == 1 and held <= {'a', 'b/run1', 'b/run2', 'c'}
    assert {n.rsplit('/', 1)[0] for n in result.val_names} == held
    assert not {n.rsplit('/', 1)[0] for n in result.train_names} & held


def test_balanced_recordings_weigh_alike_however_long(tmp_path):
    w = recording_weights(['kitchen/0', 'kitchen/1', 'kitchen/2', 'cabinet/0'])
    assert w.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    # Identical images: the network can only learn one constant, the (weighted) mean log s.
    oracle = toy_oracle(n=44)
    oracle.images[:] = 128
    oracle.kept[:] = True
    oracle.names = _recording_names({'long': 40, 'short': 4})
    oracle.log_scales = np.r_[np.zeros(40), np.ones(4)]
    means = {}
    for balance in (False, True):
        out = tmp_path / str(balance)
        train_scale_net(oracle, cfg(epochs=30, val_fraction=0.0, augment_flip=False,
                                    lr=1e-2, balance_recordings=balance), out, progress=False)
        net, _ = load_scale_net(out / 'best', device='cpu')
        with torch.no_grad():
            means[balance] = float(net(preprocess_rgb(oracle.images[:1], net.config))[0])
    assert means[False] == pytest.approx(4 / 44, abs=0.12)
    assert means[True] == pytest.approx(0.5, abs=0.15)


def test_checkpoints_written_and_reload_identically(trained):
    oracle, out, result = trained
    for d in ('best', 'last', 'checkpoints/epoch_0004', 'checkpoints/epoch_0008',
              'checkpoints/epoch_0012'):
        assert (out / d / 'model.safetensors').is_file(), d
        assert (out / d / 'config.json').is_file(), d
    assert (out / 'last' / 'training_state.pt').is_file()
    assert (out / 'loss_curve.png').stat().st_size > 1000
    history = json.loads((out / 'history.json').read_text())
    assert history['simulated_base_model'] is True
    assert len(history['epochs']) == 12
    assert result.best_epoch in (3, 6, 9, 12)
    # the best checkpoint has the lowest validation loss
    vals = {h['epoch']: h['val_loss'] for h in result.history if h['val_loss'] is not None}
    assert result.best_val_loss == pytest.approx(min(vals.values()))
    model, net_cfg = load_scale_net(out / 'last')
    x = preprocess_rgb(oracle.images[:8], net_cfg)
    model2, _ = load_scale_net(out / 'last')
    with torch.no_grad():
        assert torch.equal(model(x), model2(x))
    # the reloaded best model reproduces the recorded validation loss
    best, best_cfg = load_scale_net(out / 'best')
    idx = [oracle.names.index(n) for n in result.val_names]
    with torch.no_grad():
        pred = best(preprocess_rgb(oracle.images[idx], best_cfg)).numpy()
    mse = float(np.mean((pred - oracle.log_scales[idx]) ** 2))
    assert mse == pytest.approx(result.best_val_loss, rel=1e-4)


def test_same_seed_same_history_and_resume_continues(tmp_path):
    oracle = toy_oracle(n=24)
    small = {'epochs': 6, 'val_every': 2, 'checkpoint_every': 0, 'step_size': 3}
    full = train_scale_net(oracle, cfg(**small), tmp_path / 'a', progress=False)
    again = train_scale_net(oracle, cfg(**small), tmp_path / 'b', progress=False)
    assert [h['train_loss'] for h in full.history] == [h['train_loss'] for h in again.history]
    other = train_scale_net(oracle, cfg(**small, seed=1), tmp_path / 'c', progress=False)
    assert [h['train_loss'] for h in full.history] != [h['train_loss'] for h in other.history]
    # interrupted after 4 epochs, then resumed to 6: same losses as the uninterrupted run
    part = train_scale_net(oracle, cfg(**{**small, 'epochs': 4}), tmp_path / 'r',
                           progress=False)
    assert len(part.history) == 4
    resumed = train_scale_net(oracle, cfg(**small), tmp_path / 'r', resume=True,
                              progress=False)
    assert [h['epoch'] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([h['train_loss'] for h in resumed.history],
                               [h['train_loss'] for h in full.history], rtol=1e-6)
    assert resumed.history[4]['lr'] == pytest.approx(full.history[4]['lr'])
    state = torch.load(tmp_path / 'r' / 'last' / 'training_state.pt', weights_only=True)
    assert int(state['epoch']) == 6


def test_bad_inputs_raise_clear_errors(tmp_path):
    oracle = toy_oracle(n=8)
    with pytest.raises(TrainingError, match='epochs'):
        train_scale_net(oracle, cfg(epochs=0), tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match='resume'):
        train_scale_net(oracle, cfg(), tmp_path / 'x', resume=True, progress=False)
    with pytest.raises(TrainingError, match='unknown ScaleNetConfig'):
        train_scale_net(oracle, cfg(net_options={'bogus': 1}), tmp_path, progress=False)
    with pytest.raises(TrainingError, match='rotate_deg'):
        train_scale_net(oracle, cfg(rotate_deg=90), tmp_path, progress=False)
    oracle.kept[:] = False
    with pytest.raises(TrainingError, match='no kept sample'):
        train_scale_net(oracle, cfg(), tmp_path, progress=False)


def test_roll_and_channel_shuffle_augmentation_keep_the_image_content():
    from adaptive_depth.scale_net import ScaleNetConfig

    x = torch.randn(2, 3, 8, 8)
    np.testing.assert_allclose(rotate_images(x, torch.zeros(2)), x, atol=1e-5)
    # 180° about the centre of a square image is a flip of both axes.
    half_turn = rotate_images(x, torch.full((2,), np.pi))
    np.testing.assert_allclose(half_turn, torch.flip(x, dims=(2, 3)), atol=1e-4)
    # A quarter turn of a wide image moves the top-left corner region to the bottom-left.
    wide = torch.zeros(1, 1, 16, 24)
    wide[..., :4, 10:14] = 1.0   # a blob on the top edge, centred
    turned = rotate_images(wide, torch.tensor([np.pi / 2]))
    assert float(turned[..., 6:10, 2:6].mean()) > 0.5 > float(turned[..., :4, 10:14].mean())
    net = ScaleNetConfig(input_size=(8, 8), channels=(4,), fc=())
    aug = Augmenter(net, flip=False, jitter=0.0, device=torch.device('cpu'), rotate_deg=0.0,
                    channel_shuffle=True)
    batch = torch.randn(16, 3, 8, 8)
    out, _ = aug.with_maps(batch, torch.Generator().manual_seed(0), None)
    moved = 0
    for src, dst in zip(batch, out):
        order = [int(np.argmin([float((dst[c] - src[k]).abs().max()) for k in range(3)]))
                 for c in range(3)]
        assert sorted(order) == [0, 1, 2]   # each output channel is one input channel
        np.testing.assert_allclose(dst, src[order], atol=1e-6)
        moved += order != [0, 1, 2]
    assert moved > 0


def test_training_with_roll_and_shuffle_runs_and_is_reproducible(tmp_path):
    oracle = toy_oracle(n=24)
    small = {'epochs': 3, 'val_every': 3, 'checkpoint_every': 0, 'rotate_deg': 6.0,
             'channel_shuffle': True}
    a = train_scale_net(oracle, cfg(**small), tmp_path / 'a', progress=False)
    b = train_scale_net(oracle, cfg(**small), tmp_path / 'b', progress=False)
    assert [h['train_loss'] for h in a.history] == [h['train_loss'] for h in b.history]
    plain = train_scale_net(oracle, cfg(**{**small, 'rotate_deg': 0.0}), tmp_path / 'c',
                            progress=False)
    assert [h['train_loss'] for h in a.history] != [h['train_loss'] for h in plain.history]


def test_ensemble_members_each_learn_and_checkpoint_keeps_them(tmp_path):
    oracle = toy_oracle()
    result = train_scale_net(oracle, cfg(net_options={**NET, 'members': 2}), tmp_path / 'ens',
                             progress=False)
    losses = [h['train_loss'] for h in result.history]
    assert losses[-1] < 0.3 * losses[0]
    model, net_cfg = load_scale_net(tmp_path / 'ens' / 'best')
    assert net_cfg.members == 2
    x = preprocess_rgb(oracle.images[:8], net_cfg)
    with torch.no_grad():
        members = model.forward_members(x)
    target = torch.as_tensor(oracle.log_scales[:8], dtype=torch.float32)
    # Each member fits the toy problem by itself, and they are different networks.
    for k in range(2):
        assert float(((members[:, k] - target) ** 2).mean()) < 0.3 * float(target.var())
    assert not torch.allclose(members[:, 0], members[:, 1])


def test_weight_average_follows_the_ramped_ema_rule():
    from adaptive_depth.training import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    average = WeightAverage(net, decay=0.9)
    start = net[0].weight.detach().clone()
    assert average.current_decay() == pytest.approx(2 / 11)   # ramp: (1 + t) / (10 + t), t = 1
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].running_mean.fill_(4.0)
    net[1].num_batches_tracked.fill_(7)
    average.update(net)
    w = 1 - 2 / 11
    torch.testing.assert_close(average.model[0].weight, start + w)
    torch.testing.assert_close(average.model[1].running_mean, torch.tensor([4.0 * w]))
    assert int(average.model[1].num_batches_tracked) == 7
    for _ in range(200):
        average.update(net)
    assert average.current_decay() == pytest.approx(0.9)
    torch.testing.assert_close(average.model[0].weight, start + 1, atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in average.model.parameters())


def test_weight_average_is_what_training_saves_and_resumes(tmp_path):
    oracle = toy_oracle(n=24)
    small = {'epochs': 6, 'val_every': 2, 'checkpoint_every': 0, 'step_size': 3,
             'ema_decay': 0.9}
    full = train_scale_net(oracle, cfg(**small), tmp_path / 'a', progress=False)
    plain = train_scale_net(oracle, cfg(**{**small, 'ema_decay': 0.0}), tmp_path / 'p',
                            progress=False)
    # the raw training run is unchanged by the average; the saved network is not the raw one
    assert [h['train_loss'] for h in full.history] == [h['train_loss'] for h in plain.history]
    assert [h['val_loss'] for h in full.history] != [h['val_loss'] for h in plain.history]
    state = torch.load(tmp_path / 'a' / 'last' / 'training_state.pt', weights_only=True)
    saved, _ = load_scale_net(tmp_path / 'a' / 'last')
    raw = state['raw_model']
    steps_per_epoch = -(-len(full.train_names) // 16)
    assert int(state['ema_updates']) == 6 * steps_per_epoch
    assert any(not torch.equal(raw[k], v) for k, v in saved.state_dict().items()
               if v.dtype.is_floating_point)
    # the validation loss recorded is the saved (averaged) network's
    best, best_cfg = load_scale_net(tmp_path / 'a' / 'best')
    idx = [oracle.names.index(n) for n in full.val_names]
    with torch.no_grad():
        pred = best(preprocess_rgb(oracle.images[idx], best_cfg)).numpy()
    assert float(np.mean((pred - oracle.log_scales[idx]) ** 2)) == pytest.approx(
        full.best_val_loss, rel=1e-4)
    # interrupted and resumed: the same losses and the same averaged weights
    train_scale_net(oracle, cfg(**{**small, 'epochs': 4}), tmp_path / 'r', progress=False)
    with pytest.raises(TrainingError, match='ema_decay'):
        train_scale_net(oracle, cfg(**{**small, 'ema_decay': 0.0}), tmp_path / 'r',
                        resume=True, progress=False)
    resumed = train_scale_net(oracle, cfg(**small), tmp_path / 'r', resume=True,
                              progress=False)
    np.testing.assert_allclose([h['val_loss'] or 0 for h in resumed.history],
                               [h['val_loss'] or 0 for h in full.history], rtol=1e-5)
    again, _ = load_scale_net(tmp_path / 'r' / 'last')
    for k, v in saved.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_weight_average_without_hold_out_saves_the_last_epoch(tmp_path):
    oracle = toy_oracle(n=24)
    result = train_scale_net(oracle, cfg(epochs=3, val_fraction=0.0, ema_decay=0.5),
                             tmp_path, progress=False)
    assert result.best_epoch == 3
    history = json.loads((tmp_path / 'history.json').read_text())
    assert history['selection'] == 'last_epoch'
    # a finished run continued to more epochs saves its new last epoch, whatever the losses
    # (here its recorded loss is made lower than any the continuation can reach)
    state_path = tmp_path / 'last' / 'training_state.pt'
    state = torch.load(state_path, weights_only=True)
    state['best_loss'] = 0.0
    torch.save(state, state_path)
    longer = train_scale_net(oracle, cfg(epochs=5, val_fraction=0.0, ema_decay=0.5),
                             tmp_path, resume=True, progress=False)
    assert longer.best_epoch == 5
    with pytest.raises(TrainingError, match='ema_decay'):
        cfg(ema_decay=1.0).validate()
