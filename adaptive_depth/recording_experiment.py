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
The recording experiment, without ROS: train scale networks on some RGB-D data, test on other.

1. :func:`prepare_frames` reads every frame of a dataset spec once (in worker processes), runs
   the base model (the SIMULATED one by default), computes the oracle scale s* (W1-optimal,
   :func:`adaptive_depth.oracle.optimal_scale`) and keeps what training and evaluation need:
   the 240×320 training copy of the image, the coarse ground-truth depth grid, and the
   per-frame *metric summary* — 1024 quantiles of the valid ratios r = prediction / ground
   truth plus the means of p², p·g and g² — from which AbsRel (mean |s·r − 1|), δ1 and RMSE of
   the scaled prediction s·p follow for any scale s without keeping the depth maps.
2. :func:`run_experiment` trains each recipe (:data:`adaptive_depth.recipes.RECIPES`) on the
   training frames for each seed, predicts log s with its uncertainty on the test frames and
   reports, per recipe: Table I (scale errors against s*), Table II (AbsRel, RMSE, δ1 of no
   scaling, the oracle and the learned scale), the fraction of the AbsRel gap closed, temporal
   stability on runs of consecutive frames (frame-to-frame scale change with and without the
   EMA smoothing of :mod:`adaptive_depth.smoothing`) and how well the uncertainty ranks the
   errors (Spearman correlation of std with |log s − log s*|; error of the most certain half).
   Beside the networks it scores the **training-mean scale** (:func:`train_mean_baseline`): one
   constant s = exp(mean training log s*) for every test frame, which needs no image at all. A
   scale network earns its cost only where it beats that constant.

Train and test data are whole datasets given separately, so no run of consecutive frames is
ever split between them; model selection uses the training loss (no validation split inside a
recording).
"""

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
import math
import multiprocessing
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from adaptive_depth.io_helpers import dumps_json
import numpy as np

QUANTILES = 1024
"""
Equal shares of each frame's pixels whose mean depth ratio is kept for the metrics.

AbsRel at a scale s is then exact but for the one share that straddles ratio 1 / s (tested
against the pixels, tail of flying pixels included); δ1 is exact to a share either way.
"""

SMOOTHING_ALPHAS: Tuple[float, ...] = (0.5, 0.7, 0.8, 0.9)
"""EMA weights tried for the temporal stability table (the node's ``scale_smoothing``)."""

MIN_RUN = 5
"""Fewest consecutive frames a recording needs to enter the temporal stability table."""


@dataclass
class FrameSet:
    """
    Prepared frames of one or more datasets (rows in dataset order).

    :ivar names: N sample names; ``recordings`` N recording names
        (:func:`adaptive_depth.sample.recording_of`: a run of consecutive frames, or a folder
        of single frames such as the NYU sample); ``frames`` N frame numbers (-1 when unknown,
        so only numbered recordings enter the temporal stability table).
    :ivar images: N×240×320×3 uint8 training copies; ``depth_grids`` N×24×32 metres (NaN).
    :ivar log_scales: N oracle log s*; ``ratio_q`` N×Q means of prediction / ground truth over
        Q equal shares of the sorted ratios of the evaluation mask (:func:`ratio_shares`);
        ``moments`` N×3 means of p², p·g, g² (m²) there.
    :ivar specs: the dataset specs; ``simulated`` whether the base model is simulated;
        ``base_model`` its name; ``skipped`` (name, reason) of unusable frames.
    :ivar sources: N indices into ``specs``: the dataset each row came from (None at
        construction: every row is from ``specs[0]``).
    :ivar relative_depths: N×240×320 float16 training copies of the base model's depth, scale
        free (``scale_net.relative_depth_copy``), for ``depth_input`` networks (None: absent).
    """

    names: List[str]
    recordings: List[str]
    frames: np.ndarray
    images: np.ndarray
    depth_grids: np.ndarray
    log_scales: np.ndarray
    ratio_q: np.ndarray
    moments: np.ndarray
    specs: List[str]
    simulated: bool
    base_model: str
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    sources: Optional[np.ndarray] = None
    relative_depths: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        """Fill in ``sources`` (default: every row from ``specs[0]``) and check it."""
        if self.sources is None:
            self.sources = np.zeros(len(self.names), dtype=np.int64)
        self.sources = np.asarray(self.sources, dtype=np.int64)
        if self.sources.shape != (len(self.names),) or (
                self.sources.size and not 0 <= self.sources.min() <= self.sources.max()
                < len(self.specs)):
            raise ValueError('FrameSet.sources must hold one index into specs per frame')

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.names)

    @property
    def kept(self) -> np.ndarray:
        """Every prepared frame is used (the oracle's percentile filter is not applied)."""
        return np.ones(len(self.names), dtype=bool)

    @property
    def meta(self) -> Dict[str, Any]:
        """Oracle-like metadata for :func:`adaptive_depth.training.train_scale_net`."""
        return {'base_model': {'name': self.base_model, 'simulated': self.simulated},
                'dataset': {'spec': ' + '.join(self.specs)}}

    def subset(self, rows: Sequence[int]) -> 'FrameSet':
        """Return the frames ``rows`` (in that order)."""
        idx = np.asarray(rows, dtype=np.int64)
        return FrameSet([self.names[i] for i in idx], [self.recordings[i] for i in idx],
                        self.frames[idx], self.images[idx], self.depth_grids[idx],
                        self.log_scales[idx], self.ratio_q[idx], self.moments[idx],
                        list(self.specs), self.simulated, self.base_model, list(self.skipped),
                        self.sources[idx],
                        None if self.relative_depths is None else self.relative_depths[idx])


