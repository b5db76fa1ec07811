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

"""End-to-end tests of the ``generate_oracle`` CLI and the oracle directory format."""

import json
import os
from pathlib import Path
import subprocess
import sys

from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.datasets import open_dataset
from adaptive_depth.metrics import eigen_crop_mask
from adaptive_depth.oracle import optimal_scale, percentile_mask, scaled_wasserstein
from adaptive_depth.oracle_dataset import (coarse_depth_grid, concat_oracles,
                                           OracleFormatError, read_oracle_dir,
                                           resize_for_oracle, write_oracle_dir)
from adaptive_depth.prediction_cache import PredictionCache
from adaptive_depth.scale_net import relative_depth_copy
from adaptive_depth.tools.generate_oracle import main
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def cache_dir_name(data):
    """Return the prediction-cache folder name (sanitised model key) of an oracle directory."""
    return data.record.cache_directory(data.path).name


SIM_ARGS = ['--data', 'synthetic:12', '--synthetic-size', '120x160', '--simulated',
            '--no-progress']


@pytest.fixture(scope='module')
def sim_oracle(tmp_path_factory):
    out = tmp_path_factory.mktemp('oracle') / 'sim'
    assert main(SIM_ARGS + ['--out', str(out)]) == 0
    return out


def test_simulated_oracle_directory(sim_oracle, capsys):
    data = read_oracle_dir(sim_oracle)
    dataset = open_dataset('synthetic:12', width=160, height=120)
    assert data.names == dataset.names()
    assert data.simulated and data.base_model_name.startswith('simulated')
    assert data.meta['dataset']['spec'] == 'synthetic:12'
    assert data.meta['bounds'] == [0.1, 2.0] and data.meta['percentile_filter'] == [5.0, 95.0]
    assert data.meta['counts'] == {'total': 12, 'valid': 12, 'kept': int(data.kept.sum()),
                                   'filtered': 12 - int(data.kept.sum()), 'failed': 0}
    np.testing.assert_array_equal(data.kept, percentile_mask(data.scales, 5, 95))
    np.testing.assert_allclose(data.log_scales, np.log(data.scales))
    assert data.images.shape == (12, 240, 320, 3) and data.images.dtype == np.uint8
    assert (sim_oracle / 'scale_histogram.png').stat().st_size > 1000
    model = SimulatedBaseModel()  # the CLI defaults
    cache = PredictionCache(sim_oracle / 'predictions', model.model_key)
    for i in (0, 7):
        sample = dataset[i]
        np.testing.assert_array_equal(data.images[i], resize_for_oracle(sample.rgb))
        pred = cache.load(sample.name)
        np.testing.assert_array_equal(pred, model.predict(sample))
        assert data.scales[i] == pytest.approx(optimal_scale(pred, sample.depth), rel=1e-9)
        assert data.w1[i] == pytest.approx(
            scaled_wasserstein(pred, sample.depth, data.scales[i]), rel=1e-6)
        # The simulated model's error is known: s* is close to 1 / m.
        assert data.scales[i] == pytest.approx(1.0 / model.scale_factor(sample), rel=0.05)
        assert data.n_valid[i] == 160 * 120
        # The coarse ground-truth depth the auxiliary depth loss trains on.
        np.testing.assert_allclose(data.depth_grids[i],
                                   coarse_depth_grid(sample.depth, sample.valid_mask()),
                                   rtol=1e-6)
        # The scale-free copy of the prediction that depth_input networks read.
        np.testing.assert_array_equal(data.relative_depths[i],
                                      relative_depth_copy(pred, (240, 320)))
    assert data.relative_depths.shape == (12, 240, 320)
    assert data.relative_depths.dtype == np.float16
    assert data.depth_grids.shape == (12, 24, 32) and data.meta['depth_grid_size'] == [24, 32]
    assert np.isfinite(data.depth_grids).all()
    # Scales of rooms of different sizes spread out (what the scale network must learn).
    assert data.scales.max() / data.scales.min() > 1.5


