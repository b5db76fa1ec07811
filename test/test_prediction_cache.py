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

"""Tests of the prediction cache and the base models (simulated, cached, DA2 wrapper)."""

import json
import warnings

from adaptive_depth.base_models import CachedBaseModel, DepthAnythingBase, SimulatedBaseModel
from adaptive_depth.datasets import open_dataset
from adaptive_depth.geometry import NYU_INTRINSICS
from adaptive_depth.oracle import optimal_scale
from adaptive_depth.prediction_cache import predict_cached, PredictionCache, sanitize_name
from adaptive_depth.sample import RGBDSample
import numpy as np
import pytest


class CountingModel:
    """A fake base model that counts its calls; prediction = 0.5 × gt (invalid → 1 m)."""

    simulated = False

    def __init__(self, name='counting-fake'):
        self.name = name
        self.model_key = name
        self.calls = []

    def predict(self, sample):
        self.calls.append(sample.name)
        return np.nan_to_num(sample.depth * 0.5, nan=1.0).astype(np.float32)


@pytest.fixture(scope='module')
def small_dataset():
    return open_dataset('synthetic:4', width=40, height=30)


def _flat_sample(name, depth_value, h=30, w=40, meta=None):
    depth = np.full((h, w), depth_value, np.float32)
    depth[0, :5] = np.nan
    rng = np.random.default_rng(0)
    depth *= rng.uniform(0.8, 1.2, size=(h, w)).astype(np.float32)
    return RGBDSample(name=name, rgb=np.zeros((h, w, 3), np.uint8), depth=depth,
                      intrinsics=NYU_INTRINSICS.scaled(w, h), meta=meta or {})


def test_cache_reuses_predictions(tmp_path, small_dataset):
    model = CountingModel()
    cache = PredictionCache(tmp_path, model.model_key, model_name=model.name)
    first = [(s.name, p) for s, p in predict_cached(small_dataset, model, cache)]
    assert model.calls == small_dataset.names()
    assert (cache.misses, cache.hits) == (4, 0)
    # A fresh cache object (a new run) loads everything and never calls the model.
    cache2 = PredictionCache(tmp_path, model.model_key, model_name=model.name)
    second = [(s.name, p) for s, p in predict_cached(small_dataset, model, cache2)]
    assert len(model.calls) == 4
    assert (cache2.misses, cache2.hits) == (0, 4)
    for (n1, p1), (n2, p2) in zip(first, second):
        assert n1 == n2
        np.testing.assert_array_equal(p1, p2)
        assert p2.dtype == np.float32
    files = sorted(p.name for p in cache.directory.iterdir())
    assert files == sorted([f'{sanitize_name(n)}{ext}' for n in small_dataset.names()
                            for ext in ('.npy', '.sha1')] + ['manifest.json'])
    manifest = json.loads((cache.directory / 'manifest.json').read_text())
    assert manifest['model'] == 'counting-fake' and manifest['simulated'] is False
    assert manifest['datasets'] == ['synthetic:4:0']


def test_cache_resumes_after_interruption(tmp_path, small_dataset):
    model = CountingModel()
    cache = PredictionCache(tmp_path, 'k', model_name=model.name)
    stream = predict_cached(small_dataset, model, cache)
    next(stream)
    next(stream)
    stream.close()  # interrupted after two samples
    assert len(model.calls) == 2
    list(predict_cached(small_dataset, model, PredictionCache(tmp_path, 'k')))
    assert model.calls == small_dataset.names()  # only the missing two were computed


def test_atomic_writes_leave_no_partial_file(tmp_path, monkeypatch):
    cache = PredictionCache(tmp_path, 'm', model_name='m')
    cache.save('a', np.ones((3, 4), np.float32))

    def broken_save(fh, array, allow_pickle=False):
        fh.write(b'\x93NUMPY partial')
        raise OSError('disk full')

    monkeypatch.setattr(np, 'save', broken_save)
    with pytest.raises(OSError, match='disk full'):
        cache.save('b', np.ones((3, 4), np.float32))
    monkeypatch.undo()
    names = sorted(p.name for p in cache.directory.iterdir())
    assert names == ['a.npy', 'manifest.json']  # no b.npy, no temporary file
    assert 'b' not in cache and 'a' in cache


def test_corrupt_or_wrong_shape_entries_are_recomputed(tmp_path, small_dataset):
    model = CountingModel()
    cache = PredictionCache(tmp_path, 'k', model_name=model.name)
    list(predict_cached(small_dataset, model, cache))
    name0, name1 = small_dataset.names()[:2]
    cache.path_for(name0).write_bytes(b'garbage')
    np.save(cache.path_for(name1), np.zeros((2, 2), np.float32))
    with pytest.warns(UserWarning, match='ignoring'):
        list(predict_cached(small_dataset, model, PredictionCache(tmp_path, 'k')))
    assert model.calls[4:] == [name0, name1]
    assert np.load(cache.path_for(name1)).shape == (30, 40)