def concat_frames(parts: Sequence[FrameSet]) -> FrameSet:
    """Return the frames of ``parts`` one after the other."""
    if len(parts) == 1:
        return parts[0]
    return FrameSet(
        [n for p in parts for n in p.names], [r for p in parts for r in p.recordings],
        np.concatenate([p.frames for p in parts]), np.concatenate([p.images for p in parts]),
        np.concatenate([p.depth_grids for p in parts]),
        np.concatenate([p.log_scales for p in parts]),
        np.concatenate([p.ratio_q for p in parts]), np.concatenate([p.moments for p in parts]),
        [s for p in parts for s in p.specs], any(p.simulated for p in parts),
        ' + '.join(sorted({p.base_model for p in parts})),
        [s for p in parts for s in p.skipped],
        np.concatenate([p.sources + offset for p, offset in
                        zip(parts, np.cumsum([0] + [len(p.specs) for p in parts[:-1]]))]),
        None if any(p.relative_depths is None for p in parts)
        else np.concatenate([p.relative_depths for p in parts]))


# ----------------------------------------------------------------------------- preparation

_WORKER: Dict[str, Any] = {}


def _worker_init(spec: str, options: Dict[str, Any], model_options: Dict[str, Any]) -> None:
    from adaptive_depth.base_models import SimulatedBaseModel
    from adaptive_depth.datasets import open_dataset
    import cv2

    cv2.setNumThreads(1)
    _WORKER['dataset'] = open_dataset(spec, **options)
    _WORKER['model'] = SimulatedBaseModel(**model_options)


