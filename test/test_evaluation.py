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

"""Tests of adaptive_depth.evaluation (Tables I/II, gap closure, writers, Fig. 3)."""

import csv
import json
import math

from adaptive_depth import evaluation as ev
from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.datasets import open_dataset
from adaptive_depth.metrics import depth_metrics, eigen_crop_mask, scale_errors
from adaptive_depth.oracle import optimal_scale, scaled_wasserstein
from adaptive_depth.oracle_dataset import OracleData, resize_for_oracle
from adaptive_depth.sample import RGBDSample
import numpy as np
import pytest


TRAIN_MEAN = 0.7
"""The training-mean scale given to the fixture's evaluation (a constant for every image)."""


class FakePredictor:
    """Predicts the geometric midpoint between s = 1 and the oracle scale of each sample."""

    def __init__(self, truth):
        self.truth = truth

    def predict_scale(self, rgb):
        return math.sqrt(self.truth[int(rgb[0, 0, 0])])


@pytest.fixture(scope='module')
def setup():
    samples = list(open_dataset('synthetic:6:500', width=160, height=120))
    # tag each image's first pixel with its index so FakePredictor can find its oracle scale
    for i, s in enumerate(samples):
        s.rgb = s.rgb.copy()
        s.rgb[0, 0, 0] = i
    model = SimulatedBaseModel()
    preds = {s.name: model.predict(s) for s in samples}
    scales = np.array([optimal_scale(preds[s.name], s.depth, s.valid_mask()) for s in samples])
    oracle = OracleData(names=[s.name for s in samples], scales=scales,
                        log_scales=np.log(scales), w1=np.zeros(6), n_valid=np.zeros(6, int),
                        kept=np.ones(6, bool),
                        images=np.stack([resize_for_oracle(s.rgb) for s in samples]),
                        meta={'base_model': {'name': model.name, 'simulated': True}})
    truth = {i: scales[i] for i in range(6)}
    result = ev.evaluate_split(oracle, FakePredictor(truth), split='test', dataset=samples,
                               base_predictor=lambda s: preds[s.name],
                               keep_frames=[samples[1].name], progress=False,
                               train_mean=TRAIN_MEAN)
    return samples, preds, scales, result


def test_metrics_equal_depth_metrics_on_same_frames(setup):
    samples, preds, scales, result = setup
    assert result.names == [s.name for s in samples]
    for i, s in enumerate(samples):
        mask = s.valid_mask()
        row = result.per_sample[i]
        for method, k in (('none', 1.0), ('oracle', scales[i]),
                          ('learned', math.sqrt(scales[i])), ('train_mean', TRAIN_MEAN)):
            expected = depth_metrics(preds[s.name] * np.float32(k), s.depth, mask)
            for key, value in expected.items():
                assert row[f'{method}_{key}'] == pytest.approx(value, rel=1e-6)
    assert result.methods == ev.METHODS
    for method in ev.METHODS:
        mean = np.mean([r[f'{method}_abs_rel'] for r in result.per_sample])
        assert result.metrics[method]['abs_rel'] == pytest.approx(mean)


def test_oracle_not_worse_than_none_in_w1(setup):
    samples, preds, scales, result = setup
    for i, row in enumerate(result.per_sample):
        assert row['oracle_w1'] <= row['none_w1'] + 1e-6
        s = samples[i]
        assert row['none_w1'] == pytest.approx(
            scaled_wasserstein(preds[s.name], s.depth, 1.0, s.valid_mask()), rel=1e-5)
    assert result.metrics['oracle']['abs_rel'] < result.metrics['none']['abs_rel']


def test_gap_closure_and_table1(setup):
    _, _, scales, result = setup
    m = result.metrics
    expected = ((m['none']['abs_rel'] - m['learned']['abs_rel'])
                / (m['none']['abs_rel'] - m['oracle']['abs_rel']))
    assert result.gap_closure == pytest.approx(expected)
    assert 0.0 < result.gap_closure < 1.0
    assert ev.gap_closure(0.2, 0.1, 0.1) == pytest.approx(1.0)
    assert ev.gap_closure(0.2, 0.1, 0.2) == pytest.approx(0.0)
    assert ev.gap_closure(0.2, 0.1, 0.25) == pytest.approx(-0.5)
    assert math.isnan(ev.gap_closure(0.1, 0.1, 0.05))
    assert math.isnan(ev.gap_closure(0.1, 0.09999, 0.105))  # a gap of 0.01 %: no ratio of -500
    assert ev.gap_closure(0.1, 0.0985, 0.099) == pytest.approx(2 / 3)  # 1.5 %: a gap
    learned = np.sqrt(scales)
    assert result.scale_table['learned']['mae_linear'] == pytest.approx(
        scale_errors(learned, scales)['mae'])
    assert result.scale_table['learned']['rmse_log'] == pytest.approx(
        scale_errors(learned, scales, 'log')['rmse'])
    # the midpoint in log space halves the log error of s = 1
    assert result.scale_table['learned']['mae_log'] == pytest.approx(
        0.5 * result.scale_table['none']['mae_log'])
    # the constant baseline is scored like any method: its gap closure and its Table I row
    assert result.train_mean_gap_closure == pytest.approx(
        (m['none']['abs_rel'] - m['train_mean']['abs_rel'])
        / (m['none']['abs_rel'] - m['oracle']['abs_rel']))
    assert result.scale_table['train_mean']['mae_log'] == pytest.approx(
        np.mean(np.abs(np.log(TRAIN_MEAN) - np.log(scales))))


