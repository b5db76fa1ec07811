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

"""Tests of the depth metrics, their aggregation, masks and scale errors."""

import math
from pathlib import Path

from adaptive_depth import metrics
import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
NYU_SAMPLE = SHARED / 'data' / 'nyu_test_sample'


def test_metric_keys_and_gt_vs_itself_is_perfect():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 10.0, size=(30, 40))
    m = metrics.depth_metrics(gt, gt)
    assert tuple(m) == metrics.METRIC_KEYS
    for key in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog'):
        assert m[key] == pytest.approx(0.0, abs=1e-12)
    for key in ('delta1', 'delta2', 'delta3'):
        assert m[key] == 1.0


def test_hand_computed_two_pixels():
    # pred = [2, 1], gt = [1, 1]: one pixel 100 % too far, one exact.
    m = metrics.depth_metrics(np.array([2.0, 1.0]), np.array([1.0, 1.0]))
    ln2 = math.log(2.0)
    expected = {
        'abs_rel': (1.0 / 1.0 + 0.0) / 2,
        'sq_rel': (1.0 ** 2 / 1.0 + 0.0) / 2,
        'rmse': math.sqrt((1.0 + 0.0) / 2),
        'rmse_log': math.sqrt(ln2 ** 2 / 2),
        'log10': math.log10(2.0) / 2,
        'silog': math.sqrt(ln2 ** 2 / 2 - (ln2 / 2) ** 2) * 100,
        'delta1': 0.5,  # ratio 2 > 1.25
        'delta2': 0.5,  # 2 > 1.5625
        'delta3': 0.5,  # 2 > 1.953125
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-12), key


def test_hand_computed_delta_thresholds():
    # Ratios 1.2, 1/1.5 (=1.5), 1.9 and 2.5 fall in δ1, δ2, δ3 and none respectively.
    gt = np.array([[1.0, 3.0], [2.0, 4.0]])
    pred = np.array([[1.2, 2.0], [3.8, 10.0]])
    m = metrics.depth_metrics(pred, gt)
    assert m['delta1'] == 0.25 and m['delta2'] == 0.5 and m['delta3'] == 0.75
    abs_rel = (0.2 / 1.0 + 1.0 / 3.0 + 1.8 / 2.0 + 6.0 / 4.0) / 4
    rmse = math.sqrt((0.2 ** 2 + 1.0 + 1.8 ** 2 + 36.0) / 4)
    assert m['abs_rel'] == pytest.approx(abs_rel, rel=1e-12)
    assert m['rmse'] == pytest.approx(rmse, rel=1e-12)


def test_silog_is_scale_invariant_and_others_are_not():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.5, 8.0, size=(20, 20))
    pred = gt * rng.lognormal(0.0, 0.1, size=gt.shape)
    a = metrics.depth_metrics(pred, gt)
    b = metrics.depth_metrics(pred * 1.7, gt)
    assert b['silog'] == pytest.approx(a['silog'], rel=1e-9)
    assert b['abs_rel'] > a['abs_rel'] + 0.3 and b['delta1'] < a['delta1']


def test_invalid_pixels_and_mask_are_excluded():
    rng = np.random.default_rng(2)
    gt = rng.uniform(0.5, 8.0, size=(10, 10))
    pred = gt * rng.lognormal(0.0, 0.2, size=gt.shape)
    reference = metrics.depth_metrics(pred[:, :5], gt[:, :5])
    gt_bad, pred_bad = gt.copy(), pred.copy()
    gt_bad[:, 5:7] = np.nan
    gt_bad[:, 7] = 0.0
    pred_bad[:, 8] = -1.0
    pred_bad[:, 9] = np.inf
    got = metrics.depth_metrics(pred_bad, gt_bad)
    masked = np.zeros(gt.shape, bool)
    masked[:, :5] = True
    got_masked = metrics.depth_metrics(pred * 3.0 * ~masked + pred * masked, gt, valid=masked)
    for key in metrics.METRIC_KEYS:
        assert got[key] == pytest.approx(reference[key], rel=1e-12)
        assert got_masked[key] == pytest.approx(reference[key], rel=1e-12)