def summarise_frame(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> Tuple[
        float, np.ndarray, np.ndarray]:
    """
    Return (log s*, Q ratio quantiles, 3 moments) of one frame (H×W metres, H×W bool mask).

    Raises ``ValueError`` when the frame has no valid pixel.
    """
    from adaptive_depth.oracle import optimal_scale

    ok = mask & np.isfinite(pred) & (pred > 0) & np.isfinite(gt) & (gt > 0)
    if not ok.any():
        raise ValueError('no valid depth pixel')
    p = pred[ok].astype(np.float64)
    g = gt[ok].astype(np.float64)
    s = optimal_scale(p, g)
    q = ratio_shares(p / g).astype(np.float32)
    moments = np.array([np.mean(p * p), np.mean(p * g), np.mean(g * g)], dtype=np.float64)
    return math.log(s), q, moments


def ratio_shares(ratios: np.ndarray, shares: int = QUANTILES) -> np.ndarray:
    """
    Return the means of the sorted ``ratios`` (N ≥ 1) over ``shares`` equal parts of their mass.

    Each part holds exactly 1 / ``shares`` of the values (a value on a border is split between
    two parts), so mean |s·r − 1| over the pixels equals the mean of |s·m − 1| over the parts
    wherever a whole part lies on one side of 1 / s: only the part holding 1 / s differs.
    """
    r = np.sort(np.asarray(ratios, dtype=np.float64).ravel())
    n = r.size
    cumulative = np.concatenate([[0.0], np.cumsum(r)])
    at = np.arange(shares + 1) * (n / shares)  # part borders, in values
    whole = np.minimum(np.floor(at).astype(np.int64), n)
    mass = cumulative[whole] + (at - whole) * r[np.minimum(whole, n - 1)]
    return np.diff(mass) * (shares / n)


def _prepare_one(index: int):
    from adaptive_depth.evaluation import eval_mask
    from adaptive_depth.oracle_dataset import coarse_depth_grid, IMAGE_SIZE, resize_for_oracle
    from adaptive_depth.sample import recording_of
    from adaptive_depth.scale_net import relative_depth_copy

    dataset, model = _WORKER['dataset'], _WORKER['model']
    sample = dataset[index]
    meta = sample.meta or {}
    try:
        gt = np.asarray(sample.depth, dtype=np.float32)
        pred = np.asarray(model.predict(sample), dtype=np.float32)
        mask = eval_mask(sample, gt, crop='auto')
        log_s, q, moments = summarise_frame(pred, gt, mask)
    except ValueError as exc:
        return index, sample.name, None, str(exc)
    return index, sample.name, (recording_of(sample.name),
                                int(meta.get('frame', -1)), resize_for_oracle(sample.rgb),
                                coarse_depth_grid(gt), log_s, q, moments,
                                relative_depth_copy(pred, IMAGE_SIZE)), ''


def prepare_frames(spec: str, options: Optional[Dict[str, Any]] = None,
                   model_options: Optional[Dict[str, Any]] = None, workers: int = 0,
                   progress: bool = True) -> FrameSet:
    """
    Read, predict and summarise every frame of dataset ``spec`` (see the module docstring).

    :param options: dataset options (:func:`adaptive_depth.datasets.open_dataset`).
    :param model_options: :class:`adaptive_depth.base_models.SimulatedBaseModel` arguments.
    :param workers: processes (0: one per CPU core, at most 16). They are spawned, not forked:
        a child forked from a process that has run torch's thread pool hangs in its first
        torch or OpenCV call, and notebooks and tests have always run one. A script that calls
        this with more than one worker needs the ``if __name__ == '__main__':`` guard.
    :raises ValueError: when no frame of the dataset is usable.
    """
    from adaptive_depth.base_models import SimulatedBaseModel
    from adaptive_depth.datasets import open_dataset
    from tqdm.auto import tqdm

    options = {k: v for k, v in (options or {}).items() if v is not None}
    model_options = dict(model_options or {})
    n = len(open_dataset(spec, **options))
    workers = int(workers) or min(16, os.cpu_count() or 1)
    results: List[Any] = [None] * n
    skipped: List[Tuple[str, str]] = []
    bar = tqdm(total=n, desc=f'prepare {spec}', disable=not progress, unit='frame')
    if workers <= 1:
        _worker_init(spec, options, model_options)
        outputs = map(_prepare_one, range(n))
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn'),
                                   initializer=_worker_init,
                                   initargs=(spec, options, model_options))
        outputs = pool.map(_prepare_one, range(n), chunksize=8)
    try:
        for index, name, row, reason in outputs:
            bar.update(1)
            if row is None:
                skipped.append((name, reason))
            else:
                results[index] = (name,) + row
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    rows = [r for r in results if r is not None]
    if not rows:
        raise ValueError(f'{spec}: no usable frame (first problem: '
                         f'{skipped[0][1] if skipped else "empty dataset"})')
    name = SimulatedBaseModel(**model_options).name
    return FrameSet([r[0] for r in rows], [r[1] for r in rows],
                    np.array([r[2] for r in rows], dtype=np.int64),
                    np.stack([r[3] for r in rows]), np.stack([r[4] for r in rows]),
                    np.array([r[5] for r in rows], dtype=np.float64),
                    np.stack([r[6] for r in rows]), np.stack([r[7] for r in rows]),
                    [spec], True, name, skipped, None, np.stack([r[8] for r in rows]))


# --------------------------------------------------------------------------------- metrics


