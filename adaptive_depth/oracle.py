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

"""
Oracle global scale of a depth prediction under the 1-D Wasserstein distance.

The oracle scale of a predicted depth map ``D_pred`` (H×W, metres) against its ground truth
``D_gt`` (H×W, metres) is ``s* = argmin_{s in bounds} W1(s · D_pred[valid], D_gt[valid])``, where
``W1`` is the 1-D Wasserstein (earth mover's) distance between the two sets of valid depth values,
each seen as an empirical distribution with equal weights.

Exact solver. Both sets have the same size ``n`` (the same pixels are valid in both). For two
equal-size samples, ``W1`` is the mean absolute difference of the sorted values, and sorting is
invariant under multiplication by ``s > 0``, so with ``p_(i)`` and ``g_(i)`` sorted independently::

    W1(s) = (1/n) Σ_i |s · p_(i) − g_(i)| = (1/n) Σ_i p_(i) · |s − g_(i) / p_(i)|

This is convex and piecewise linear in ``s``; its minimiser is the weighted median of the ratios
``g_(i) / p_(i)`` with weights ``p_(i)``.  Convexity makes clipping the unconstrained minimiser to
``bounds`` the constrained minimiser.  Cost: two sorts plus an expected O(n) weighted selection
(quickselect with ``np.partition``) — see ``benchmarks/bench_oracle.py`` for measured speed-ups
against the reference procedure of the paper (``optimal_scale_reference``: scipy's bounded scalar
minimiser over ``scipy.stats.wasserstein_distance``).
"""

from typing import Literal, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_BOUNDS: Tuple[float, float] = (0.1, 2.0)
"""Default search interval of the oracle scale (dimensionless)."""

_SMALL_SELECTION = 512
"""Below this many candidates the weighted median falls back to a full sort."""

_SAMPLE_SIZE = 4096
"""Size of the strided sample that brackets the weighted median before the selection."""

_BAND = 0.03
"""Half-width (fraction of total weight) of the sampled bracket around the weighted median."""


def _check_bounds(bounds: Tuple[float, float]) -> Tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'bounds must be a pair of numbers (low, high), got {bounds!r}') from exc
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f'bounds must be finite, got {bounds!r}')
    if low <= 0.0:
        raise ValueError(f'lower scale bound must be > 0, got {low}')
    if high <= low:
        raise ValueError(f'bounds must satisfy low < high, got {bounds!r}')
    return low, high


def _valid_values(pred: ArrayLike, gt: ArrayLike,
                  valid: Optional[ArrayLike]) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return fresh 1-D arrays of the valid predicted and ground-truth depths (metres).

    float32 inputs stay float32 (faster sorts); other numeric types become float64.
    """
    p = np.asarray(pred)
    g = np.asarray(gt)
    if p.shape != g.shape:
        raise ValueError(f'pred and gt shapes differ: {p.shape} vs {g.shape}')
    if p.size == 0:
        raise ValueError('pred and gt are empty: no depth values to compare')
    for name, arr in (('pred', p), ('gt', g)):
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f'{name} must be a real numeric array, got dtype {arr.dtype}')
    p_owned = p.dtype != np.float32
    g_owned = g.dtype != np.float32
    if p_owned:
        p = p.astype(np.float64)
    if g_owned:
        g = g.astype(np.float64)
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(p) & (p > 0) & np.isfinite(g) & (g > 0)
    if valid is not None:
        v = np.asarray(valid)
        if v.shape != p.shape:
            raise ValueError(f'valid mask shape {v.shape} does not match depth shape {p.shape}')
        mask &= v.astype(bool, copy=False)
    if mask.all():
        # Copy so that callers may sort in place without touching the inputs.
        return (p.ravel() if p_owned else p.flatten()), (g.ravel() if g_owned else g.flatten())
    if not mask.any():
        raise ValueError('no valid pixel: every pixel is masked out, non-finite or <= 0 '
                         'in pred or gt')
    return p[mask], g[mask]


def _sorted_valid(pred: ArrayLike, gt: ArrayLike,
                  valid: Optional[ArrayLike]) -> Tuple[np.ndarray, np.ndarray]:
    """Return the valid predicted and ground-truth depths, each sorted ascending (in place)."""
    p, g = _valid_values(pred, gt, valid)
    p.sort()
    g.sort()
    return p, g


def _sorted64(x: np.ndarray) -> np.ndarray:
    """Sort in the input's float precision (float32 sorts are faster), then widen to float64."""
    if x.dtype != np.float32:
        x = x.astype(np.float64, copy=False)
    return np.sort(x).astype(np.float64, copy=False)