def test_train_mean_scale_is_the_geometric_mean_of_the_kept_rows():
    log_s = np.log([0.5, 0.8, np.nan, 2.0])
    split = OracleData(names=list('abcd'), scales=np.exp(log_s), log_scales=log_s,
                       w1=np.zeros(4), n_valid=np.zeros(4, int),
                       kept=np.array([True, True, True, False]),
                       images=np.zeros((4, 2, 2, 3), np.uint8), meta={})
    assert ev.train_mean_scale(split) == pytest.approx(math.sqrt(0.5 * 0.8))
    split.kept = np.array([False, False, True, False])   # only the NaN row is kept
    with pytest.raises(ev.EvaluationError, match='training-mean'):
        ev.train_mean_scale(split)


def test_tables_written(setup, tmp_path):
    _, _, _, result = setup
    paths = ev.write_results([result], tmp_path, extra={'checkpoint': 'x'})
    for name in ('table1.md', 'table1.csv', 'table1.json', 'table2.md', 'table2.csv',
                 'table2.json', 'per_sample.csv'):
        assert paths[name].is_file() and paths[name].stat().st_size > 50, name
    md = (tmp_path / 'table2.md').read_text()
    assert 'SIMULATED base model' in md and 'mean of per-image' in md
    assert 'SIMULATED base model' in (tmp_path / 'table1.md').read_text()
    t2 = json.loads((tmp_path / 'table2.json').read_text())
    assert t2['simulated_base_model'] is True
    assert t2['splits']['test']['gap_closure'] == pytest.approx(result.gap_closure)
    assert t2['splits']['test']['train_mean_gap_closure'] == pytest.approx(
        result.train_mean_gap_closure)
    assert 'training-mean scale (one constant, no image) closes' in md
    with open(tmp_path / 'table2.csv') as fh:
        rows = list(csv.DictReader(fh))
    assert [r['method'] for r in rows] == ['none', 'oracle', 'learned', 'train_mean']
    assert float(rows[3]['gap_closure']) == pytest.approx(result.train_mean_gap_closure)
    assert 'training-mean scale vs oracle' in (tmp_path / 'table1.md').read_text()
    assert float(rows[0]['abs_rel']) == pytest.approx(result.metrics['none']['abs_rel'])
    with open(tmp_path / 'per_sample.csv') as fh:
        assert len(list(csv.DictReader(fh))) == 6
    png = ev.plot_scale_scatter(tmp_path / 'scatter.png', [result])
    assert png.stat().st_size > 1000


def test_fig3_overlay_and_ply(setup, tmp_path):
    samples, _, _, result = setup
    frame = result.frames[samples[1].name]
    assert set(frame.scales) == {'none', 'oracle', 'learned'}   # the paper's three clouds
    paths = ev.render_frame(frame, tmp_path, stride=4, simulated=True)
    assert paths['overlay.png'].stat().st_size > 5000
    for method in ('gt', 'none', 'oracle', 'learned'):
        header = paths[f'{method}.ply'].read_bytes()[:200]
        assert header.startswith(b'ply')
    assert b'red' in paths['gt.ply'].read_bytes()[:400]


def test_eigen_crop_and_max_depth_mask():
    depth = np.full((480, 640), 5.0, np.float32)
    depth[100, 100] = 12.0
    s = RGBDSample('nyu/x', np.zeros((480, 640, 3), np.uint8), depth, None,
                   meta={'eval_crop': 'eigen'})
    mask = ev.eval_mask(s, depth, max_depth=10.0)
    assert np.array_equal(mask & ~eigen_crop_mask(), np.zeros_like(mask))
    assert not mask[100, 100] and mask[200, 200] and not mask[0, 0]
    s.meta = {'eval_crop': 'weird'}
    with pytest.raises(ev.EvaluationError, match='eval_crop'):
        ev.eval_mask(s, depth)


def test_missing_samples_and_no_learned(setup):
    samples, preds, scales, _ = setup
    oracle = OracleData(names=[s.name for s in samples], scales=scales, log_scales=np.log(scales),
                        w1=np.zeros(6), n_valid=np.zeros(6, int), kept=np.ones(6, bool),
                        images=np.zeros((6, 2, 2, 3), np.uint8), meta={})
    with pytest.raises(ev.EvaluationError, match='not in the dataset'):
        ev.evaluate_split(oracle, None, dataset=samples[:3],
                          base_predictor=lambda s: preds[s.name], progress=False)
    only = ev.evaluate_split(oracle, None, dataset=samples,
                             base_predictor=lambda s: preds[s.name], progress=False)
    assert only.methods == ('none', 'oracle') and math.isnan(only.gap_closure)
    assert math.isnan(only.train_mean_gap_closure)
    assert 'learned' not in only.scale_table
    # a BaseDepthModel object works as the base predictor (same deterministic predictions)
    direct = ev.evaluate_split(oracle, None, dataset=samples, base_predictor=SimulatedBaseModel(),
                               progress=False)
    assert direct.metrics['none']['abs_rel'] == pytest.approx(only.metrics['none']['abs_rel'])