def scaled_ratios(ratio_q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Return the N×Q ratios s·pred/gt of N frames' ratio quantiles ``ratio_q`` at N ``scales``."""
    s = np.asarray(scales, dtype=np.float64).reshape(-1, 1)
    return s * np.asarray(ratio_q, dtype=np.float64)


def ratio_abs_rel(ratio_q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Return the N per-frame AbsRel of N frames' ratio quantiles (N×Q) at N ``scales``."""
    return np.abs(scaled_ratios(ratio_q, scales) - 1.0).mean(axis=1)


def frame_metrics(frames: FrameSet, scales: np.ndarray) -> Dict[str, np.ndarray]:
    """Return per-frame AbsRel, RMSE (m) and δ1 of the prediction scaled by N ``scales``."""
    s = np.asarray(scales, dtype=np.float64).reshape(-1, 1)
    sr = scaled_ratios(frames.ratio_q, scales)
    abs_rel = ratio_abs_rel(frames.ratio_q, scales)
    delta1 = (np.maximum(sr, 1.0 / sr) < 1.25).mean(axis=1)
    m = frames.moments
    s1 = s[:, 0]
    rmse = np.sqrt(np.maximum(s1 * s1 * m[:, 0] - 2 * s1 * m[:, 1] + m[:, 2], 0.0))
    return {'abs_rel': abs_rel, 'rmse': rmse, 'delta1': delta1}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Return Spearman's rank correlation of two N vectors (NaN for N < 3 or a constant one)."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan')
    return float(stats.spearmanr(a, b)[0])


def _gap(none: float, oracle: float, learned: float) -> float:
    from adaptive_depth.evaluation import gap_closure

    return gap_closure(none, oracle, learned)


def runs_of(frames: FrameSet) -> List[np.ndarray]:
    """Return the row indices of each recording in frame order (recordings of ≥ MIN_RUN)."""
    out = []
    recs = np.asarray(frames.recordings)
    for rec in dict.fromkeys(frames.recordings):
        rows = np.flatnonzero(recs == rec)
        if rows.size >= MIN_RUN and (frames.frames[rows] >= 0).all():
            out.append(rows[np.argsort(frames.frames[rows], kind='stable')])
    return out


def gap_by_source(frames: FrameSet, none: np.ndarray, oracle: np.ndarray,
                  learned: np.ndarray) -> List[Dict[str, Any]]:
    """
    Return the gap closed on each dataset of ``frames`` (one entry per spec, in order).

    ``none``, ``oracle`` and ``learned`` are the N per-frame AbsRel values. A result pooled over
    several test recordings can hide one that the network gets wrong; this shows each.
    """
    out = []
    for index, spec in enumerate(frames.specs):
        rows = frames.sources == index
        if not rows.any():
            continue
        means = [float(np.mean(v[rows])) for v in (none, oracle, learned)]
        out.append({'spec': spec, 'n': int(rows.sum()), 'abs_rel_none': means[0],
                    'abs_rel_oracle': means[1], 'abs_rel': means[2],
                    'gap_closure': _gap(*means)})
    return out


def evaluate_predictions(frames: FrameSet, log_s: np.ndarray, log_std: np.ndarray,
                         bounds: Tuple[float, float],
                         alphas: Sequence[float] = SMOOTHING_ALPHAS,
                         hold_std: Optional[float] = None) -> Dict[str, Any]:
    """
    Score learned log-scales (N, with N stds) on ``frames``; see the module docstring.

    ``bounds`` are the log-scale bounds the applied scale is clamped to (as the node does).
    """
    from adaptive_depth.smoothing import frame_to_frame_change, smooth_log_scales

    log_s = np.clip(np.asarray(log_s, dtype=np.float64), *bounds)
    star = frames.log_scales
    none = frame_metrics(frames, np.ones(len(frames)))
    oracle = frame_metrics(frames, np.exp(star))
    learned = frame_metrics(frames, np.exp(log_s))
    table2 = {name: {k: float(np.mean(v)) for k, v in m.items()}
              for name, m in (('none', none), ('oracle', oracle), ('learned', learned))}
    err = np.abs(log_s - star)
    lin = np.abs(np.exp(log_s) - np.exp(star))
    rmse_log = float(np.sqrt((err ** 2).mean()))
    table1 = {'learned': {'mae_log': float(err.mean()), 'rmse_log': rmse_log,
                          'mae_linear': float(lin.mean())},
              'none': {'mae_log': float(np.abs(star).mean()),
                       'rmse_log': float(np.sqrt((star ** 2).mean())),
                       'mae_linear': float(np.abs(1 - np.exp(star)).mean())}}
    out: Dict[str, Any] = {
        'n': len(frames), 'table1': table1, 'table2': table2,
        'gap_closure': _gap(table2['none']['abs_rel'], table2['oracle']['abs_rel'],
                            table2['learned']['abs_rel']),
        'per_source': gap_by_source(frames, none['abs_rel'], oracle['abs_rel'],
                                    learned['abs_rel'])}
    # uncertainty ranking
    std = np.asarray(log_std, dtype=np.float64)
    order = np.argsort(std, kind='stable')
    half = order[: max(1, len(order) // 2)]
    out['uncertainty'] = {
        'spearman_std_vs_abs_log_error': spearman(std, err),
        'mae_log_all': float(err.mean()), 'mae_log_certain_half': float(err[half].mean()),
        'abs_rel_all': float(learned['abs_rel'].mean()),
        'abs_rel_certain_half': float(learned['abs_rel'][half].mean()),
        'std_median': float(np.median(std)) if std.size else float('nan')}
    # temporal stability on runs of consecutive frames
    runs = runs_of(frames)
    stability: Dict[str, Any] = {'recordings': len(runs),
                                 'frames': int(sum(r.size for r in runs))}
    if runs:
        rows = np.concatenate(runs)
        base_abs = float(learned['abs_rel'][rows].mean())
        change_raw = np.concatenate([frame_to_frame_change(log_s[r]) for r in runs])
        stability['off'] = {'p50_change': float(np.percentile(change_raw, 50)),
                            'p95_change': float(np.percentile(change_raw, 95)),
                            'abs_rel': base_abs}
        for alpha in alphas:
            for hold in ([None, hold_std] if hold_std else [None]):
                applied = np.empty_like(log_s)
                for r in runs:
                    applied[r] = smooth_log_scales(log_s[r], alpha, std[r], hold)
                change = np.concatenate([frame_to_frame_change(applied[r]) for r in runs])
                abs_rel = float(frame_metrics(frames.subset(rows),
                                              np.exp(applied[rows]))['abs_rel'].mean())
                key = f'ema_{alpha:g}' + ('' if hold is None else f'_hold_{hold:.3g}')
                stability[key] = {'p50_change': float(np.percentile(change, 50)),
                                  'p95_change': float(np.percentile(change, 95)),
                                  'abs_rel': abs_rel,
                                  'abs_rel_relative_change': abs_rel / base_abs - 1.0}
        oracle_change = np.concatenate([frame_to_frame_change(star[r]) for r in runs])
        stability['oracle_p95_change'] = float(np.percentile(oracle_change, 95))
    out['stability'] = stability
    return out


def train_mean_baseline(train: FrameSet, test: FrameSet) -> Dict[str, Any]:
    """
    Score the constant scale exp(mean training log s*) on every ``test`` frame.

    The image-free baseline a scale network has to beat: it corrects the base model's average
    scale error on the training data (what a one-off calibration of ``scale_source: fixed``
    would do) but nothing per image. Returns ``log_scale`` (the constant) and the gap closed,
    Table I and Table II of :func:`evaluate_predictions`.
    """
    from adaptive_depth.evaluation import train_mean_scale
    from adaptive_depth.oracle import DEFAULT_BOUNDS

    constant = math.log(train_mean_scale(train))
    scored = evaluate_predictions(test, np.full(len(test), constant), np.zeros(len(test)),
                                  (math.log(DEFAULT_BOUNDS[0]), math.log(DEFAULT_BOUNDS[1])),
                                  alphas=())
    return {'log_scale': constant, 'gap_closure': scored['gap_closure'],
            'table1': scored['table1'], 'table2': scored['table2'],
            'per_source': scored['per_source']}


# ------------------------------------------------------------------------------ experiment


def predict_frames(checkpoint: Path, frames: FrameSet, device: str,
                   batch: int = 64) -> Tuple[np.ndarray, np.ndarray, Tuple[float, float]]:
    """Return (log s, std of log s, log-scale bounds) of a checkpoint on every frame."""
    from adaptive_depth.scale_net import ScalePredictor
    from adaptive_depth.training import resolve_device

    pred = ScalePredictor.from_checkpoint(checkpoint, resolve_device(device))
    log_s, std = pred.estimate_copies(frames.images, frames.relative_depths, batch)
    return log_s, std, tuple(pred.cfg.log_scale_bounds)


def run_experiment(train: FrameSet, test: FrameSet, recipes: Sequence[str],
                   seeds: Sequence[int], out_dir: Path, device: str = 'auto',
                   overrides: Optional[Dict[str, Dict[str, Any]]] = None,
                   hold_quantile: Optional[float] = 0.8, progress: bool = True,
                   log: Callable[[str], None] = print,
                   on_run: Optional[Callable[[Dict[str, Any]], None]] = None
                   ) -> Dict[str, Any]:
    """
    Train every recipe × seed on ``train``, score on ``test``; return the results dict.

    Checkpoints go to ``out_dir/<recipe>_seed<k>/``; per-frame predictions are in the result
    (``per_frame``). ``overrides`` maps a recipe to TrainConfig field overrides (e.g. epochs).
    ``hold_quantile``: the stability table also tries holding the smoothed scale when a frame's
    std exceeds this quantile of the stds on the training frames (None: not tried).
    ``on_run(results)`` is called after every trained run (e.g. to save partial results).
    """
    import time

    from adaptive_depth.depth_model import resolve_device
    from adaptive_depth.provenance import run_environment
    from adaptive_depth.recipes import recipe_config
    from adaptive_depth.training import train_scale_net

    results: Dict[str, Any] = {
        'environment': run_environment(resolve_device(device)),
        'recipes': {r: {'runs': []} for r in recipes}, 'per_frame': {},
        'test': {'names': test.names, 'recordings': test.recordings,
                 'log_scale_oracle': test.log_scales.tolist()},
        'train_mean_baseline': train_mean_baseline(train, test)}
    log(f'training-mean scale (s = {math.exp(results["train_mean_baseline"]["log_scale"]):.3f}, '
        f'no image): test gap closed '
        f'{100 * results["train_mean_baseline"]["gap_closure"]:.1f} %')
    # Seeds outside, recipes inside: a run cut short still holds paired comparisons.
    for seed in seeds:
        for recipe in recipes:
            # No validation split by default: a random hold-out of consecutive frames would
            # leak near-duplicates, so selection uses the training loss. Overrides may hold out
            # whole training recordings instead (val_split='recording', val_fraction > 0).
            cfg = recipe_config(recipe, **{'val_fraction': 0.0, 'seed': seed, 'device': device,
                                           **dict((overrides or {}).get(recipe, {}))})
            run_dir = Path(out_dir) / f'{recipe}_seed{seed}'
            t0 = time.perf_counter()
            trained = train_scale_net(train, cfg, run_dir, progress=progress)
            seconds = time.perf_counter() - t0
            log_s, std, bounds = predict_frames(trained.best_dir, test, device)
            train_log_s, train_std, _ = predict_frames(trained.best_dir, train, device)
            hold_std = None
            if hold_quantile is not None and np.ptp(train_std) > 0:
                hold_std = float(np.quantile(train_std, hold_quantile))
            scored = evaluate_predictions(test, log_s, std, bounds, hold_std=hold_std)
            scored_train = evaluate_predictions(train, train_log_s, np.zeros(len(train)), bounds,
                                                alphas=())
            scored.update(seed=seed, train_seconds=seconds, hold_std=hold_std,
                          best_epoch=trained.best_epoch,
                          train_gap_closure=scored_train['gap_closure'],
                          checkpoint=str(trained.best_dir))
            entry = results['recipes'][recipe]
            entry['runs'].append(scored)
            gaps = np.array([r['gap_closure'] for r in entry['runs']])
            entry.update(gap_closure_mean=float(np.mean(gaps)),
                         gap_closure_min=float(np.min(gaps)))
            results['per_frame'][f'{recipe}_seed{seed}'] = {
                'log_scale': log_s.tolist(), 'log_scale_std': std.tolist()}
            per_source = scored['per_source']
            each = ''.join(f'; {e["spec"]} {100 * e["gap_closure"]:.1f} %' for e in per_source
                           if len(per_source) > 1)
            log(f'{recipe} seed {seed}: test gap closed {100 * scored["gap_closure"]:.1f} % '
                f'(train {100 * scored_train["gap_closure"]:.1f} %{each}), {seconds:.0f} s')
            if on_run is not None:
                on_run(results)
    return results


# --------------------------------------------------------------------------------- reports


def percent(v: Any) -> str:
    """Return a fraction as ``'12.3 %'``, or ``'–'`` for None or a non-finite value."""
    return '–' if v is None or not np.isfinite(v) else f'{100 * v:.1f} %'


def _num(v: Any, digits: int = 4) -> str:
    return '–' if v is None or not np.isfinite(v) else f'{v:.{digits}f}'


def _per_source_table(recipes: Dict[str, Any], base: Optional[Dict[str, Any]]) -> List[str]:
    """Markdown lines: the gap closed on each test dataset (none for a single dataset)."""
    first = next(iter(recipes.values()))['runs'][0].get('per_source', [])
    if len(first) < 2:
        return []
    header = ' | '.join(f'{entry["spec"]} ({entry["n"]})' for entry in first)
    lines = ['', '## Gap closed per test dataset (mean over seeds)', '',
             f'| recipe | {header} |', '|---|' + '---|' * len(first)]
    for name, r in recipes.items():
        per_seed = np.array([[e['gap_closure'] for e in run['per_source']] for run in r['runs']])
        lines.append(f'| {name} | ' + ' | '.join(percent(v) for v in per_seed.mean(axis=0)) + ' |')
    if base:
        lines.append('| training-mean scale | '
                     + ' | '.join(percent(e['gap_closure']) for e in base['per_source']) + ' |')
    return lines


def report_markdown(results: Dict[str, Any], title: str) -> str:
    """Return the Markdown report (Tables I/II, gap closed, stability, uncertainty)."""
    simulated = results.get('simulated', True)
    lines = [f'# {title}', '']
    if simulated:
        lines += ['> **SIMULATED base model**: the depth predictions are the simulated base model '
                  "applied to each frame's ground truth (a DA2-like scale error), not a real "
                  'network. These numbers compare the scale networks, not Depth Anything V2.', '']
    lines += [f'Train: {", ".join(results["train_specs"])} ({results["n_train"]} frames). '
              f'Test: {", ".join(results["test_specs"])} ({results["n_test"]} frames, '
              f'{results["test_recordings"]} recordings). Seeds: {results["seeds"]}.', '',
              '## Gap closed (test AbsRel, no scaling → oracle)', '',
              '| recipe | mean | min | per seed | train (seed 0) |', '|---|---|---|---|---|']
    done = {name: r for name, r in results['recipes'].items() if r['runs']}
    results = dict(results, recipes=done)
    for name, r in results['recipes'].items():
        per = ', '.join(percent(run['gap_closure']) for run in r['runs'])
        lines.append(f'| {name} | {percent(r["gap_closure_mean"])} | '
                     f'{percent(r["gap_closure_min"])} | {per} | '
                     f'{percent(r["runs"][0]["train_gap_closure"])} |')
    base = results.get('train_mean_baseline')
    if base:
        lines += [f'| training-mean scale (s = {math.exp(base["log_scale"]):.3f} on every frame; '
                  f'no image) | {percent(base["gap_closure"])} | | | |', '',
                  'A network that does not beat the training-mean scale adds nothing over a '
                  'one-off calibration of `scale_source: fixed`.']
    lines += _per_source_table(results['recipes'], base)
    first = next(iter(results['recipes'].values()))['runs'][0]
    # (label, Table II entry, Table I entry) of every scale compared, first seed of each recipe
    compared = [('none', first['table2']['none'], None),
                ('oracle', first['table2']['oracle'], None)]
    compared += [(f'learned ({name})', r['runs'][0]['table2']['learned'],
                  r['runs'][0]['table1']['learned']) for name, r in results['recipes'].items()]
    if base:
        compared.append(('training-mean scale', base['table2']['learned'],
                         base['table1']['learned']))
    lines += ['', '## Table II (test, first seed; means of per-image metrics)', '',
              '| method | AbsRel | RMSE [m] | δ1 |', '|---|---|---|---|']
    lines += [f'| {label} | {_num(m["abs_rel"])} | {_num(m["rmse"])} | {_num(m["delta1"])} |'
              for label, m, _ in compared]
    lines += ['', '## Table I (test, first seed; scale against the oracle s*)', '',
              '| method | MAE log s | RMSE log s | MAE s |', '|---|---|---|---|']
    scale_rows = [('none (s = 1)', first['table1']['none'])]
    scale_rows += [(label, t) for label, _, t in compared if t is not None]
    lines += [f'| {label} | {_num(t["mae_log"])} | {_num(t["rmse_log"])} | '
              f'{_num(t["mae_linear"])} |' for label, t in scale_rows]
    lines += ['', '## Temporal stability (test runs of consecutive frames, first seed)', '']
    stab_any = False
    for name, r in results['recipes'].items():
        st = r['runs'][0]['stability']
        if not st.get('recordings'):
            continue
        if not stab_any:
            lines += ['| recipe | smoothing | p50 change/frame | p95 change/frame | AbsRel | '
                      'AbsRel vs off |', '|---|---|---|---|---|---|']
            stab_any = True
        for key, v in st.items():
            if not isinstance(v, dict):
                continue
            rel = v.get('abs_rel_relative_change')
            lines.append(f'| {name} | {key} | {percent(v["p50_change"])} | '
                         f'{percent(v["p95_change"])} | {_num(v["abs_rel"])} | '
                         f'{"–" if rel is None else f"{100 * rel:+.2f} %"} |')
    if stab_any:
        lines += ['', 'Oracle s* itself changes by (p95): ' + ', '.join(
            f'{name} {percent(r["runs"][0]["stability"].get("oracle_p95_change"))}'
            for name, r in results['recipes'].items()) + ' per frame (SIMULATED per-frame '
            'noise of the base model included).']
    else:
        lines.append('No test recording has a run of consecutive frames.')
    lines += ['', '## Uncertainty of log s (test, first seed)', '',
              '| recipe | Spearman(std, abs log error) | MAE log s all | most certain half | '
              'AbsRel all | most certain half |', '|---|---|---|---|---|---|']
    for name, r in results['recipes'].items():
        u = r['runs'][0]['uncertainty']
        lines.append(f'| {name} | {_num(u["spearman_std_vs_abs_log_error"], 3)} | '
                     f'{_num(u["mae_log_all"])} | {_num(u["mae_log_certain_half"])} | '
                     f'{_num(u["abs_rel_all"])} | {_num(u["abs_rel_certain_half"])} |')
    return '\n'.join(lines) + '\n'


def write_reports(results: Dict[str, Any], out_dir: Path, title: str) -> List[Path]:
    """Write results.json, results.md, results.csv and results.png; return the paths."""
    import csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / 'results.json', out_dir / 'results.md', out_dir / 'results.csv',
             out_dir / 'results.png']
    paths[0].write_text(dumps_json(results))
    paths[1].write_text(report_markdown(results, title))
    with open(paths[2], 'w', newline='') as fh:
        writer = csv.writer(fh)
        writer.writerow(['recipe', 'seed', 'gap_closure', 'train_gap_closure', 'abs_rel_none',
                         'abs_rel_oracle', 'abs_rel_learned', 'mae_log', 'spearman_std_error',
                         'train_seconds'])
        for name, r in results['recipes'].items():
            for run in r['runs']:
                t2 = run['table2']
                writer.writerow([name, run['seed'], run['gap_closure'], run['train_gap_closure'],
                                 t2['none']['abs_rel'], t2['oracle']['abs_rel'],
                                 t2['learned']['abs_rel'], run['table1']['learned']['mae_log'],
                                 run['uncertainty']['spearman_std_vs_abs_log_error'],
                                 run['train_seconds']])
        base = results.get('train_mean_baseline')
        if base:
            t2 = base['table2']
            writer.writerow(['train_mean_baseline', '', base['gap_closure'], '',
                             t2['none']['abs_rel'], t2['oracle']['abs_rel'],
                             t2['learned']['abs_rel'], base['table1']['learned']['mae_log'], '',
                             ''])
    plot_results(results, paths[3], title)
    return paths


def plot_results(results: Dict[str, Any], path: Path, title: str) -> Path:
    """Plot gap closed per recipe, a test recording's scale trace and std vs error (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    recipes = [r for r, v in results['recipes'].items() if v['runs']]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), dpi=100)
    ax = axes[0]
    for i, name in enumerate(recipes):
        gaps = [100 * run['gap_closure'] for run in results['recipes'][name]['runs']]
        ax.bar(i, np.mean(gaps), color=f'C{i}', alpha=0.7)
        ax.plot([i] * len(gaps), gaps, 'ko', ms=4)
    base = results.get('train_mean_baseline')
    if base and base.get('gap_closure') is not None and np.isfinite(base['gap_closure']):
        ax.axhline(100 * base['gap_closure'], color='k', ls='--', lw=1,
                   label='training-mean scale (no image)')
        ax.legend(fontsize=7, loc='lower right')
    ax.set_xticks(range(len(recipes)), recipes)
    ax.set_ylabel('test AbsRel gap closed [%]')
    ax.set_title('gap closed (dots: seeds)')
    ax.grid(True, axis='y', alpha=0.3)
    test = results['test']
    star = np.asarray(test['log_scale_oracle'])
    recs = np.asarray(test['recordings'])
    longest = max(dict.fromkeys(test['recordings']), key=lambda r: int((recs == r).sum()))
    rows = np.flatnonzero(recs == longest)
    ax = axes[1]
    ax.plot(np.exp(star[rows]), 'k-', lw=1, label='oracle s*')
    from adaptive_depth.smoothing import smooth_log_scales
    for i, name in enumerate(recipes):
        pf = results['per_frame'][f'{name}_seed{results["recipes"][name]["runs"][0]["seed"]}']
        ls = np.asarray(pf['log_scale'])[rows]
        ax.plot(np.exp(ls), color=f'C{i}', lw=0.8, alpha=0.5, label=f'{name} raw')
        ax.plot(np.exp(smooth_log_scales(ls, 0.8)), color=f'C{i}', lw=1.5,
                label=f'{name} EMA 0.8')
    ax.set_title(f'scale over frames: {longest}'[:60])
    ax.set_xlabel('frame (in order)')
    ax.set_ylabel('scale s')
    ax.legend(fontsize=7)
    ax = axes[2]
    for i, name in enumerate(recipes):
        pf = results['per_frame'][f'{name}_seed{results["recipes"][name]["runs"][0]["seed"]}']
        err = np.abs(np.asarray(pf['log_scale']) - star)
        ax.scatter(pf['log_scale_std'], err, s=6, color=f'C{i}', alpha=0.5, label=name)
    ax.set_xlabel('predicted std of log s')
    ax.set_ylabel('|log s − log s*|')
    ax.set_title('uncertainty vs error (test)')
    ax.legend(fontsize=7)
    fig.suptitle(title + (' — SIMULATED base model' if results.get('simulated', True) else ''))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