def test_rerun_reuses_cache_and_no_filter(sim_oracle, capsys):
    before = read_oracle_dir(sim_oracle, load_images=False)
    assert main(SIM_ARGS + ['--out', str(sim_oracle), '--no-filter', '--overwrite']) == 0
    out = capsys.readouterr().out
    assert 'SIMULATED' in out
    assert '0 computed, 12 from the cache' in out
    after = read_oracle_dir(sim_oracle, mmap=True)
    np.testing.assert_array_equal(before.scales, after.scales)
    assert after.kept.all() and after.meta['percentile_filter'] is None
    # The summary names the one constant a fixed-scale calibration would use (all rows kept).
    constant = float(np.exp(np.mean(np.log(after.scales))))
    assert f'over the kept rows: {constant:.4f} (the fixed_scale' in out


def test_predictions_option_uses_another_cache(sim_oracle, tmp_path):
    model_dir = PredictionCache(sim_oracle / 'predictions', SimulatedBaseModel().model_key)
    out = tmp_path / 'from_cache'
    assert main(['--data', 'synthetic:12', '--synthetic-size', '120x160', '--predictions',
                 str(model_dir.directory), '--limit', '5', '--no-progress',
                 '--bounds', '0.2', '1.0', '--out', str(out)]) == 0
    data = read_oracle_dir(out)
    ref = read_oracle_dir(sim_oracle, load_images=False)
    assert len(data) == 5 and data.simulated  # the label travels with the cache
    np.testing.assert_allclose(data.scales, np.clip(ref.scales[:5], 0.2, 1.0), rtol=1e-9)


def test_real_nyu_frames_with_tiny_da2(tmp_path, tiny_da2_dir, nyu_sample_dir):
    out = tmp_path / 'nyu'
    assert main(['--data', f'nyu-folder:{nyu_sample_dir}', '--model', str(tiny_da2_dir),
                 '--device', 'cpu', '--input-size', '56', '--limit', '2', '--no-filter',
                 '--no-progress', '--out', str(out)]) == 0
    data = read_oracle_dir(out)
    assert data.names == ['nyu-test/00000', 'nyu-test/00001']
    assert not data.simulated and data.base_model_name == str(tiny_da2_dir)
    assert data.meta['prediction_cache'] == f'predictions/{cache_dir_name(data)}'
    cache_dir = data.record.cache_directory(out)
    assert cache_dir.parent == out / 'predictions'
    manifest = json.loads((cache_dir / 'manifest.json').read_text())
    assert manifest['model'] == str(tiny_da2_dir) and manifest['simulated'] is False
    sample = open_dataset(f'nyu-folder:{nyu_sample_dir}')[1]
    pred = PredictionCache(cache_dir.parent, cache_dir.name).load('nyu-test/00001')
    assert pred.shape == (480, 640) and np.isfinite(pred).all()
    crop = eigen_crop_mask(480, 640)
    assert data.n_valid[1] == int((crop & np.isfinite(sample.depth)).sum())
    assert data.scales[1] == pytest.approx(optimal_scale(pred, sample.depth, crop), rel=1e-9)
    assert data.meta['eval_crop'] == 'auto'


@pytest.mark.parametrize('argv, pattern', [
    (['--data', 'folder:/no/such/folder', '--simulated'], '/no/such/folder'),
    (['--data', 'synthetic:abc', '--simulated'], 'synthetic:N'),
    (['--data', 'synthetic:2', '--simulated', '--split', 'train'], '--split'),
    (['--data', 'synthetic:2', '--simulated', '--bounds', '2', '1'], 'LOW < HIGH'),
    (['--data', 'synthetic:2', '--simulated', '--filter-percentiles', '50', '10'],
     'filter-percentiles'),
    (['--data', 'synthetic:2', '--predictions', '/no/cache/here'], '/no/cache/here'),
    (['--data', 'synthetic:2', '--simulated', '--synthetic-size', '60x80'],
     'percentile filter keeps none of the 2 samples'),
])
def test_user_errors_exit_with_message(argv, pattern, tmp_path, capsys):
    assert main(argv + ['--out', str(tmp_path / 'o'), '--no-progress']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('generate_oracle: error:') and '\n' not in err
    assert pattern in err


@pytest.mark.parametrize('argv', [
    ['--simulated', '--out', 'x'],                                      # no --data
    ['--data', 'synthetic:2', '--out', 'x'],                            # no base model
    ['--data', 'synthetic:2', '--simulated', '--model', 'm', '--out', 'x'],  # two models
    ['--data', 'synthetic:2', '--simulated', '--out', 'x', '--limit', '0'],
])
def test_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert 'generate_oracle: error:' in capsys.readouterr().err


def test_a_second_data_source_is_refused_not_dropped(capsys):
    with pytest.raises(SystemExit) as info:
        main(['--data', 'synthetic:2', '--data', 'synthetic:3', '--simulated', '--out', 'x'])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--data: given twice ('synthetic:2', then 'synthetic:3')" in err
    assert 'train_scale_net --oracle' in err


def test_console_subprocess_reports_without_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'adaptive_depth.tools.generate_oracle', '--data',
         f'nyu-folder:{tmp_path / "missing"}', '--simulated', '--out', str(tmp_path / 'o')],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert 'missing' in proc.stderr
    help_text = subprocess.run(
        [sys.executable, '-m', 'adaptive_depth.tools.generate_oracle', '--help'],
        capture_output=True, text=True, env=env, timeout=120).stdout
    for option in ('--data', '--split-file', '--simulated', '--predictions', '--cache',
                   '--bounds', '--filter-percentiles', '--eval-crop', '--limit'):
        assert option in help_text