def test_float16_cache_agrees_between_runs(tmp_path, small_dataset):
    model = CountingModel()
    a = [p for _, p in predict_cached(small_dataset, model,
                                      PredictionCache(tmp_path, 'h', dtype='float16'))]
    b = [p for _, p in predict_cached(small_dataset, model,
                                      PredictionCache(tmp_path, 'h', dtype='float16'))]
    assert np.load(PredictionCache(tmp_path, 'h').path_for(
        small_dataset.names()[0])).dtype == np.float16
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match='dtype'):
        PredictionCache(tmp_path, 'h', dtype='int8')


def test_cache_refuses_another_model(tmp_path):
    cache = PredictionCache(tmp_path, 'same', model_name='model-a')
    cache.write_manifest()
    with pytest.raises(ValueError, match='model-a'):
        PredictionCache(tmp_path, 'same', model_name='model-b')


def test_sanitize_name_is_safe_and_collision_free():
    names = ['nyu/00001', 'nyu_00001', 'a b', 'a_b', '../evil', 'plain-1.x']
    safe = [sanitize_name(n) for n in names]
    assert len(set(safe)) == len(names)
    assert all('/' not in s and ' ' not in s and not s.startswith('.') for s in safe)
    assert sanitize_name('plain-1.x') == 'plain-1.x'


def test_simulated_model_is_deterministic_and_labelled():
    model = SimulatedBaseModel()
    assert model.simulated is True and model.name.startswith('simulated')
    s = _flat_sample('x/1', 3.0, meta={'room_size_m': 6.0})
    p1 = model.predict(s)
    p2 = SimulatedBaseModel().predict(s)
    np.testing.assert_array_equal(p1, p2)
    assert p1.dtype == np.float32 and p1.shape == s.depth.shape
    assert np.isfinite(p1).all()  # invalid gt pixels are still predicted
    other = SimulatedBaseModel(seed=1)
    assert not np.array_equal(other.predict(s), p1)
    assert other.model_key != model.model_key
    renamed = _flat_sample('x/2', 3.0, meta={'room_size_m': 6.0})
    assert not np.array_equal(model.predict(renamed), p1)


def test_simulated_scale_follows_visible_room_size():
    model = SimulatedBaseModel(gamma=1.0, room_size_ref_m=6.0, scale_sigma=0.05)
    oracle = {}
    for far in (3.0, 6.0, 12.0):
        # The visible room size is the 90th percentile of the valid depth in view.
        s = _flat_sample(f'room/{far}', far / 1.1, meta={'room_size_m': 100.0})
        size = model.visible_size(s)
        assert size == pytest.approx(np.percentile(s.depth[np.isfinite(s.depth)], 90))
        m = model.scale_factor(s)
        # m = (ref / visible size) ** gamma × exp(eps), |eps| small; meta is ignored.
        assert abs(np.log(m) - np.log(6.0 / size)) < 0.25
        oracle[far] = optimal_scale(model.predict(s), s.depth)
        assert oracle[far] == pytest.approx(1.0 / m, rel=0.05)
    assert oracle[3.0] < oracle[6.0] < oracle[12.0]
    # Without noise the error is exactly the power law, and gamma sets the exponent.
    s = _flat_sample('room/exact', 2.0)
    exact = SimulatedBaseModel(gamma=1.5, room_size_ref_m=6.0, scale_sigma=0.0)
    assert exact.scale_factor(s) == pytest.approx((6.0 / exact.visible_size(s)) ** 1.5)
    median = SimulatedBaseModel(size_percentile=50, scale_sigma=0.0)
    assert median.visible_size(s) == pytest.approx(np.median(s.depth[np.isfinite(s.depth)]))
    assert median.model_key != SimulatedBaseModel(scale_sigma=0.0).model_key
    with pytest.raises(ValueError, match='size_percentile'):
        SimulatedBaseModel(size_percentile=0)
    empty = _flat_sample('real/2', np.nan)
    with pytest.raises(ValueError, match='real/2'):
        model.predict(empty)
    with pytest.raises(ValueError, match='real/2'):
        model.visible_size(empty)


@pytest.mark.parametrize('name, value', [
    ('scale_sigma', 1000.0), ('scale_sigma', 1.01), ('gamma', 1000.0), ('gamma', 5.5),
    ('noise', 100.0), ('distortion', 100.0), ('room_size_ref_m', 1e300)])
