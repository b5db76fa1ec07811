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

"""Tests of the oracle scale solver (exact weighted median vs the scipy reference)."""

from pathlib import Path

from adaptive_depth import oracle
import cv2
import numpy as np
import pytest
from scipy import stats

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
NYU_SAMPLE = SHARED / 'data' / 'nyu_test_sample'


def _smooth_field(rng, shape, cells=6):
    """Return a smooth random positive field (multiplicative perturbation around 1)."""
    coarse = rng.normal(0.0, 0.15, size=(cells, cells)).astype(np.float32)
    return np.exp(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC))


def _random_pair(seed, shape=(100, 100)):
    rng = np.random.default_rng(seed)
    gt = rng.lognormal(mean=1.0, sigma=0.5, size=shape).astype(np.float32)
    pred = (gt * rng.lognormal(0.0, 0.2, size=shape) / rng.uniform(0.6, 1.8)).astype(np.float32)
    return pred, gt


def _structured_pair(seed, shape=(100, 100)):
    """Room-like map: a tilted floor plane, a wall and a box, quantised to mm like a sensor."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    gt = 2.0 + 3.0 * (1.0 - rows / h) + 0.5 * cols / w
    gt[h // 4:h // 2, w // 3:2 * w // 3] = 1.5
    gt = np.round(gt * 1000.0) / 1000.0
    gt[rng.random(shape) < 0.05] = 0.0       # sensor holes
    pred = gt * _smooth_field(rng, shape) * rng.uniform(0.5, 1.5)
    pred[rng.random(shape) < 0.01] = np.nan  # invalid predictions
    return pred.astype(np.float32), gt.astype(np.float32)


def _w1_scipy(pred, gt, scale):
    valid = np.isfinite(pred) & (pred > 0) & np.isfinite(gt) & (gt > 0)
    return stats.wasserstein_distance(scale * pred[valid].astype(np.float64),
                                      gt[valid].astype(np.float64))


@pytest.mark.parametrize('make_pair', [_random_pair, _structured_pair])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_exact_matches_reference_w1(make_pair, seed):
    pred, gt = make_pair(seed)
    s_exact = oracle.optimal_scale(pred, gt)
    s_ref = oracle.optimal_scale(pred, gt, method='reference')
    w_exact = _w1_scipy(pred, gt, s_exact)
    w_ref = _w1_scipy(pred, gt, s_ref)
    assert abs(w_exact - w_ref) <= 1e-4 * w_ref
    # The exact solver is the true minimiser: never worse than the bounded search.
    assert w_exact <= w_ref * (1.0 + 1e-9)
    assert s_exact == pytest.approx(s_ref, rel=1e-3)


def test_exact_is_global_minimum_on_a_grid():
    pred, gt = _structured_pair(7)
    s_star = oracle.optimal_scale(pred, gt)
    w_star = oracle.scaled_wasserstein(pred, gt, s_star)
    grid = np.linspace(0.1, 2.0, 400)
    w_grid = np.array([oracle.scaled_wasserstein(pred, gt, s) for s in grid])
    assert w_star <= w_grid.min() + 1e-12
    for eps in (1e-3, -1e-3):
        assert w_star <= oracle.scaled_wasserstein(pred, gt, s_star + eps)


def test_scaled_wasserstein_matches_scipy():
    pred, gt = _structured_pair(3)
    for s in (0.3, 1.0, 1.7):
        assert oracle.scaled_wasserstein(pred, gt, s) == pytest.approx(_w1_scipy(pred, gt, s),
                                                                       rel=1e-9)


def test_large_map_uses_band_path_and_matches_reference():
    # 40k valid values exceeds the sampled-band threshold of the weighted median.
    pred, gt = _structured_pair(11, shape=(200, 200))
    s_exact = oracle.optimal_scale(pred, gt)
    s_ref = oracle.optimal_scale_reference(pred, gt)
    w_exact, w_ref = _w1_scipy(pred, gt, s_exact), _w1_scipy(pred, gt, s_ref)
    assert abs(w_exact - w_ref) <= 1e-4 * w_ref
    assert w_exact <= w_ref * (1.0 + 1e-9)


def test_real_nyu_depth_matches_reference():
    if not NYU_SAMPLE.is_dir():
        pytest.skip(f'shared NYU sample folder absent: {NYU_SAMPLE}')
    raw = cv2.imread(str(NYU_SAMPLE / '00001_depth.png'), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16
    gt = cv2.resize(raw.astype(np.float32) / 1000.0, (160, 120),
                    interpolation=cv2.INTER_NEAREST)
    rng = np.random.default_rng(0)
    pred = gt * _smooth_field(rng, gt.shape) / 1.37
    s_exact = oracle.optimal_scale(pred, gt)
    s_ref = oracle.optimal_scale(pred, gt, method='reference')
    assert abs(_w1_scipy(pred, gt, s_exact) - _w1_scipy(pred, gt, s_ref)) <= \
        1e-4 * _w1_scipy(pred, gt, s_ref)
    assert 1.2 < s_exact < 1.6


@pytest.mark.parametrize('k', [0.6, 0.8, 1.3, 1.9])
def test_scaling_pred_divides_scale(k):
    rng = np.random.default_rng(5)
    gt = rng.lognormal(1.0, 0.5, size=(100, 100)).astype(np.float32)
    pred = gt * rng.lognormal(0.0, 0.2, size=gt.shape).astype(np.float32)
    s = oracle.optimal_scale(pred, gt)
    assert 0.9 < s < 1.1 and 0.1 < s / k < 2.0
    assert oracle.optimal_scale(pred * k, gt) == pytest.approx(s / k, rel=1e-6)
    # Outside the bounds the scaled answer is clamped instead.
    assert oracle.optimal_scale(pred * k / 4.0, gt) == 2.0


@pytest.mark.parametrize('k', [0.25, 1.0, 1.6, 1.99])
def test_oracle_of_gt_over_k_is_k(k):
    _, gt = _structured_pair(2)
    assert oracle.optimal_scale(gt / k, gt) == pytest.approx(k, rel=1e-6)


def test_bounds_clamp():
    _, gt = _random_pair(4)
    assert oracle.optimal_scale(gt / 5.0, gt) == 2.0
    assert oracle.optimal_scale(gt * 20.0, gt) == pytest.approx(0.1)
    assert oracle.optimal_scale(gt / 5.0, gt, bounds=(0.5, 3.0)) == 3.0
    assert oracle.optimal_scale(gt / 5.0, gt, bounds=(0.5, 8.0)) == pytest.approx(5.0, rel=1e-6)
    # The reference agrees with the clamp (within its tolerance).
    assert oracle.optimal_scale(gt / 5.0, gt, method='reference') == pytest.approx(2.0, abs=1e-4)


def test_valid_mask_is_respected_and_inputs_untouched():
    pred, gt = _random_pair(6)
    valid = np.zeros(gt.shape, dtype=bool)
    valid[:50] = True
    pred_copy, gt_copy = pred.copy(), gt.copy()
    s_masked = oracle.optimal_scale(pred, gt, valid=valid)
    assert np.array_equal(pred, pred_copy) and np.array_equal(gt, gt_copy)
    corrupted = pred.copy()
    corrupted[50:] *= 10.0
    assert oracle.optimal_scale(corrupted, gt, valid=valid) == s_masked
    assert oracle.optimal_scale(pred[:50], gt[:50]) == pytest.approx(s_masked, rel=1e-12)
    # All-valid float32 / float64 inputs are not sorted in place either.
    oracle.optimal_scale(pred, gt)
    oracle.optimal_scale(pred.astype(np.float64), gt.astype(np.float64))
    assert np.array_equal(pred, pred_copy) and np.array_equal(gt, gt_copy)


def test_invalid_values_are_ignored():
    pred, gt = _random_pair(8)
    s = oracle.optimal_scale(pred, gt)
    bad_pred = np.concatenate([pred, np.array([[np.nan] * 100, [-1.0] * 100], np.float32)])
    bad_gt = np.concatenate([gt, np.array([[3.0] * 100, [np.inf] * 100], np.float32)])
    assert oracle.optimal_scale(bad_pred, bad_gt) == pytest.approx(s, rel=1e-12)


def test_dtypes_agree():
    pred, gt = _structured_pair(9)
    gt_mm = np.round(np.nan_to_num(gt) * 1000).astype(np.uint16)
    s32 = oracle.optimal_scale(pred, gt_mm.astype(np.float32) / 1000)
    s64 = oracle.optimal_scale(pred.astype(np.float64), gt_mm / 1000.0)
    s_mm = oracle.optimal_scale(pred, gt_mm)
    assert s64 == pytest.approx(s32, rel=1e-6)
    assert s_mm == pytest.approx(1000 * s32, rel=1e-6) or s_mm == 2.0


@pytest.mark.parametrize('pred, gt, message', [
    (np.zeros((0,)), np.zeros((0,)), 'empty'),
    (np.full((4, 4), np.nan), np.ones((4, 4)), 'no valid pixel'),
    (np.ones((4, 4)), np.zeros((4, 4)), 'no valid pixel'),
    (np.ones((4, 4)), np.ones((4, 5)), 'shapes differ'),
])
def test_bad_input_raises(pred, gt, message):
    with pytest.raises(ValueError, match=message):
        oracle.optimal_scale(pred, gt)
    with pytest.raises(ValueError, match=message):
        oracle.optimal_scale_reference(pred, gt)


def test_bad_bounds_mask_and_method_raise():
    pred, gt = _random_pair(0, shape=(8, 8))
    for bounds in [(0.0, 2.0), (2.0, 1.0), (1.0, 1.0), (0.1, np.inf), (1.0,)]:
        with pytest.raises(ValueError, match='bound'):
            oracle.optimal_scale(pred, gt, bounds=bounds)
    with pytest.raises(ValueError, match='valid mask shape'):
        oracle.optimal_scale(pred, gt, valid=np.ones((8, 9), bool))
    with pytest.raises(ValueError, match='no valid pixel'):
        oracle.optimal_scale(pred, gt, valid=np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match='method'):
        oracle.optimal_scale(pred, gt, method='brent')


def _brute_weighted_median(v, w):
    order = np.argsort(v, kind='stable')
    cumulative = np.cumsum(w[order])
    return v[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]


@pytest.mark.parametrize('n', [1, 7, 600, 5000, 50000])
def test_weighted_median_matches_brute_force(n):
    rng = np.random.default_rng(n)
    v = np.round(rng.normal(size=n), 2)  # many ties
    w = rng.uniform(0.0, 3.0, size=n)
    assert oracle.weighted_median(v, w) == _brute_weighted_median(v, w)


def test_weighted_median_heavy_weight_missed_by_sample():
    # One dominating weight off the sampling stride forces the selection fallback.
    rng = np.random.default_rng(1)
    v = rng.uniform(0.0, 1.0, size=60001)
    w = np.full(v.size, 1e-6)
    w[1] = 1e6
    assert oracle.weighted_median(v, w) == v[1]
    assert oracle.weighted_median(v, w) == _brute_weighted_median(v, w)


def test_weighted_median_minimises_weighted_abs_deviation():
    rng = np.random.default_rng(3)
    v = rng.lognormal(size=301)
    w = rng.uniform(0.1, 2.0, size=301)
    m = oracle.weighted_median(v, w)
    cost = np.abs(v[None, :] - v[:, None]) @ w
    assert np.sum(w * np.abs(v - m)) <= cost.min() + 1e-9


def test_weighted_median_bad_input():
    with pytest.raises(ValueError, match='empty'):
        oracle.weighted_median([], [])
    with pytest.raises(ValueError, match='lengths differ'):
        oracle.weighted_median([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match='non-negative'):
        oracle.weighted_median([1.0, 2.0], [1.0, -2.0])


@pytest.mark.parametrize('n_a, n_b', [(50, 50), (37, 91), (1, 5)])
def test_wasserstein1_matches_scipy(n_a, n_b):
    rng = np.random.default_rng(n_a * 100 + n_b)
    a = rng.normal(size=n_a)
    b = rng.lognormal(size=n_b)
    assert oracle.wasserstein1(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
    assert oracle.wasserstein1(a, a) == 0.0


def test_wasserstein1_bad_input():
    with pytest.raises(ValueError, match='non-empty'):
        oracle.wasserstein1([], [1.0])
    with pytest.raises(ValueError, match='finite'):
        oracle.wasserstein1([np.nan], [1.0])


def test_optimal_scales_batch():
    pairs = [_random_pair(s, shape=(20, 20)) for s in range(3)]
    preds = np.stack([p for p, _ in pairs])
    gts = np.stack([g for _, g in pairs])
    scales = oracle.optimal_scales(preds, gts)
    assert scales.shape == (3,)
    for i, (p, g) in enumerate(pairs):
        assert scales[i] == oracle.optimal_scale(p, g)
    preds[1] = np.nan
    with pytest.raises(ValueError, match='image 1'):
        oracle.optimal_scales(preds, gts)


def test_percentile_mask():
    scales = np.linspace(0.1, 2.0, 1001)
    keep = oracle.percentile_mask(scales)
    assert keep.dtype == bool and keep.shape == scales.shape
    assert keep.sum() == 901  # 5th..95th percentile of 1001 evenly spaced values, inclusive
    assert not keep[:50].any() and not keep[-50:].any() and keep[50:951].all()
    with_nan = np.append(scales, np.nan)
    assert not oracle.percentile_mask(with_nan)[-1]
    assert oracle.percentile_mask(scales, 0, 100).all()
    for low, high in [(50, 50), (-1, 90), (10, 101)]:
        with pytest.raises(ValueError, match='percentiles'):
            oracle.percentile_mask(scales, low, high)
    with pytest.raises(ValueError, match='empty'):
        oracle.percentile_mask([])


def test_log_scale_round_trip():
    s = np.array([0.1, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(oracle.from_log_scale(oracle.to_log_scale(s)), s, rtol=1e-12)
    assert oracle.to_log_scale(1.0) == 0.0 and isinstance(oracle.to_log_scale(2.0), float)
    assert oracle.from_log_scale(np.log(1.5)) == pytest.approx(1.5)
    with pytest.raises(ValueError, match='> 0'):
        oracle.to_log_scale([1.0, 0.0])
