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
Evaluation of the learned scale against no scaling, the oracle and one constant (Tables I, II).

For every sample of an oracle directory (rows with a finite oracle scale) the evaluation takes

* the base model's depth prediction ``D`` (H×W metres) — from the prediction cache recorded in
  the oracle's ``oracle.json`` (or from a base model passed in),
* the ground truth ``G`` (H×W metres) — from the dataset recorded in ``oracle.json``, matched by
  sample name,
* the evaluation mask — valid ground truth, inside the Eigen crop for samples whose ``meta``
  has ``eval_crop == 'eigen'`` (NYU), and ``G <= max_depth`` when a maximum depth is given,

and computes :func:`adaptive_depth.metrics.depth_metrics` of ``s · D`` for three scales:
``none`` (s = 1), ``oracle`` (s = s*, from ``oracle.csv``) and ``learned`` (s = the scale
network's prediction, clamped to its bounds).  With ``max_depth`` the scaled predictions are also
clipped to ``[min_depth, max_depth]`` (the usual NYU protocol).  Aggregates are the **mean of the
per-image metrics** (the NYU convention), never pooled pixels.

Table I: scale errors of the learned (and, for reference, the unit) scale against the oracle:
MAE and RMSE of ``s`` (linear) and of ``log s``.  Table II: AbsRel, RMSE, δ1, δ2, δ3, RMSE-log and
log10 for the three methods.  ``gap_closure = (absrel_none − absrel_learned) /
(absrel_none − absrel_oracle)``: the fraction of the AbsRel gap between no scaling and the oracle
that the learned scale closes.
"""

import csv
from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any, Callable, Collection, Dict, List, Optional, Sequence, Tuple, Union

from adaptive_depth.io_helpers import dumps_json
from adaptive_depth.metrics import depth_metrics, eigen_crop_mask, METRIC_KEYS, scale_errors
from adaptive_depth.oracle import scaled_wasserstein
import numpy as np

METHODS: Tuple[str, ...] = ('none', 'oracle', 'learned', 'train_mean')
METHOD_LABELS: Dict[str, str] = {'none': 'No scaling (s = 1)', 'oracle': 'Oracle scale s*',
                                 'learned': 'Learned scale',
                                 'train_mean': 'Training-mean scale (one constant)'}
SCORED_METHODS: Tuple[str, ...] = ('learned', 'train_mean')
"""The methods whose gap closure is reported (the others are its end points)."""

TABLE2_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('abs_rel', 'AbsRel ↓'), ('rmse', 'RMSE [m] ↓'), ('delta1', 'δ1 ↑'), ('delta2', 'δ2 ↑'),
    ('delta3', 'δ3 ↑'), ('rmse_log', 'RMSE-log ↓'), ('log10', 'log10 ↓'))
TABLE1_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('mae_linear', 'MAE (s)'), ('rmse_linear', 'RMSE (s)'), ('mae_log', 'MAE (log s)'),
    ('rmse_log', 'RMSE (log s)'))
SIMULATED_LABEL = 'SIMULATED base model'

BasePredictor = Callable[[Any], np.ndarray]
"""Callable mapping an RGBDSample to the base model's H×W depth prediction (metres)."""


class EvaluationError(ValueError):
    """Raised when the evaluation inputs are unusable (the message names the problem)."""


@dataclass
class Frame:
    """Data of one evaluated sample kept for figures (Fig. 3): all H×W, depths in metres."""

    name: str
    rgb: np.ndarray
    gt: np.ndarray
    pred: np.ndarray
    mask: np.ndarray
    intrinsics: Any
    scales: Dict[str, float]


@dataclass
class SplitEvaluation:
    """
    Results of :func:`evaluate_split` for one split.

    :ivar split: split label, e.g. ``'train'`` or ``'test'``.
    :ivar names: evaluated sample names (N).
    :ivar oracle_scales: N oracle scales s*.
    :ivar learned_scales: N learned scales (NaN when no predictor was given).
    :ivar per_sample: one dict per sample (name, scales, ``<method>_<metric>`` and W1 [m]).
    :ivar metrics: method → mean of the per-image metrics (:data:`METRIC_KEYS` + ``w1``).
    :ivar scale_table: ``'learned'`` / ``'none'`` → Table I errors against the oracle.
    :ivar gap_closure: AbsRel gap closure of the learned scale (NaN if undefined).
    :ivar train_mean_gap_closure: the same for the training-mean scale (NaN if not evaluated).
    :ivar simulated: True when the base model is the simulated one.
    :ivar base_model: base model name.
    :ivar skipped: (name, reason) of rows that could not be evaluated.
    :ivar frames: samples kept for figures, by name.
    """

    split: str
    names: List[str]
    oracle_scales: np.ndarray
    learned_scales: np.ndarray
    per_sample: List[Dict[str, Any]]
    metrics: Dict[str, Dict[str, float]]
    scale_table: Dict[str, Dict[str, float]]
    gap_closure: float
    simulated: bool
    base_model: str
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    frames: Dict[str, Frame] = field(default_factory=dict)
    train_mean_gap_closure: float = float('nan')

    @property
    def methods(self) -> Tuple[str, ...]:
        """Return the evaluated method names; learned and train_mean appear only when given."""
        return tuple(m for m in METHODS if m in self.metrics)


MIN_GAP_FRACTION = 0.01
"""A gap smaller than this share of the unscaled AbsRel is no gap: its closure would be noise."""


def gap_closure(absrel_none: float, absrel_oracle: float, absrel_learned: float) -> float:
    """
    Return ``(absrel_none − absrel_learned) / (absrel_none − absrel_oracle)``.

    1 means the learned scale is as good as the oracle, 0 no better than no scaling, negative
    worse. NaN when the oracle improves on no scaling by less than ``MIN_GAP_FRACTION`` of its
    AbsRel (the oracle minimises W1, not AbsRel, so on a few frames the gap can be ~0: a ratio
    of −500 would say nothing).
    """
    gap = float(absrel_none) - float(absrel_oracle)
    if not math.isfinite(gap) or gap <= MIN_GAP_FRACTION * abs(float(absrel_none)):
        return float('nan')
    return (float(absrel_none) - float(absrel_learned)) / gap


def train_mean_scale(oracle: Any) -> float:
    """
    Return exp(mean log s*) over the kept rows of ``oracle``: the training-mean scale.

    ``oracle`` is anything with N ``log_scales`` and N ``kept`` flags (an oracle split's
    ``OracleData``, a ``recording_experiment.FrameSet``). One constant for every image, the
    baseline a scale network has to beat: it corrects the base model's average scale error on
    the training data (what calibrating ``scale_source: fixed`` once would do) but nothing per
    image.

    :raises EvaluationError: when the split has no kept row with a finite scale.
    """
    return mean_scale(oracle.log_scales, oracle.kept)


def mean_scale(log_scales: Any, kept: Any) -> float:
    """
    Return exp(mean of the N ``log_scales`` whose ``kept`` flag is set and that are finite).

    :raises EvaluationError: when no such row exists.
    """
    log_s = np.asarray(log_scales, dtype=np.float64)
    use = np.asarray(kept, dtype=bool) & np.isfinite(log_s)
    if not use.any():
        raise EvaluationError('no kept oracle row with a finite scale for the training-mean '
                              'scale')
    return float(np.exp(np.mean(log_s[use])))


def eval_mask(sample: Any, gt: np.ndarray, max_depth: Optional[float] = None,
              min_depth: float = 1e-3, crop: str = 'auto') -> np.ndarray:
    """
    Return the H×W bool evaluation mask of a sample.

    Valid ground truth (finite, ``> min_depth``, the sample's own ``valid`` mask), ``<=
    max_depth`` when given, and inside the Eigen crop (defined at 640×480, scaled to H×W) when
    ``crop == 'eigen'``, or when ``crop == 'auto'`` and ``sample.meta['eval_crop'] == 'eigen'``
    (NYU samples); ``crop == 'none'`` never crops.
    """
    if crop not in ('auto', 'eigen', 'none'):
        raise EvaluationError(f"crop must be 'auto', 'eigen' or 'none', got {crop!r}")
    gt = np.asarray(gt, dtype=np.float32)
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(gt) & (gt > min_depth)
        if max_depth is not None:
            mask &= gt <= float(max_depth)
    valid = getattr(sample, 'valid', None)
    if valid is not None:
        mask &= np.asarray(valid, dtype=bool)
    meta = getattr(sample, 'meta', None) or {}
    if crop == 'auto':
        crop = meta.get('eval_crop')
    if crop == 'eigen':
        mask &= eigen_crop_mask(gt.shape[0], gt.shape[1])
    elif crop not in (None, '', 'none', False):
        raise EvaluationError(f'sample {getattr(sample, "name", "?")}: unknown eval_crop '
                              f'{crop!r} (known: eigen)')
    return mask


def _resize_to(pred: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    if pred.shape == shape:
        return pred
    import cv2

    return cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def scaled_prediction(pred: np.ndarray, s: float, min_depth: float = 1e-3,
                      max_depth: Optional[float] = None) -> np.ndarray:
    """
    Return ``s · pred`` (H×W metres) as the protocol scores it.

    The product is clipped to ``[min_depth, max_depth]`` when ``max_depth`` is given (pixels out
    of range are clipped, never dropped).
    """
    out = pred * np.float32(s)
    if max_depth is not None:
        with np.errstate(invalid='ignore'):
            out = np.clip(out, min_depth, float(max_depth))
    return out


def protocol_metrics(pred: np.ndarray, s: float, gt: np.ndarray, mask: np.ndarray,
                     min_depth: float = 1e-3,
                     max_depth: Optional[float] = None) -> Dict[str, float]:
    """
    Return the depth metrics of ``s · pred`` under the evaluation protocol.

    The one protocol of ``evaluate`` and ``replay_bag``: the prediction (H×W metres) is scaled
    and clipped by :func:`scaled_prediction`, then scored on ``mask`` (H×W bool, from
    :func:`eval_mask`: valid ground truth, ``<= max_depth``, optional Eigen crop).
    """
    return depth_metrics(scaled_prediction(pred, s, min_depth, max_depth), gt, mask)


def dataset_from_meta(meta: Dict[str, Any]) -> Sequence[Any]:
    """
    Open the dataset recorded in an oracle's ``oracle.json`` (spec + options).

    :raises EvaluationError: when the metadata name no dataset.
    """
    from adaptive_depth.datasets import open_dataset

    info = meta.get('dataset')
    if isinstance(info, str):
        spec, options = info, dict(meta.get('dataset_options') or {})
    elif isinstance(info, dict) and info.get('spec'):
        spec, options = str(info['spec']), dict(info.get('options') or {})
    else:
        raise EvaluationError('oracle.json names no dataset (expected "dataset": {"spec": ..., '
                              '"options": {...}}); pass the dataset explicitly')
    return open_dataset(spec, **options)


def base_predictor_from_meta(meta: Dict[str, Any],
                             oracle_dir: Optional[Union[str, Path]] = None) -> BasePredictor:
    """
    Return a callable sample → H×W base prediction (metres) read from the oracle's cache.

    The prediction cache recorded by ``generate_oracle`` (:attr:`OracleMeta.prediction_cache`,
    resolved by :meth:`OracleMeta.cache_directory`) holds one ``.npy`` per sample name, so the
    evaluation needs neither the base network nor a GPU.

    :raises EvaluationError: when ``oracle.json`` records no prediction cache.
    :raises FileNotFoundError: when the recorded cache folder does not exist.
    """
    from adaptive_depth.base_models import CachedBaseModel
    from adaptive_depth.oracle_dataset import OracleMeta

    path = OracleMeta.from_dict(meta).cache_directory(oracle_dir)
    if path is None:
        raise EvaluationError('oracle.json records no prediction cache (prediction_cache); '
                              'pass base predictions to evaluate_split instead')
    return CachedBaseModel(path).predict


def evaluate_split(oracle: Any, predictor: Optional[Any], split: str = 'test',
                   dataset: Optional[Sequence[Any]] = None,
                   base_predictor: Optional[BasePredictor] = None,
                   max_depth: Optional[float] = None, min_depth: float = 1e-3,
                   keep_frames: Collection[str] = (), kept_only: bool = False,
                   crop: Optional[str] = None, progress: bool = True,
                   train_mean: Optional[float] = None) -> SplitEvaluation:
    """
    Evaluate no scaling, the oracle, the learned and the training-mean scale on one split.

    :param oracle: :class:`adaptive_depth.oracle_dataset.OracleData` of the split.
    :param predictor: :class:`adaptive_depth.scale_net.ScalePredictor` (None skips ``learned``).
    :param split: label used in tables and the per-sample CSV.
    :param dataset: the samples (``Sequence[RGBDSample]``) with ground truth; None opens the
        dataset recorded in ``oracle.meta``.  Samples are matched to oracle rows by name.
    :param base_predictor: a ``base_models.BaseDepthModel`` or a callable sample → H×W base
        depth (metres); None reads the prediction cache recorded in ``oracle.meta``.
    :param max_depth: if given, ground truth beyond it is masked out and scaled predictions are
        clipped to ``[min_depth, max_depth]`` (metres).
    :param min_depth: smallest valid ground-truth depth (metres).
    :param keep_frames: names of samples whose images and depths are kept for figures.
    :param kept_only: evaluate only rows kept by the oracle's percentile filter (default: every
        row with a finite oracle scale).
    :param crop: ``'auto'`` (Eigen crop for samples whose meta says ``eval_crop: eigen``),
        ``'eigen'`` or ``'none'``; None uses the ``eval_crop`` the oracle was computed with.
    :param progress: show a tqdm progress bar.
    :param train_mean: the training-mean scale (:func:`train_mean_scale` of the training split)
        to evaluate as method ``train_mean`` on every image; None skips it.
    :returns: :class:`SplitEvaluation`.
    :raises EvaluationError: when the inputs cannot be matched or nothing can be evaluated.
    """
    from tqdm.auto import tqdm

    meta = dict(getattr(oracle, 'meta', {}) or {})
    base_info = meta.get('base_model') if isinstance(meta.get('base_model'), dict) else {}
    simulated = bool(base_info.get('simulated', meta.get('simulated', False)))
    base_name = str(base_info.get('name', meta.get('base_model', 'unknown')))
    if dataset is None:
        dataset = dataset_from_meta(meta)
    if base_predictor is None:
        base_predictor = base_predictor_from_meta(meta, getattr(oracle, 'path', None))
    elif hasattr(base_predictor, 'predict'):
        base_predictor = base_predictor.predict   # a base_models.BaseDepthModel
    if crop is None:
        crop = str(meta.get('eval_crop') or 'auto')

    names = [str(n) for n in oracle.names]
    scales = np.asarray(oracle.scales, dtype=np.float64)
    kept = np.asarray(oracle.kept, dtype=bool)
    use = np.isfinite(scales) & (scales > 0)
    if kept_only:
        use &= kept
    skipped: List[Tuple[str, str]] = [(names[i], 'no finite oracle scale')
                                      for i in np.flatnonzero(~np.isfinite(scales))]
    wanted = {names[i]: i for i in np.flatnonzero(use)}
    if not wanted:
        raise EvaluationError(f'split {split!r}: no oracle row to evaluate')
    if hasattr(dataset, 'sample_name'):
        ds_names = [dataset.sample_name(i) for i in range(len(dataset))]
    elif hasattr(dataset, 'names') and callable(dataset.names):
        ds_names = list(dataset.names())
    else:
        ds_names = [s.name for s in dataset]
    ds_index = {n: i for i, n in enumerate(ds_names)}
    missing = [n for n in wanted if n not in ds_index]
    if missing:
        raise EvaluationError(f'split {split!r}: {len(missing)} oracle sample(s) not in the '
                              f'dataset, e.g. {missing[:3]} (wrong dataset for this oracle?)')

    keep_frames = set(keep_frames)
    rows: List[Dict[str, Any]] = []
    frames: Dict[str, Frame] = {}
    order = [n for n in names if n in wanted]
    for name in tqdm(order, desc=f'evaluate {split}', disable=not progress, unit='img'):
        row_i = wanted[name]
        sample = dataset[ds_index[name]]
        gt = np.asarray(sample.depth, dtype=np.float32)
        pred = _resize_to(np.asarray(base_predictor(sample), dtype=np.float32), gt.shape)
        mask = eval_mask(sample, gt, max_depth=max_depth, min_depth=min_depth, crop=crop)
        s = {'none': 1.0, 'oracle': float(scales[row_i])}
        if predictor is not None:
            needs_depth = getattr(predictor, 'needs_depth', False)  # depth_input networks
            s['learned'] = float(predictor.predict_scale(sample.rgb, pred) if needs_depth
                                 else predictor.predict_scale(sample.rgb))
        if train_mean is not None:
            s['train_mean'] = float(train_mean)
        row: Dict[str, Any] = {'split': split, 'name': name, 'kept': bool(kept[row_i]),
                               'oracle_scale': s['oracle'],
                               'learned_scale': s.get('learned', float('nan'))}
        try:
            for method, value in s.items():
                scaled = scaled_prediction(pred, value, min_depth, max_depth)
                m = depth_metrics(scaled, gt, mask)
                m['w1'] = scaled_wasserstein(scaled, gt, 1.0, mask)
                for key, v in m.items():
                    row[f'{method}_{key}'] = float(v)
        except ValueError as exc:
            skipped.append((name, str(exc)))
            continue
        rows.append(row)
        if name in keep_frames:
            # Fig. 3 overlays show the paper's three clouds, not the constant baseline.
            frames[name] = Frame(name=name, rgb=np.asarray(sample.rgb), gt=gt, pred=pred,
                                 mask=mask, intrinsics=sample.intrinsics,
                                 scales={k: v for k, v in s.items() if k != 'train_mean'})
    if not rows:
        raise EvaluationError(f'split {split!r}: no sample could be evaluated '
                              f'(first problem: {skipped[0][1] if skipped else "?"})')

    methods = [m for m in METHODS if f'{m}_abs_rel' in rows[0]]
    keys = list(METRIC_KEYS) + ['w1']
    metrics = {m: {k: float(np.mean([r[f'{m}_{k}'] for r in rows])) for k in keys}
               for m in methods}
    for m in methods:
        metrics[m]['num_images'] = len(rows)
    oracle_s = np.array([r['oracle_scale'] for r in rows])
    learned_s = np.array([r['learned_scale'] for r in rows])
    table1: Dict[str, Dict[str, float]] = {}
    if 'learned' in methods:
        table1['learned'] = _scale_row(learned_s, oracle_s)
    if 'train_mean' in methods:
        table1['train_mean'] = _scale_row(np.full_like(oracle_s, float(train_mean)), oracle_s)
    table1['none'] = _scale_row(np.ones_like(oracle_s), oracle_s)
    closures = {m: (gap_closure(metrics['none']['abs_rel'], metrics['oracle']['abs_rel'],
                                metrics[m]['abs_rel']) if m in methods else float('nan'))
                for m in SCORED_METHODS}
    return SplitEvaluation(split=split, names=[r['name'] for r in rows], oracle_scales=oracle_s,
                           learned_scales=learned_s, per_sample=rows, metrics=metrics,
                           scale_table=table1, gap_closure=closures['learned'],
                           simulated=simulated, base_model=base_name, skipped=skipped,
                           frames=frames, train_mean_gap_closure=closures['train_mean'])


def _scale_row(pred: np.ndarray, true: np.ndarray) -> Dict[str, float]:
    lin = scale_errors(pred, true, 'linear')
    log = scale_errors(pred, true, 'log')
    return {'mae_linear': lin['mae'], 'rmse_linear': lin['rmse'], 'mae_log': log['mae'],
            'rmse_log': log['rmse']}


# --------------------------------------------------------------------------------- writers


def _banner(results: Sequence[SplitEvaluation]) -> List[str]:
    lines = []
    if any(r.simulated for r in results):
        lines.append(f'> **{SIMULATED_LABEL}**: the depth predictions come from a simulated base '
                     'model (synthetic scale errors), not from a real network. These numbers '
                     'validate the pipeline, not Depth Anything V2.')
        lines.append('')
    models = sorted({r.base_model for r in results})
    lines.append(f'Base model: {", ".join(models)}. Metrics are the **mean of per-image '
                 'metrics** over the evaluated images.')
    lines.append('')
    return lines


def table1_rows(results: Sequence[SplitEvaluation]) -> List[Dict[str, Any]]:
    """Return Table I as rows: split, method, n, MAE/RMSE of s and of log s (vs the oracle)."""
    rows = []
    for r in results:
        for method in ('learned', 'train_mean', 'none'):
            if method in r.scale_table:
                rows.append({'split': r.split, 'method': method, 'n': len(r.names),
                             **r.scale_table[method],
                             'simulated_base_model': r.simulated})
    return rows


def table2_rows(results: Sequence[SplitEvaluation]) -> List[Dict[str, Any]]:
    """Return Table II as rows: split, method, n, metrics (means of per-image metrics)."""
    rows = []
    for r in results:
        for method in r.methods:
            m = r.metrics[method]
            rows.append({'split': r.split, 'method': method, 'n': len(r.names),
                         **{k: m[k] for k, _ in TABLE2_COLUMNS}, 'sq_rel': m['sq_rel'],
                         'w1': m['w1'],
                         'gap_closure': _method_gap(r, method),
                         'simulated_base_model': r.simulated})
    return rows


def _method_gap(r: SplitEvaluation, method: str) -> Optional[float]:
    return {'learned': r.gap_closure, 'train_mean': r.train_mean_gap_closure}.get(method)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return '–'
    if isinstance(v, float):
        return 'nan' if not math.isfinite(v) else f'{v:.{digits}f}'
    return str(v)


def table1_markdown(results: Sequence[SplitEvaluation]) -> str:
    """Return Table I (scale errors against the oracle scale) as Markdown."""
    lines = ['# Table I — scale prediction error against the oracle scale s*', '']
    lines += _banner(results)
    header = ['split', 'method', 'n'] + [label for _, label in TABLE1_COLUMNS]
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in table1_rows(results):
        label = {'learned': 'learned vs oracle', 'train_mean': 'training-mean scale vs oracle',
                 'none': 's = 1 vs oracle (ref.)'}[row['method']]
        cells = [row['split'], label, str(row['n'])] + [_fmt(row[k]) for k, _ in TABLE1_COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def table2_markdown(results: Sequence[SplitEvaluation]) -> str:
    """Return Table II (depth metrics of the three scaling methods) as Markdown."""
    lines = ['# Table II — depth accuracy without scaling, with the oracle and the learned scale',
             '']
    lines += _banner(results)
    header = ['split', 'method', 'n'] + [label for _, label in TABLE2_COLUMNS]
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in table2_rows(results):
        cells = [row['split'], METHOD_LABELS[row['method']], str(row['n'])]
        cells += [_fmt(row[k]) for k, _ in TABLE2_COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    for r in results:
        if 'learned' in r.metrics:
            lines.append(f'- {r.split}: the learned scale closes {_fmt(100 * r.gap_closure, 1)} % '
                         'of the AbsRel gap between no scaling and the oracle '
                         '((AbsRel_none − AbsRel_learned) / (AbsRel_none − AbsRel_oracle)).')
        if 'train_mean' in r.metrics:
            lines.append(f'- {r.split}: the training-mean scale (one constant, no image) closes '
                         f'{_fmt(100 * r.train_mean_gap_closure, 1)} %; a learned scale that '
                         'does not beat it adds nothing over calibrating `scale_source: fixed`.')
    return '\n'.join(lines) + '\n'


def _write_csv(path: Path, rows: Sequence[Dict[str, Any]]) -> Path:
    columns: List[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    with open(path, 'w', newline='', encoding='utf-8') as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ('' if row.get(k) is None else row.get(k)) for k in columns})
    return path


def write_results(results: Sequence[SplitEvaluation], out_dir: Union[str, Path],
                  extra: Optional[Dict[str, Any]] = None) -> Dict[str, Path]:
    """
    Write Tables I and II (.md, .csv, .json) and ``per_sample.csv`` to ``out_dir``.

    :param results: one :class:`SplitEvaluation` per split.
    :param extra: additional JSON fields (e.g. checkpoint path) stored in both JSON files.
    :returns: name → path of every file written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    simulated = any(r.simulated for r in results)
    common = {'simulated_base_model': simulated,
              'label': SIMULATED_LABEL if simulated else None,
              'aggregation': 'mean of per-image metrics',
              'base_models': sorted({r.base_model for r in results}), **(extra or {})}
    paths: Dict[str, Path] = {}
    t1, t2 = table1_rows(results), table2_rows(results)
    paths['table1.md'] = out / 'table1.md'
    paths['table1.md'].write_text(table1_markdown(results), encoding='utf-8')
    paths['table2.md'] = out / 'table2.md'
    paths['table2.md'].write_text(table2_markdown(results), encoding='utf-8')
    paths['table1.csv'] = _write_csv(out / 'table1.csv', t1)
    paths['table2.csv'] = _write_csv(out / 'table2.csv', t2)
    paths['table1.json'] = out / 'table1.json'
    paths['table1.json'].write_text(dumps_json({**common, 'rows': t1}), encoding='utf-8')
    splits = {r.split: {'n': len(r.names), 'metrics': r.metrics, 'gap_closure': r.gap_closure,
                        'train_mean_gap_closure': r.train_mean_gap_closure,
                        'skipped': [{'name': n, 'reason': why} for n, why in r.skipped]}
              for r in results}
    paths['table2.json'] = out / 'table2.json'
    paths['table2.json'].write_text(dumps_json({**common, 'rows': t2, 'splits': splits}),
                                    encoding='utf-8')
    per_sample = [dict(row, simulated_base_model=r.simulated)
                  for r in results for row in r.per_sample]
    paths['per_sample.csv'] = _write_csv(out / 'per_sample.csv', per_sample)
    return paths


def plot_scale_scatter(path: Union[str, Path], results: Sequence[SplitEvaluation]) -> Path:
    """
    Write a PNG scatter of learned against oracle scales, one colour per split.

    The identity line marks perfect predictions; the legend gives each split's MAE; the title
    carries the SIMULATED label when the base model is simulated.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    lo, hi = math.inf, -math.inf
    for r in results:
        ok = np.isfinite(r.learned_scales) & np.isfinite(r.oracle_scales)
        if not ok.any():
            continue
        o, p = r.oracle_scales[ok], r.learned_scales[ok]
        mae = float(np.mean(np.abs(o - p)))
        ax.scatter(o, p, s=10, alpha=0.6, label=f'{r.split} (n={ok.sum()}, MAE {mae:.3f})')
        lo, hi = min(lo, o.min(), p.min()), max(hi, o.max(), p.max())
    if math.isfinite(lo):
        ax.plot([lo, hi], [lo, hi], 'k--', linewidth=1, label='learned = oracle')
    ax.set_xlabel('oracle scale s*')
    ax.set_ylabel('learned scale')
    title = 'Learned vs oracle scale'
    if any(r.simulated for r in results):
        title += f'\n({SIMULATED_LABEL})'
    ax.set_title(title)
    ax.set_aspect('equal', adjustable='datalim')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def render_frame(frame: Frame, out_dir: Union[str, Path], stride: int = 4,
                 simulated: bool = False, prefix: str = '') -> Dict[str, Path]:
    """
    Write the paper's Fig. 3 for one sample: the GT RGB cloud overlaid with scaled clouds.

    Writes ``<prefix><name>_overlay.png`` and one PLY per cloud (``_gt.ply`` in RGB, and
    ``_<method>.ply`` for the unscaled, oracle-scaled and learned-scaled predictions), all in
    metres in the camera frame (x right, y down, z forward).
    """
    from adaptive_depth.geometry import backproject
    from adaptive_depth.visualize import render_cloud_overlay, write_ply

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = prefix + frame.name.replace('/', '_').replace('\\', '_')
    gt = np.where(frame.mask, frame.gt, np.nan).astype(np.float32)
    gt_points = backproject(gt, frame.intrinsics)
    labels = {'none': 'unscaled', 'oracle': 'oracle-scaled', 'learned': 'learned-scaled'}
    clouds = {}
    paths: Dict[str, Path] = {}
    for method, s in frame.scales.items():
        depth = np.where(frame.mask, frame.pred * np.float32(s), np.nan).astype(np.float32)
        points = backproject(depth, frame.intrinsics)
        clouds[f'{labels[method]} (s={s:.3f})'] = points
        paths[f'{method}.ply'] = write_ply(out / f'{stem}_{method}.ply', points)
    paths['gt.ply'] = write_ply(out / f'{stem}_gt.ply', gt_points, frame.rgb)
    title = f'{frame.name}: ground truth (RGB) vs scaled predictions'
    if simulated:
        title += f' — {SIMULATED_LABEL}'
    paths['overlay.png'] = render_cloud_overlay(out / f'{stem}_overlay.png', gt_points,
                                                frame.rgb, clouds, stride=stride, title=title)
    return paths