def _band_around_median(v: np.ndarray, w: np.ndarray, target: float,
                        total: float) -> Optional[Tuple[np.ndarray, np.ndarray, float]]:
    """
    Narrow a weighted-median search to a thin band of candidates in one pass.

    A strided sample estimates the weighted 47th and 53rd percentiles ``lo`` and ``hi``; if the
    weight below ``lo`` is under ``target`` and the weight up to ``hi`` reaches it, the median lies
    in ``[lo, hi]`` and the band's values, weights and the weight below the band are returned.
    Returns None when the estimate missed (the caller then searches everything).
    """
    step = max(1, v.size // _SAMPLE_SIZE)
    sample_v = v[::step]
    sample_w = w[::step].astype(np.float64)
    order = np.argsort(sample_v)
    cumulative = np.cumsum(sample_w[order])
    if cumulative[-1] <= 0.0:
        return None
    fraction = target / total
    idx = np.searchsorted(cumulative, cumulative[-1] * np.array([fraction - _BAND,
                                                                 fraction + _BAND]))
    idx = np.minimum(idx, order.size - 1)
    lo, hi = sample_v[order[idx]]
    w_below = float(np.sum(w, where=v < lo, dtype=np.float64))
    in_band = (v >= lo) & (v <= hi)
    w_band = float(np.sum(w, where=in_band, dtype=np.float64))
    if not (w_below < target <= w_below + w_band):
        return None
    return v[in_band], w[in_band], w_below


def weighted_median(values: ArrayLike, weights: ArrayLike) -> float:
    """
    Return the lower weighted median of ``values`` with non-negative ``weights``.

    The result is the smallest value ``v`` such that the total weight of the values ``<= v`` is at
    least half of the total weight; it minimises ``Σ w_i |s − v_i|``.  Expected O(n) time: a
    sampled band around the median, then a quickselect that narrows the candidates with
    ``np.partition`` around their unweighted median, then a sort of the last few hundred.

    :param values: 1-D finite values.
    :param weights: 1-D non-negative weights of the same length with a positive sum.
    :raises ValueError: on empty input, length mismatch, or a non-positive total weight.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.asarray(weights).ravel()
    if w.dtype != np.float32:
        w = w.astype(np.float64, copy=False)
    if v.size == 0:
        raise ValueError('weighted_median of an empty array')
    if v.shape != w.shape:
        raise ValueError(f'values and weights lengths differ: {v.size} vs {w.size}')
    total = float(w.sum(dtype=np.float64))
    if not np.isfinite(total) or total <= 0.0 or w.min() < 0:
        raise ValueError('weights must be non-negative with a positive finite sum')
    target = 0.5 * total
    discarded_below = 0.0
    if v.size > 4 * _SAMPLE_SIZE:
        band = _band_around_median(v, w, target, total)
        if band is not None:
            v, w, discarded_below = band
    while v.size > _SMALL_SELECTION:
        k = v.size // 2
        pivot = np.partition(v, k)[k]
        below = v < pivot
        w_below = float(np.sum(w, where=below, dtype=np.float64))
        if discarded_below + w_below >= target:
            v, w = v[below], w[below]
            continue
        above = v > pivot
        w_equal = float(np.sum(w, where=~(below | above), dtype=np.float64))
        if discarded_below + w_below + w_equal >= target:
            return float(pivot)
        discarded_below += w_below + w_equal
        v, w = v[above], w[above]
    order = np.argsort(v, kind='stable')
    cumulative = discarded_below + np.cumsum(w[order], dtype=np.float64)
    index = int(np.searchsorted(cumulative, target, side='left'))
    return float(v[order[min(index, v.size - 1)]])


def wasserstein1(a: ArrayLike, b: ArrayLike) -> float:
    """
    Return the 1-D Wasserstein distance W1 between two samples (same units as the inputs).

    Each sample is an empirical distribution with equal weights; samples may differ in size.  For
    equal sizes this is the mean absolute difference of the sorted values.  Matches
    ``scipy.stats.wasserstein_distance(a, b)``.

    :param a: 1-D (or any shape, flattened) finite values, e.g. depths in metres.
    :param b: 1-D (or any shape, flattened) finite values.
    :raises ValueError: if a sample is empty or contains non-finite values.
    """
    x = np.asarray(a).ravel()
    y = np.asarray(b).ravel()
    if x.size == 0 or y.size == 0:
        raise ValueError('wasserstein1 needs two non-empty samples')
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError('wasserstein1 samples must be finite')
    xs = _sorted64(x)
    ys = _sorted64(y)
    if xs.size == ys.size:
        return float(np.mean(np.abs(xs - ys)))
    # Integrate |F_x(t) − F_y(t)| dt between consecutive points of the merged support.
    support = np.sort(np.concatenate([xs, ys]))
    widths = np.diff(support)
    cdf_x = np.searchsorted(xs, support[:-1], side='right') / xs.size
    cdf_y = np.searchsorted(ys, support[:-1], side='right') / ys.size
    return float(np.sum(np.abs(cdf_x - cdf_y) * widths))


def scaled_wasserstein(pred: ArrayLike, gt: ArrayLike, scale: float,
                       valid: Optional[ArrayLike] = None) -> float:
    """
    Return ``W1(scale · pred[valid], gt[valid])`` in metres.

    :param pred: H×W predicted depth (metres).
    :param gt: H×W ground-truth depth (metres).
    :param scale: positive multiplier applied to ``pred``.
    :param valid: optional H×W bool mask, intersected with finite & positive pred and gt.
    """
    ps, gs = _sorted_valid(pred, gt, valid)
    return float(np.mean(np.abs(float(scale) * ps.astype(np.float64) - gs)))


def optimal_scale_exact(pred: ArrayLike, gt: ArrayLike, valid: Optional[ArrayLike] = None,
                        bounds: Tuple[float, float] = DEFAULT_BOUNDS) -> float:
    """
    Return the exact oracle scale by a weighted median of sorted-depth ratios.

    See the module docstring for the derivation.  Same arguments as :func:`optimal_scale`.
    """
    low, high = _check_bounds(bounds)
    ps, gs = _sorted_valid(pred, gt, valid)
    s = weighted_median(np.divide(gs, ps, dtype=np.float64), ps)
    return float(min(max(s, low), high))


def optimal_scale_reference(pred: ArrayLike, gt: ArrayLike, valid: Optional[ArrayLike] = None,
                            bounds: Tuple[float, float] = DEFAULT_BOUNDS,
                            xatol: float = 1e-5) -> float:
    """
    Return the oracle scale by the paper's procedure (slow; for validation).

    ``scipy.optimize.minimize_scalar(method='bounded')`` over
    ``s ↦ scipy.stats.wasserstein_distance(s · pred[valid], gt[valid])``.  Same arguments as
    :func:`optimal_scale`; ``xatol`` is the bounded minimiser's absolute tolerance on ``s``.
    """
    from scipy import optimize, stats

    low, high = _check_bounds(bounds)
    p, g = _valid_values(pred, gt, valid)
    p = p.astype(np.float64)
    g = g.astype(np.float64)
    result = optimize.minimize_scalar(lambda s: stats.wasserstein_distance(s * p, g),
                                      bounds=(low, high), method='bounded',
                                      options={'xatol': xatol})
    return float(result.x)


def optimal_scale(pred: ArrayLike, gt: ArrayLike, valid: Optional[ArrayLike] = None,
                  bounds: Tuple[float, float] = DEFAULT_BOUNDS,
                  method: Literal['exact', 'reference'] = 'exact') -> float:
    """
    Return the oracle scale ``s* = argmin_{s in bounds} W1(s · pred[valid], gt[valid])``.

    :param pred: H×W predicted depth in metres (any shape equal to ``gt``'s).
    :param gt: H×W ground-truth depth in metres.
    :param valid: optional H×W bool mask; always intersected with finite & positive ``pred`` and
        ``gt`` (0, negative and non-finite depths are invalid).
    :param bounds: ``(low, high)`` search interval, ``0 < low < high``.
    :param method: ``'exact'`` (weighted median, default) or ``'reference'`` (scipy bounded
        minimiser over ``scipy.stats.wasserstein_distance``, the paper's procedure).
    :returns: the scale (dimensionless float) within ``bounds``.
    :raises ValueError: on shape mismatch, empty or all-invalid input, bad bounds or method.
    """
    if method == 'exact':
        return optimal_scale_exact(pred, gt, valid, bounds)
    if method == 'reference':
        return optimal_scale_reference(pred, gt, valid, bounds)
    raise ValueError(f"method must be 'exact' or 'reference', got {method!r}")


def optimal_scales(preds: ArrayLike, gts: ArrayLike, valids: Optional[ArrayLike] = None,
                   bounds: Tuple[float, float] = DEFAULT_BOUNDS,
                   method: Literal['exact', 'reference'] = 'exact') -> np.ndarray:
    """
    Return the oracle scales of a batch: N×H×W predictions and ground truths → N float64 scales.

    ``valids`` is an optional N×H×W bool mask.  Each image is solved independently with
    :func:`optimal_scale`; a ValueError names the offending image index.
    """
    p = np.asarray(preds)
    g = np.asarray(gts)
    if p.ndim < 2 or p.shape != g.shape:
        raise ValueError(f'preds and gts must share an N×H×W shape, got {p.shape} and {g.shape}')
    v = None if valids is None else np.asarray(valids)
    if v is not None and v.shape != p.shape:
        raise ValueError(f'valids shape {v.shape} does not match {p.shape}')
    out = np.empty(p.shape[0], dtype=np.float64)
    for i in range(p.shape[0]):
        try:
            out[i] = optimal_scale(p[i], g[i], None if v is None else v[i], bounds, method)
        except ValueError as exc:
            raise ValueError(f'image {i}: {exc}') from exc
    return out


def percentile_mask(scales: ArrayLike, low: float = 5.0, high: float = 95.0) -> np.ndarray:
    """
    Return the keep-mask of scales within the ``[low, high]`` percentiles (inclusive).

    Non-finite scales are never kept, and percentiles are computed over the finite ones.

    :param scales: 1-D scales (N).
    :param low: lower percentile in [0, 100).
    :param high: upper percentile in (low, 100].
    :returns: N bool array, True for samples to keep.
    :raises ValueError: on empty input, no finite scale, or bad percentiles.
    """
    s = np.asarray(scales, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f'scales must be 1-D, got shape {s.shape}')
    if s.size == 0:
        raise ValueError('percentile_mask of an empty scale array')
    if not (0.0 <= low < high <= 100.0):
        raise ValueError(f'percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}')
    finite = np.isfinite(s)
    if not finite.any():
        raise ValueError('percentile_mask: no finite scale')
    lo_value, hi_value = np.percentile(s[finite], [low, high])
    with np.errstate(invalid='ignore'):
        return finite & (s >= lo_value) & (s <= hi_value)


def to_log_scale(s: Union[float, ArrayLike]) -> Union[float, np.ndarray]:
    """
    Return ``log(s)`` (natural log) of positive scales; a float for scalar input.

    :raises ValueError: if any scale is non-positive or non-finite.
    """
    arr = np.asarray(s, dtype=np.float64)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError('scales must be finite and > 0 to take their log')
    out = np.log(arr)
    return float(out) if out.ndim == 0 else out


def from_log_scale(log_s: Union[float, ArrayLike]) -> Union[float, np.ndarray]:
    """Return ``exp(log_s)``, the scale from its natural log; a float for scalar input."""
    arr = np.asarray(log_s, dtype=np.float64)
    out = np.exp(arr)
    return float(out) if out.ndim == 0 else out