def test_simulated_parameters_out_of_range_are_refused(name, value):
    with pytest.raises(ValueError, match=f'simulated model {name} must be <= '):
        SimulatedBaseModel(**{name: value})


def test_simulated_model_at_its_limits_stays_finite():
    limits = SimulatedBaseModel.LIMITS
    model = SimulatedBaseModel(**limits)
    for depth in (0.5, 3.0, 10.0):
        s = _flat_sample(f'limits/{depth}', depth)
        assert np.isfinite(model.scale_factor(s))
        assert np.isfinite(model.predict(s)).all()


@pytest.mark.parametrize('option', ['--sim-sigma', '--sim-gamma'])
def test_generate_oracle_refuses_huge_simulated_parameters(option, tmp_path, capsys):
    from adaptive_depth.tools.generate_oracle import main

    out = tmp_path / 'oracle'
    argv = ['--data', 'synthetic:2', '--simulated', option, '1000', '--out', str(out),
            '--no-progress']
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('generate_oracle: error: simulated model') and '\n' not in err
    assert ('scale_sigma' if option == '--sim-sigma' else 'gamma') in err
    assert not (out / 'oracle.json').exists()


def test_cached_base_model_reads_another_models_cache(tmp_path, small_dataset):
    sim = SimulatedBaseModel()
    cache = PredictionCache(tmp_path, sim.model_key, model_name=sim.name, simulated=True)
    stored = {s.name: p for s, p in predict_cached(small_dataset, sim, cache)}
    for path in (cache.directory, tmp_path):  # the model folder or its root
        cached = CachedBaseModel(path)
        assert cached.name == sim.name and cached.simulated is True
        sample = small_dataset[2]
        np.testing.assert_array_equal(cached.predict(sample), stored[sample.name])
    missing = _flat_sample('not/cached', 2.0)
    with pytest.raises(FileNotFoundError, match='not/cached'):
        CachedBaseModel(cache.directory).predict(missing)
    impostor = small_dataset[2]
    impostor = type(impostor)(name=impostor.name, rgb=255 - impostor.rgb, depth=impostor.depth,
                              intrinsics=impostor.intrinsics, meta=impostor.meta)
    with pytest.raises(ValueError, match='computed from another image'):
        CachedBaseModel(cache.directory).predict(impostor)  # same name, another image
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='not a prediction cache'):
        CachedBaseModel(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='nowhere'):
        CachedBaseModel(tmp_path / 'nowhere')


def test_depth_anything_base_wraps_a_runner():
    class FakeRunner:
        name = 'depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf'
        input_size = 518
        precision = 'fp16'

        def predict(self, rgb):
            return np.full(rgb.shape[:2], 2.0, np.float64)

    base = DepthAnythingBase(FakeRunner())
    assert base.simulated is False and base.name == FakeRunner.name
    assert 'in518' in base.model_key and 'fp16' in base.model_key and '/' not in base.model_key
    pred = base.predict(_flat_sample('a', 1.0))
    assert pred.dtype == np.float32 and pred.shape == (30, 40) and (pred == 2.0).all()
    runner2 = FakeRunner()
    runner2.input_size = 392
    assert DepthAnythingBase(runner2).model_key != base.model_key


def test_another_image_of_the_same_name_is_not_served_from_the_cache(tmp_path):
    """Two datasets with a sample of the same name (two folders named alike): no mix-up."""
    model = CountingModel()
    first = _flat_sample('run/000', 2.0)
    other = _flat_sample('run/000', 2.0)
    other.rgb[:] = 7  # another image under the same name
    cache = PredictionCache(tmp_path, model.model_key, model_name=model.name)
    list(predict_cached([first], model, cache))
    list(predict_cached([first], model, cache))
    assert (cache.misses, cache.hits) == (1, 1)
    with pytest.warns(UserWarning, match='computed from another image'):
        list(predict_cached([other], model, cache))
    assert (cache.misses, len(model.calls)) == (2, 2)
    list(predict_cached([other], model, cache))  # now stored for this image
    assert (cache.hits, len(model.calls)) == (2, 2)
    # a prediction written by another program (no .sha1) is matched by name
    cache.path_for('run/000').with_suffix('.sha1').unlink()
    assert cache.load('run/000', (30, 40), 'f' * 40) is not None
    # the simulated model predicts from the depth as well: another depth is another sample
    sim = CountingModel('counting-sim')
    sim.simulated = True
    sim_cache = PredictionCache(tmp_path, sim.model_key, model_name=sim.name)
    deeper = _flat_sample('run/000', 3.0)
    for sample in (first, deeper):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            list(predict_cached([sample], sim, sim_cache))
    assert len(sim.calls) == 2
