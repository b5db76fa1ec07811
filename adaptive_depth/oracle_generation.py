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
Generating an oracle directory: the per-image oracle scales s* of a base depth model.

:func:`generate_oracle_dir` is the library form of the ``generate_oracle`` tool (which only
parses options, opens the dataset and the model and calls it). For every sample: the base
model's prediction (through a :class:`~adaptive_depth.prediction_cache.PredictionCache`, so an
interrupted run resumes without recomputing), ``s* = argmin_{s in bounds} W1(s · D_pred, D_gt)``
over the valid pixels (exact solver), W1 at s* (metres) and the number of valid pixels.

Everything is written into a staging folder inside the output directory and moved in with
:func:`~adaptive_depth.oracle_dataset.commit_oracle_dir` only when complete, so an interrupted
run never corrupts or replaces a finished directory, and a rerun (which reads the cached
predictions) writes exactly what a clean run writes.
"""

from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import sys
import time
from typing import Any, List, Optional, Sequence, Tuple, Union
import warnings

from adaptive_depth import oracle as oracle_mod
from adaptive_depth.evaluation import EvaluationError, mean_scale
from adaptive_depth.metrics import eigen_crop_mask
from adaptive_depth.oracle_dataset import (coarse_depth_grid, commit_oracle_dir,
                                           DEPTH_GRID_SIZE, IMAGE_SIZE, open_images_memmap,
                                           OracleMeta, resize_for_oracle, write_oracle_dir)
from adaptive_depth.prediction_cache import predict_cached, PredictionCache
from adaptive_depth.scale_net import relative_depth_copy
import numpy as np

PathLike = Union[str, Path]
MIN_VALID_PIXELS = 100
"""Samples with fewer valid pixels get no oracle scale (NaN, not kept)."""
STAGING_DIR = '.oracle.partial'
"""Folder inside the output directory where a run builds the new oracle files."""
EVAL_CROPS = ('auto', 'eigen', 'none')


class OracleGenerationError(ValueError):
    """The oracle scales cannot be computed from these inputs (the message says why)."""


@dataclass
class OracleSettings:
    """
    How the oracle scales are computed.

    :ivar bounds: (low, high) search interval of s* (dimensionless, 0 < low < high).
    :ivar percentile_filter: keep samples whose s* lies within these (low, high) percentiles;
        None keeps every sample with a finite s*.
    :ivar eval_crop: pixels used for s*: 'auto' (the Eigen crop for samples whose meta says
        ``eval_crop: eigen``, i.e. NYU), 'eigen' (always) or 'none' (the whole image).
    :ivar min_valid_pixels: samples with fewer valid pixels get no s* (NaN).
    """

    bounds: Tuple[float, float] = (0.1, 2.0)
    percentile_filter: Optional[Tuple[float, float]] = (5.0, 95.0)
    eval_crop: str = 'auto'
    min_valid_pixels: int = MIN_VALID_PIXELS

    def validate(self) -> None:
        """Raise :class:`OracleGenerationError` naming the first invalid setting."""
        low, high = (float(v) for v in self.bounds)
        if not 0 < low < high:
            raise OracleGenerationError(f'bounds must satisfy 0 < LOW < HIGH, got {low} {high}')
        if self.percentile_filter is not None:
            plow, phigh = (float(v) for v in self.percentile_filter)
            if not 0.0 <= plow < phigh <= 100.0:
                raise OracleGenerationError(
                    f'percentile filter must satisfy 0 <= LOW < HIGH <= 100, got {plow} {phigh}')
        if self.eval_crop not in EVAL_CROPS:
            raise OracleGenerationError(f'eval_crop must be one of {EVAL_CROPS}, '
                                        f'got {self.eval_crop!r}')


@dataclass
class OracleSummary:
    """
    What :func:`generate_oracle_dir` computed.

    ``count`` samples, ``valid`` with a finite s*, ``kept`` after the filter, ``at_bounds`` with
    s* at a bound, ``percentiles`` of s* (min, p5, p25, p50, p75, p95, max), ``mean_scale``
    (exp of the mean log s* over the kept rows: the constant a one-off calibration of
    ``scale_source: fixed`` would use; NaN when none is kept), ``mean_w1``
    (metres), ``elapsed_s``, cache ``hits`` / ``misses`` (None without a cache), ``simulated``
    and the output directory ``out``.
    """

    count: int
    valid: int
    kept: int
    at_bounds: int
    percentiles: List[float]
    mean_scale: float
    mean_w1: float
    elapsed_s: float
    cache_hits: Optional[int]
    cache_misses: Optional[int]
    simulated: bool
    out: str


def _crop_mask(mode: str, sample: Any, cache: dict) -> Optional[np.ndarray]:
    if mode == 'none' or (mode == 'auto' and (sample.meta or {}).get('eval_crop') != 'eigen'):
        return None
    h, w = np.asarray(sample.depth).shape[:2]
    if (h, w) not in cache:
        cache[(h, w)] = eigen_crop_mask(h, w)
    return cache[(h, w)]


def _cache_record(out: Path, cache: Optional[PredictionCache], model: Any) -> Optional[str]:
    """Return the cache folder as recorded: relative to ``out`` when inside it, else absolute."""
    directory = cache.directory if cache is not None else getattr(model, 'directory', None)
    if directory is None:
        return None
    directory = Path(directory).expanduser().absolute()
    try:
        return os.fspath(directory.relative_to(out.absolute()))
    except ValueError:
        return os.fspath(directory)


def generate_oracle_dir(dataset: Sequence[Any], model: Any, out: PathLike,
                        cache: Optional[PredictionCache] = None,
                        settings: Optional[OracleSettings] = None,
                        record: Optional[OracleMeta] = None, progress: bool = True,
                        desc: str = 'oracle') -> OracleSummary:
    """
    Compute the oracle scales of ``model`` on ``dataset`` and write the oracle directory ``out``.

    :param dataset: RGB-D samples (``rgb`` H×W×3 uint8, ``depth`` H×W metres, ``name``).
    :param model: base model with ``predict(sample)`` → H×W metres, ``name``, ``simulated``.
    :param out: oracle directory; its oracle files are replaced only when the run completes
        (the staging folder ``out/.oracle.partial`` is rebuilt from scratch on every run).
    :param cache: prediction cache (an interrupted run resumes from it); None always predicts.
    :param settings: :class:`OracleSettings` (defaults: bounds 0.1–2, 5–95 % filter, auto crop).
    :param record: the dataset / command fields of the :class:`OracleMeta` to write; the model,
        cache and settings fields are filled in here.
    :param progress: show a tqdm progress bar on stderr.
    :raises OracleGenerationError: (a ValueError) for bad settings, an empty dataset or when no
        sample has enough valid pixels.
    """
    from tqdm import tqdm

    settings = settings or OracleSettings()
    settings.validate()
    n = len(dataset)
    if n == 0:
        raise OracleGenerationError('the dataset has no samples')
    low, high = (float(v) for v in settings.bounds)
    started = time.perf_counter()
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    staging = out / STAGING_DIR
    if staging.exists():
        shutil.rmtree(staging)
    names: List[str] = []
    scales = np.full(n, np.nan)
    w1 = np.full(n, np.nan)
    n_valid = np.zeros(n, dtype=np.int64)
    images = open_images_memmap(staging, n)
    depth_grids = np.full((n,) + DEPTH_GRID_SIZE, np.nan, dtype=np.float32)
    relative_depths = np.zeros((n,) + IMAGE_SIZE, dtype=np.float16)
    crop_cache: dict = {}
    bar = tqdm(predict_cached(dataset, model, cache), total=n, desc=desc, unit='img',
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for i, (sample, pred) in enumerate(bar):
            names.append(sample.name)
            images[i] = resize_for_oracle(sample.rgb)
            gt = np.asarray(sample.depth, dtype=np.float32)
            gt_valid = sample.valid_mask()
            depth_grids[i] = coarse_depth_grid(gt, gt_valid)
            relative_depths[i] = relative_depth_copy(pred, IMAGE_SIZE)
            with np.errstate(invalid='ignore'):
                valid = gt_valid & np.isfinite(pred) & (pred > 0)
            crop = _crop_mask(settings.eval_crop, sample, crop_cache)
            if crop is not None:
                valid &= crop
            count = int(valid.sum())
            n_valid[i] = count
            if count < settings.min_valid_pixels:
                warnings.warn(f'{sample.name}: only {count} valid depth pixels; no oracle scale',
                              stacklevel=1)
                continue
            s = oracle_mod.optimal_scale(pred, gt, valid, bounds=(low, high), method='exact')
            scales[i] = s
            w1[i] = oracle_mod.scaled_wasserstein(pred, gt, s, valid)
    finally:
        bar.close()
        images.flush()
        del images

    finite = np.isfinite(scales)
    if not finite.any():
        raise OracleGenerationError(
            f'no sample has {settings.min_valid_pixels}+ valid depth pixels')
    if settings.percentile_filter is None:
        kept = finite.copy()
    else:
        kept = oracle_mod.percentile_mask(scales, *settings.percentile_filter)
        if not kept.any():
            lo_pct, hi_pct = settings.percentile_filter
            raise OracleGenerationError(
                f'the {lo_pct:g}th-{hi_pct:g}th percentile filter keeps none of the '
                f'{int(finite.sum())} samples with a scale (too few to filter); pass '
                '--no-filter or give more samples')
    elapsed = time.perf_counter() - started
    meta = record if record is not None else OracleMeta()
    meta.base_model_name = str(model.name)
    meta.simulated = bool(model.simulated)
    meta.model_key = getattr(model, 'model_key', None)
    meta.prediction_cache = _cache_record(out, cache, model)
    meta.bounds = (low, high)
    meta.percentile_filter = (None if settings.percentile_filter is None
                              else tuple(float(v) for v in settings.percentile_filter))
    meta.eval_crop = settings.eval_crop
    meta.min_valid_pixels = int(settings.min_valid_pixels)
    meta.oracle_method = 'exact'
    meta.elapsed_s = elapsed
    if model.simulated:
        meta.note = ('SIMULATED base model: scales come from a synthetic error model, not from '
                     'a real depth network')
    write_oracle_dir(staging, names, scales, w1, n_valid, kept, images=None, meta=meta,
                     depth_grids=depth_grids, relative_depths=relative_depths)
    commit_oracle_dir(staging, out)

    with np.errstate(invalid='ignore'):
        at_bounds = int(np.sum((scales <= low * (1 + 1e-9)) | (scales >= high * (1 - 1e-9))))
    pct = np.percentile(scales[finite], [0, 5, 25, 50, 75, 95, 100])
    try:
        constant = mean_scale(np.log(np.where(finite, scales, np.nan)), kept)
    except EvaluationError:
        constant = float('nan')
    return OracleSummary(
        count=n, valid=int(finite.sum()), kept=int(kept.sum()), at_bounds=at_bounds,
        percentiles=[float(v) for v in pct], mean_scale=constant,
        mean_w1=float(np.nanmean(w1)), elapsed_s=elapsed,
        cache_hits=cache.hits if cache is not None else None,
        cache_misses=cache.misses if cache is not None else None,
        simulated=bool(model.simulated), out=str(out))