def test_oracle_dir_round_trip_and_errors(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 240, 320, 3), dtype=np.uint8)
    write_oracle_dir(tmp_path, ['a', 'b,c', 'd'], [0.5, 1.5, np.nan], [0.1, 0.2, np.nan],
                     [10, 20, 0], [True, False, False], images,
                     meta={'base_model': {'name': 'x', 'simulated': False}})
    data = read_oracle_dir(tmp_path)
    assert data.names == ['a', 'b,c', 'd']
    np.testing.assert_array_equal(data.images, images)
    assert np.isnan(data.scales[2]) and not data.kept[2]
    assert data.meta['counts']['failed'] == 1
    with pytest.raises(ValueError, match='names'):
        write_oracle_dir(tmp_path / 'bad', ['a'], [1.0, 2.0], [0, 0], [1, 1], [1, 1], None)
    with pytest.raises(ValueError, match='uint8'):
        write_oracle_dir(tmp_path / 'bad', ['a'], [1.0], [0], [1], [1],
                         np.zeros((1, 240, 320, 3), np.float32))
    csv_path = tmp_path / 'oracle.csv'
    csv_path.write_text(csv_path.read_text().replace('0.5', 'half'))
    with pytest.raises(OracleFormatError, match='oracle.csv: line 2'):
        read_oracle_dir(tmp_path)
    (tmp_path / 'oracle.json').unlink()
    with pytest.raises(FileNotFoundError, match='oracle.json'):
        read_oracle_dir(tmp_path)


def _tiny_oracle(path, names, model='sim', grids=True, simulated=True):
    n = len(names)
    rng = np.random.default_rng(len(names))
    log_s = rng.normal(-0.5, 0.2, n)
    write_oracle_dir(path, names, np.exp(log_s), np.zeros(n), np.full(n, 100),
                     np.ones(n, bool), rng.integers(0, 256, (n, 240, 320, 3), dtype=np.uint8),
                     meta={'base_model': {'name': model, 'simulated': simulated,
                                          'model_key': f'{model}-key'},
                           'dataset': {'spec': f'folder:{path.name}', 'options': {}}},
                     depth_grids=np.ones((n, 24, 32), np.float32) if grids else None)
    return read_oracle_dir(path)


def test_concat_oracles_joins_recordings_of_one_base_model(tmp_path):
    a = _tiny_oracle(tmp_path / 'office', ['office/run1/0', 'office/run1/1', 'office/run2/0'])
    b = _tiny_oracle(tmp_path / 'lab', ['lab/0', 'lab/1'], grids=False)
    both = concat_oracles([a, b])
    assert both.names == a.names + b.names and len(both) == 5
    np.testing.assert_array_equal(both.log_scales, np.concatenate([a.log_scales, b.log_scales]))
    np.testing.assert_array_equal(both.images[3], b.images[0])
    assert both.depth_grids is None   # only kept when every part has them
    assert both.record.base_model_name == 'sim' and both.record.simulated
    assert both.record.dataset_spec == 'folder:office + folder:lab'
    assert [s['rows'] for s in both.meta['sources']] == [3, 2]
    assert concat_oracles([a]) is a
    other = _tiny_oracle(tmp_path / 'real', ['real/0'], model='da2')
    with pytest.raises(OracleFormatError, match='base model da2 .* same model'):
        concat_oracles([a, other])
    with pytest.raises(OracleFormatError, match="'office/run1/0' is in more than one"):
        concat_oracles([a, a])