def test_depth_metrics_errors():
    with pytest.raises(ValueError, match='no valid pixel'):
        metrics.depth_metrics(np.ones((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match='no valid pixel'):
        metrics.depth_metrics(np.ones((3, 3)), np.ones((3, 3)), valid=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match='shapes differ'):
        metrics.depth_metrics(np.ones((3, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError, match='valid mask shape'):
        metrics.depth_metrics(np.ones((3, 3)), np.ones((3, 3)), valid=np.ones((2, 2), bool))


def test_accumulator_image_vs_pixel_on_unequal_sizes():
    acc = metrics.MetricAccumulator()
    small = acc.add(np.array([[2.0]]), np.array([[1.0]]), name='small')  # abs_rel 1
    big = acc.add(np.full((10, 10), 3.0), np.full((10, 10), 3.0))        # perfect, 100 px
    assert small['abs_rel'] == 1.0 and big['abs_rel'] == 0.0
    assert len(acc) == 2 and acc.names == ['small', None]
    by_image = acc.result()
    by_pixel = acc.result('pixel')
    assert by_image['mode'] == 'image' and by_pixel['mode'] == 'pixel'
    assert by_image['num_images'] == 2 and by_pixel['num_pixels'] == 101
    assert by_image['abs_rel'] == pytest.approx(0.5)
    assert by_pixel['abs_rel'] == pytest.approx(1.0 / 101)
    assert by_image['delta1'] == pytest.approx(0.5)
    assert by_pixel['delta1'] == pytest.approx(100 / 101)
    assert by_pixel['rmse'] == pytest.approx(math.sqrt(1.0 / 101))
    assert by_image['rmse'] == pytest.approx(0.5)


def test_accumulator_modes_match_direct_computation():
    rng = np.random.default_rng(3)
    preds, gts = [], []
    acc = metrics.MetricAccumulator()
    for shape in [(5, 7), (12, 9), (3, 3)]:
        gt = rng.uniform(0.5, 6.0, size=shape)
        pred = gt * rng.lognormal(0.1, 0.3, size=shape)
        acc.add(pred, gt)
        preds.append(pred.ravel())
        gts.append(gt.ravel())
    pooled = metrics.depth_metrics(np.concatenate(preds), np.concatenate(gts))
    per_image = [metrics.depth_metrics(p, g) for p, g in zip(preds, gts)]
    by_pixel, by_image = acc.result('pixel'), acc.result('image')
    for key in metrics.METRIC_KEYS:
        assert by_pixel[key] == pytest.approx(pooled[key], rel=1e-9)
        assert by_image[key] == pytest.approx(np.mean([m[key] for m in per_image]), rel=1e-9)
    assert acc.per_image[1] == per_image[1]


def test_accumulator_errors():
    acc = metrics.MetricAccumulator()
    with pytest.raises(ValueError, match='empty'):
        acc.result()
    acc.add(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match='mode'):
        acc.result('batch')
    with pytest.raises(ValueError, match='no valid pixel'):
        acc.add(np.ones((2, 2)), np.full((2, 2), np.nan))
    assert len(acc) == 1 and acc.result('pixel')['num_pixels'] == 4


def test_eigen_crop_mask():
    mask = metrics.eigen_crop_mask()
    top, bottom, left, right = metrics.NYU_EIGEN_CROP
    assert mask.shape == (480, 640) and mask.dtype == bool
    assert mask.sum() == (bottom - top) * (right - left)
    assert mask[top, left] and mask[bottom - 1, right - 1]
    assert not mask[top - 1, left] and not mask[top, left - 1]
    assert not mask[bottom, right - 1] and not mask[bottom - 1, right]
    half = metrics.eigen_crop_mask(240, 320)
    rows, cols = np.nonzero(half)
    assert (rows.min(), rows.max() + 1) == (round(top / 2), round(bottom / 2))
    assert (cols.min(), cols.max() + 1) == (round(left / 2), round(right / 2))
    with pytest.raises(ValueError, match='positive'):
        metrics.eigen_crop_mask(0, 640)


def test_valid_depth_mask():
    gt = np.array([0.0, 0.0005, 0.5, 5.0, 10.0, np.nan, -1.0, 3.0])
    pred = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan])
    assert metrics.valid_depth_mask(gt).tolist() == [False, False, True, True, True, False,
                                                     False, True]
    assert metrics.valid_depth_mask(gt, pred, max_depth=10.0).tolist() == [
        False, False, True, True, False, False, False, False]
    assert metrics.valid_depth_mask(gt, min_depth=1.0).tolist() == [
        False, False, False, True, True, False, False, True]
    with pytest.raises(ValueError, match='max_depth'):
        metrics.valid_depth_mask(gt, max_depth=0.0)
    with pytest.raises(ValueError, match='shapes differ'):
        metrics.valid_depth_mask(gt, pred[:3])


def test_scale_errors():
    pred = np.array([1.0, 2.0, 0.5])
    true = np.array([1.5, 2.0, 0.25])
    lin = metrics.scale_errors(pred, true)
    assert lin['mae'] == pytest.approx((0.5 + 0.0 + 0.25) / 3)
    assert lin['rmse'] == pytest.approx(math.sqrt((0.25 + 0.0 + 0.0625) / 3))
    log = metrics.scale_errors(pred, true, space='log')
    diffs = [math.log(1.0 / 1.5), 0.0, math.log(2.0)]
    assert log['mae'] == pytest.approx(np.mean(np.abs(diffs)))
    assert log['rmse'] == pytest.approx(math.sqrt(np.mean(np.square(diffs))))
    with pytest.raises(ValueError, match='> 0'):
        metrics.scale_errors([1.0, -1.0], [1.0, 1.0], space='log')
    with pytest.raises(ValueError, match='space'):
        metrics.scale_errors(pred, true, space='ln')
    with pytest.raises(ValueError, match='lengths differ'):
        metrics.scale_errors(pred, true[:2])
    with pytest.raises(ValueError, match='empty'):
        metrics.scale_errors([], [])


def test_real_nyu_frame_in_eigen_crop():
    if not NYU_SAMPLE.is_dir():
        pytest.skip(f'shared NYU sample folder absent: {NYU_SAMPLE}')
    raw = cv2.imread(str(NYU_SAMPLE / '00008_depth.png'), cv2.IMREAD_UNCHANGED)
    gt = raw.astype(np.float32) / 1000.0
    valid = metrics.valid_depth_mask(gt, max_depth=10.0) & metrics.eigen_crop_mask(*gt.shape)
    m_scaled = metrics.depth_metrics(gt * 1.1, gt, valid)
    assert m_scaled['abs_rel'] == pytest.approx(0.1, rel=1e-5)
    assert m_scaled['delta1'] == 1.0
    m_far = metrics.depth_metrics(gt * 1.3, gt, valid)
    assert m_far['delta1'] == 0.0 and m_far['delta2'] == 1.0
