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
Standard monocular depth metrics (NYU / KITTI conventions) and scale-error metrics.

With ``p`` the predicted and ``g`` the ground-truth depth (metres) over the ``n`` valid pixels and
``d = ln p − ln g``:

* ``abs_rel``  = mean(|p − g| / g)
* ``sq_rel``   = mean((p − g)² / g)                       (metres)
* ``rmse``     = sqrt(mean((p − g)²))                     (metres)
* ``rmse_log`` = sqrt(mean(d²))
* ``log10``    = mean(|log10 p − log10 g|)
* ``silog``    = sqrt(mean(d²) − mean(d)²) · 100          (scale-invariant log error, λ = 1)
* ``delta{k}`` = mean(max(p / g, g / p) < 1.25^k), k = 1, 2, 3, as fractions in [0, 1]
"""

import math
from typing import Dict, List, Literal, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

METRIC_KEYS: Tuple[str, ...] = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog',
                                'delta1', 'delta2', 'delta3')
"""Keys of :func:`depth_metrics` results, in the customary table order."""

NYU_EIGEN_CROP: Tuple[int, int, int, int] = (45, 471, 41, 601)
"""Eigen et al. crop at 640×480 as (top, bottom, left, right): rows 45:471, columns 41:601."""

_NYU_SIZE = (480, 640)
_SUM_KEYS = ('abs_rel', 'sq_rel', 'sq_err', 'log_sq', 'log_sum', 'log10', 'delta1', 'delta2',
             'delta3')


def eigen_crop_mask(height: int = 480, width: int = 640) -> np.ndarray:
    """
    Return the H×W bool mask of the NYU Eigen crop (True inside).

    At 640×480 this is rows 45:471 and columns 41:601; at other sizes the crop's bounds are
    scaled proportionally (rounded to the nearest pixel).
    """
    height = int(height)
    width = int(width)
    if height <= 0 or width <= 0:
        raise ValueError(f'image size must be positive, got {height}x{width} (HxW)')
    top, bottom, left, right = NYU_EIGEN_CROP
    if (height, width) != _NYU_SIZE:
        sy = height / _NYU_SIZE[0]
        sx = width / _NYU_SIZE[1]
        top, bottom = int(round(top * sy)), int(round(bottom * sy))
        left, right = int(round(left * sx)), int(round(right * sx))
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def valid_depth_mask(gt: ArrayLike, pred: Optional[ArrayLike] = None, min_depth: float = 1e-3,
                     max_depth: Optional[float] = None) -> np.ndarray:
    """
    Return the H×W bool mask of pixels usable for evaluation.

    A pixel is valid if ``gt`` is finite with ``min_depth < gt`` (and ``gt < max_depth`` when
    given; metres, strict as in the usual NYU/KITTI evaluation code) and, if ``pred`` is given,
    ``pred`` is finite and > 0.

    :param gt: H×W ground-truth depth (metres; 0, negative or non-finite means invalid).
    :param pred: optional H×W predicted depth (metres).
    :param min_depth: exclusive lower bound on ``gt`` (metres).
    :param max_depth: optional exclusive upper bound on ``gt`` (metres).
    """
    g = np.asarray(gt, dtype=np.float64)
    if max_depth is not None and max_depth <= min_depth:
        raise ValueError(f'max_depth ({max_depth}) must exceed min_depth ({min_depth})')
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(g) & (g > max(float(min_depth), 0.0))
        if max_depth is not None:
            mask &= g < float(max_depth)
        if pred is not None:
            p = np.asarray(pred, dtype=np.float64)
            if p.shape != g.shape:
                raise ValueError(f'pred and gt shapes differ: {p.shape} vs {g.shape}')
            mask &= np.isfinite(p) & (p > 0)
    return mask


def _valid_pairs(pred: ArrayLike, gt: ArrayLike,
                 valid: Optional[ArrayLike]) -> Tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f'pred and gt shapes differ: {p.shape} vs {g.shape}')
    mask = valid_depth_mask(g, p, min_depth=0.0)
    if valid is not None:
        v = np.asarray(valid)
        if v.shape != g.shape:
            raise ValueError(f'valid mask shape {v.shape} does not match depth shape {g.shape}')
        mask &= v.astype(bool, copy=False)
    if not mask.any():
        raise ValueError('no valid pixel to evaluate: every pixel is masked out, non-finite or '
                         '<= 0 in pred or gt')
    return p[mask], g[mask]


def _sums(p: np.ndarray, g: np.ndarray) -> Dict[str, float]:
    """Sufficient statistics (sums over pixels) of every metric."""
    diff = p - g
    d = np.log(p) - np.log(g)
    ratio = np.maximum(p / g, g / p)
    return {
        'abs_rel': float(np.sum(np.abs(diff) / g)),
        'sq_rel': float(np.sum(diff * diff / g)),
        'sq_err': float(np.sum(diff * diff)),
        'log_sq': float(np.sum(d * d)),
        'log_sum': float(np.sum(d)),
        'log10': float(np.sum(np.abs(d)) / math.log(10.0)),
        'delta1': float(np.count_nonzero(ratio < 1.25)),
        'delta2': float(np.count_nonzero(ratio < 1.25 ** 2)),
        'delta3': float(np.count_nonzero(ratio < 1.25 ** 3)),
    }


def _from_sums(s: Dict[str, float], n: int) -> Dict[str, float]:
    mean_d = s['log_sum'] / n
    mean_d2 = s['log_sq'] / n
    return {
        'abs_rel': s['abs_rel'] / n,
        'sq_rel': s['sq_rel'] / n,
        'rmse': math.sqrt(s['sq_err'] / n),
        'rmse_log': math.sqrt(mean_d2),
        'log10': s['log10'] / n,
        'silog': math.sqrt(max(mean_d2 - mean_d * mean_d, 0.0)) * 100.0,
        'delta1': s['delta1'] / n,
        'delta2': s['delta2'] / n,
        'delta3': s['delta3'] / n,
    }


def depth_metrics(pred: ArrayLike, gt: ArrayLike,
                  valid: Optional[ArrayLike] = None) -> Dict[str, float]:
    """
    Return the standard depth metrics of one H×W prediction against its ground truth.

    Definitions are in the module docstring (``silog = sqrt(mean(d²) − mean(d)²) · 100`` with
    ``d = ln p − ln g``; δ thresholds ``1.25^k`` as fractions).

    :param pred: H×W predicted depth (metres).
    :param gt: H×W ground-truth depth (metres).
    :param valid: optional H×W bool mask, intersected with finite & positive ``pred`` and ``gt``.
    :returns: dict with the keys :data:`METRIC_KEYS` (floats).
    :raises ValueError: on shape mismatch or when no pixel is valid.
    """
    p, g = _valid_pairs(pred, gt, valid)
    return _from_sums(_sums(p, g), p.size)


class MetricAccumulator:
    """
    Aggregate depth metrics over many images.

    ``mode='image'`` (the NYU convention, default) averages the per-image metrics;
    ``mode='pixel'`` computes the metrics over all valid pixels of all images pooled (images with
    more valid pixels weigh more).  Both are available from the same accumulator; only per-image
    sums are stored, never pixels.
    """

    def __init__(self) -> None:
        """Create an empty accumulator."""
        self._per_image: List[Dict[str, float]] = []
        self._names: List[Optional[str]] = []
        self._sums: Dict[str, float] = dict.fromkeys(_SUM_KEYS, 0.0)
        self._pixels = 0

    def __len__(self) -> int:
        """Return the number of images added."""
        return len(self._per_image)

    @property
    def per_image(self) -> List[Dict[str, float]]:
        """Per-image metric dicts in insertion order (copies)."""
        return [dict(m) for m in self._per_image]

    @property
    def names(self) -> List[Optional[str]]:
        """Names given to :meth:`add`, in insertion order (None where not given)."""
        return list(self._names)

    def add(self, pred: ArrayLike, gt: ArrayLike, valid: Optional[ArrayLike] = None,
            name: Optional[str] = None) -> Dict[str, float]:
        """
        Add one H×W prediction (metres) and its ground truth; return its own metrics.

        :raises ValueError: on shape mismatch or when no pixel is valid (nothing is added).
        """
        p, g = _valid_pairs(pred, gt, valid)
        sums = _sums(p, g)
        metrics = _from_sums(sums, p.size)
        for key in _SUM_KEYS:
            self._sums[key] += sums[key]
        self._pixels += int(p.size)
        self._per_image.append(metrics)
        self._names.append(name)
        return dict(metrics)

    def result(self,
               mode: Literal['image', 'pixel'] = 'image') -> Dict[str, Union[float, int, str]]:
        """
        Return the aggregated metrics.

        :param mode: ``'image'`` (mean of per-image metrics) or ``'pixel'`` (pooled pixels).
        :returns: the :data:`METRIC_KEYS` floats plus ``'mode'`` (the mode used),
            ``'num_images'`` and ``'num_pixels'``.
        :raises ValueError: on an unknown mode or when nothing was added.
        """
        if mode not in ('image', 'pixel'):
            raise ValueError(f"mode must be 'image' or 'pixel', got {mode!r}")
        if not self._per_image:
            raise ValueError('MetricAccumulator is empty: add() at least one image first')
        if mode == 'image':
            out: Dict[str, Union[float, int, str]] = {
                k: float(np.mean([m[k] for m in self._per_image])) for k in METRIC_KEYS}
        else:
            out = dict(_from_sums(self._sums, self._pixels))
        out['mode'] = mode
        out['num_images'] = len(self._per_image)
        out['num_pixels'] = self._pixels
        return out


def scale_errors(pred_scale: ArrayLike, true_scale: ArrayLike,
                 space: Literal['linear', 'log'] = 'linear') -> Dict[str, float]:
    """
    Return the MAE and RMSE between predicted and true (oracle) scales (Table I of the paper).

    :param pred_scale: N predicted scales (dimensionless, > 0 for ``space='log'``).
    :param true_scale: N true scales.
    :param space: ``'linear'`` compares the scales, ``'log'`` their natural logs.
    :returns: ``{'mae': float, 'rmse': float}``.
    :raises ValueError: on empty or mismatched input, non-finite values, non-positive scales in
        log space, or an unknown space.
    """
    p = np.asarray(pred_scale, dtype=np.float64).ravel()
    t = np.asarray(true_scale, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError('scale_errors of empty arrays')
    if p.shape != t.shape:
        raise ValueError(f'pred_scale and true_scale lengths differ: {p.size} vs {t.size}')
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError('scales must be finite')
    if space == 'log':
        if (p <= 0).any() or (t <= 0).any():
            raise ValueError('scales must be > 0 to compare them in log space')
        p, t = np.log(p), np.log(t)
    elif space != 'linear':
        raise ValueError(f"space must be 'linear' or 'log', got {space!r}")
    err = p - t
    return {'mae': float(np.mean(np.abs(err))), 'rmse': float(np.sqrt(np.mean(err * err)))}
