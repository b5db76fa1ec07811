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
Per-frame depth metrics of a replay (node's scale, no scaling, oracle), coverage, and files.

One protocol with ``evaluate`` (:func:`adaptive_depth.evaluation.eval_mask`,
:func:`~adaptive_depth.evaluation.protocol_metrics`): the pixels scored are the ground truth's
valid pixels (finite, ``> min_depth``, ``<= max_depth`` when a range is set, optional Eigen crop) –
never only where the node published a depth; every method is scored from the unmasked raw depth
clipped to the depth range, so a pixel the node published as NaN (e.g. beyond ``max_depth``) is
scored at the range limit instead of vanishing (a NaN of the model itself, which a working model
never gives, is left out). ``coverage`` is the fraction of those pixels with a published (finite)
depth. All methods start from the **raw DA2 depth** (before any scale): ``none`` = raw, ``oracle``
= raw × ``optimal_scale(raw, gt)``, the node's method = raw × the scale it applied, so the
baselines do not depend on the scale source. Offline, the raw depth comes from the frame processor
(``return_raw``); live, the node does not publish it, so the replay computes it once afterwards
(:func:`raw_depth_frames`: DA2 only, the node's model and settings).
"""

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from adaptive_depth.replay.plots import plot_timeline
from adaptive_depth.scale_source import loads_checkpoint
import numpy as np

METHOD_NONE = 'none'
METHOD_ORACLE = 'oracle'
CSV_COLUMNS = ('frame', 'stamp_ns', 'time_s', 'method', 'abs_rel', 'rmse', 'delta1', 'scale',
               'coverage', 'latency_ms', 'label')
UNTRAINED_LABEL = 'UNTRAINED DA2 weights'
"""The label of every output of a replay whose DA2 model has untrained (random) weights."""
SIMULATED_SCALE_LABEL = 'scale network trained on a SIMULATED base model'
EVAL_CROPS = ('none', 'eigen')


@dataclasses.dataclass(frozen=True)
class ScoringProtocol:
    """
    The evaluation protocol of a replay (metres): GT mask range, clip range and crop.

    ``min_depth`` is the lower bound of valid ground truth and the lower clip of predictions,
    ``max_depth`` (None: no upper bound, no clipping, as in ``evaluate``) the upper one; ``crop``
    is 'none' or 'eigen' (the NYU Eigen crop, scaled to the image size).
    """

    min_depth: float = 1e-3
    max_depth: Optional[float] = None
    crop: str = 'none'

    def __post_init__(self) -> None:
        """Raise ValueError naming the first invalid field."""
        if self.crop not in EVAL_CROPS:
            raise ValueError(f'crop must be one of {", ".join(EVAL_CROPS)}, got {self.crop!r}')
        if not (math.isfinite(self.min_depth) and self.min_depth >= 0):
            raise ValueError(f'evaluation min_depth must be finite and >= 0, got '
                             f'{self.min_depth}')
        if self.max_depth is not None and not (math.isfinite(self.max_depth)
                                               and self.max_depth > self.min_depth):
            raise ValueError(f'evaluation max_depth must be finite and > {self.min_depth} '
                             f'metres, got {self.max_depth}')

    @classmethod
    def for_node(cls, min_depth: float, max_depth: Optional[float],
                 crop: str = 'none') -> 'ScoringProtocol':
        """
        Return the protocol of a node's depth range (its ``min_depth``/``max_depth``, metres).

        The node's range is the scored range: ground truth beyond ``max_depth`` is not scored
        (as ``evaluate --max-depth``), and a pixel the node cut counts at the range limit.
        """
        return cls(min_depth=max(1e-3, float(min_depth)),
                   max_depth=None if not max_depth else float(max_depth), crop=crop)

    def mask(self, gt: np.ndarray) -> np.ndarray:
        """Return the H×W bool mask of the scored pixels of ground truth ``gt`` (metres)."""
        from adaptive_depth.evaluation import eval_mask

        return eval_mask(None, gt, max_depth=self.max_depth, min_depth=self.min_depth,
                         crop=self.crop)

    def metrics(self, raw: np.ndarray, s: float, gt: np.ndarray,
                mask: np.ndarray) -> Dict[str, float]:
        """Return the metrics of ``s · raw`` (clipped to the range) on ``mask``."""
        from adaptive_depth.evaluation import protocol_metrics

        return protocol_metrics(raw, s, gt, mask, self.min_depth, self.max_depth)


def replay_label(model: str, scale_source: str,
                 scale_checkpoint: Optional[str]) -> Optional[str]:
    """
    Return the warning label of a replay's numbers, or None.

    :data:`UNTRAINED_LABEL` when the DA2 ``model`` has untrained weights, and
    :data:`SIMULATED_SCALE_LABEL` when a learned scale's checkpoint says it was trained on the
    simulated base model (``metadata.simulated_base_model`` in its ``config.json``).
    """
    from adaptive_depth.depth_model import is_untrained_model

    labels = []
    if is_untrained_model(model):
        labels.append(UNTRAINED_LABEL)
    if loads_checkpoint(scale_source, scale_checkpoint):
        config = Path(scale_checkpoint).expanduser() / 'config.json'
        try:
            meta = json.loads(config.read_text()).get('metadata') or {}
        except (OSError, ValueError, AttributeError):
            meta = {}
        if meta.get('simulated_base_model'):
            labels.append(SIMULATED_SCALE_LABEL)
    return '; '.join(labels) or None


@dataclasses.dataclass
class FrameRecord:
    """Per-frame result used for the metrics (depth in metres, latency in ms)."""

    index: int
    stamp_ns: int
    scale: float
    latency_ms: float
    metrics: Dict[str, Dict[str, float]]
    scales: Dict[str, float]
    coverage: float = float('nan')


@dataclasses.dataclass
class _Pending:
    """A live frame waiting for its raw DA2 depth (what the node published, summarised)."""

    index: int
    stamp_ns: int
    scale: float
    latency_ms: float
    coverage: float


class MetricsCollector:
    """
    Per-frame depth metrics of the node's scale, no scaling and the oracle scale (see module).

    ``method`` is the node's effective scale source; ``protocol`` the :class:`ScoringProtocol`;
    ``label`` (e.g. :data:`UNTRAINED_LABEL`) is printed on every table and plot.
    """

    def __init__(self, method: str, protocol: Optional[ScoringProtocol] = None,
                 label: Optional[str] = None) -> None:
        self.method = method
        self.protocol = protocol or ScoringProtocol()
        self.label = label
        self.records: List[FrameRecord] = []
        self.pending: List[_Pending] = []
        self.skipped = 0
        self.latencies: List[float] = []

    @property
    def methods(self) -> Tuple[str, ...]:
        """Return the method names in table order."""
        if self.method == METHOD_NONE:
            return (METHOD_NONE, METHOD_ORACLE)
        return (self.method, METHOD_NONE, METHOD_ORACLE)

    def add(self, index: int, stamp_ns: int, depth: np.ndarray, scale: float,
            latency_ms: float, gt: Optional[np.ndarray],
            raw_depth: Optional[np.ndarray] = None) -> Optional[FrameRecord]:
        """
        Add one frame: H×W published depth, applied scale, H×W ground truth (metres, NaN invalid).

        ``raw_depth`` (H×W DA2 depth before the scale) scores the frame now; without it the
        frame waits in :attr:`pending` for :meth:`score_pending`.
        """
        self.latencies.append(float(latency_ms))
        if gt is None or not (math.isfinite(scale) and scale > 0):
            self.skipped += 1
            return None
        gt = np.asarray(gt, dtype=np.float32)
        mask = self.protocol.mask(gt)
        depth = np.asarray(depth, dtype=np.float32)
        if not mask.any() or depth.shape != gt.shape:
            self.skipped += 1
            return None
        coverage = float(np.count_nonzero(np.isfinite(depth[mask]))) / float(mask.sum())
        entry = _Pending(int(index), int(stamp_ns), float(scale), float(latency_ms), coverage)
        if raw_depth is None:
            self.pending.append(entry)
            return None
        return self._score(entry, np.asarray(raw_depth, dtype=np.float32), gt, mask)

    def _score(self, p: _Pending, raw: np.ndarray, gt: np.ndarray,
               mask: np.ndarray) -> Optional[FrameRecord]:
        from adaptive_depth.oracle import optimal_scale

        try:
            s_opt = float(optimal_scale(raw, gt, mask))
            scales = {METHOD_NONE: 1.0, METHOD_ORACLE: s_opt}
            if self.method != METHOD_NONE:
                scales[self.method] = p.scale
            metrics = {m: self.protocol.metrics(raw, s, gt, mask) for m, s in scales.items()}
        except ValueError:   # no pixel where both raw depth and ground truth are valid
            self.skipped += 1
            return None
        rec = FrameRecord(index=p.index, stamp_ns=p.stamp_ns, scale=p.scale,
                          latency_ms=p.latency_ms, metrics=metrics, scales=scales,
                          coverage=p.coverage)
        self.records.append(rec)
        return rec

    def score_pending(self, frames: Iterable[Tuple[int, np.ndarray, np.ndarray]]) -> int:
        """
        Score the pending frames from ``(frame index, raw H×W depth, H×W gt)``; return how many.

        Frames without raw depth stay unscored and count as skipped.
        """
        waiting = {p.index: p for p in self.pending}
        done = 0
        for index, raw, gt in frames:
            p = waiting.pop(int(index), None)
            if p is None:
                continue
            gt = np.asarray(gt, dtype=np.float32)
            if self._score(p, np.asarray(raw, dtype=np.float32), gt,
                           self.protocol.mask(gt)) is not None:
                done += 1
        self.skipped += len(waiting)
        self.pending = []
        self.records.sort(key=lambda r: r.stamp_ns)
        return done

    def summary(self) -> Dict[str, Any]:
        """Return the mean metrics, coverage, scale statistics and jitter, and the latency."""
        out: Dict[str, Any] = {'frames_with_ground_truth': len(self.records),
                               'frames_without_ground_truth': self.skipped + len(self.pending),
                               'protocol': dataclasses.asdict(self.protocol),
                               'label': self.label, 'methods': {}}
        lat = np.asarray(self.latencies, dtype=np.float64)
        if lat.size:
            out['latency_ms'] = {'mean': float(lat.mean()), 'p50': float(np.percentile(lat, 50)),
                                 'p95': float(np.percentile(lat, 95)), 'max': float(lat.max())}
        if not self.records:
            return out
        cov = np.asarray([r.coverage for r in self.records], dtype=np.float64)
        out['coverage'] = {'mean': float(cov.mean()), 'min': float(cov.min())}
        oracle = np.asarray([r.scales[METHOD_ORACLE] for r in self.records])
        for m in self.methods:
            scales = np.asarray([r.scales[m] for r in self.records], dtype=np.float64)
            keys = self.records[0].metrics[m].keys()
            entry = {k: float(np.mean([r.metrics[m][k] for r in self.records])) for k in keys}
            dlog = np.diff(np.log(scales))
            entry.update({
                'scale_mean': float(scales.mean()), 'scale_median': float(np.median(scales)),
                'jitter_std_dlog_s': float(dlog.std()) if dlog.size else 0.0,
                'jitter_max_abs_ds': float(np.abs(np.diff(scales)).max()) if dlog.size else 0.0,
                'log_scale_mae_vs_oracle': float(np.mean(np.abs(np.log(scales / oracle)))),
            })
            out['methods'][m] = entry
        return out

    def write(self, directory: Path, meta: Dict[str, Any]) -> Dict[str, Any]:
        """Write frames.csv, summary.json, summary.md and timeline.png; return the summary."""
        directory.mkdir(parents=True, exist_ok=True)
        t0 = self.records[0].stamp_ns if self.records else 0
        with open(directory / 'frames.csv', 'w', newline='') as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for r in self.records:
                for m in self.methods:
                    mm = r.metrics[m]
                    writer.writerow([r.index, r.stamp_ns, f'{(r.stamp_ns - t0) * 1e-9:.9f}', m,
                                     repr(mm['abs_rel']), repr(mm['rmse']), repr(mm['delta1']),
                                     repr(r.scales[m]), repr(r.coverage),
                                     f'{r.latency_ms:.3f}', self.label or ''])
        summary = dict(meta, **self.summary())
        (directory / 'summary.json').write_text(json.dumps(summary, indent=2, sort_keys=True))
        (directory / 'summary.md').write_text(self.markdown(summary))
        if self.records:
            plot_timeline(self.records, self.methods, directory / 'timeline.png',
                          label=self.label)
        return summary

    def markdown(self, summary: Dict[str, Any]) -> str:
        """Return the summary as Markdown: label, protocol, coverage and the metrics table."""
        lines = [f'# replay_bag: {summary.get("bag", "")}', '']
        if summary.get('label'):
            lines += [f'> **{summary["label"]}**: these numbers test the pipeline, not the '
                      'method.', '']
        lines += [f'Mode: {summary.get("mode", "")}; frames with ground truth: '
                  f'{summary["frames_with_ground_truth"]}; without: '
                  f'{summary["frames_without_ground_truth"]}.', '']
        if summary.get('latency_ms'):
            lat = summary['latency_ms']
            lines += [f'Latency per frame: mean {lat["mean"]:.1f} ms, p50 {lat["p50"]:.1f} ms, '
                      f'p95 {lat["p95"]:.1f} ms, max {lat["max"]:.1f} ms.', '']
        if summary['methods']:
            cov = summary['coverage']
            lines += [f'Coverage (ground-truth pixels with a published depth): mean '
                      f'{100 * cov["mean"]:.1f} %, min {100 * cov["min"]:.1f} %.', '']
            lines += ['| scale | AbsRel | RMSE [m] | δ1 | mean s | std Δlog s | max abs Δs |',
                      '|---|---|---|---|---|---|---|']
            for m, e in summary['methods'].items():
                lines.append(f'| {m} | {e["abs_rel"]:.4f} | {e["rmse"]:.4f} | '
                             f'{e["delta1"]:.4f} | {e["scale_mean"]:.4f} | '
                             f'{e["jitter_std_dlog_s"]:.4f} | {e["jitter_max_abs_ds"]:.4f} |')
            proto = summary['protocol']
            rng = (f'[{proto["min_depth"]:g}, {proto["max_depth"]:g}] m'
                   if proto['max_depth'] is not None else f'> {proto["min_depth"]:g} m (no clip)')
            lines += ['', f'Protocol (as `evaluate`): every valid ground-truth pixel in {rng}, '
                      f'crop {proto["crop"]}; predictions clipped to the range, so pixels the '
                      'node left NaN count at the limit. All rows scale the same raw DA2 depth: '
                      "`none` with s = 1, `oracle` with the W1-optimal scale, the node's row "
                      'with the scale it applied.']
        else:
            lines.append('No frame had ground-truth depth: no metrics.')
        return '\n'.join(lines) + '\n'


def raw_depth_frames(bag: Path, topics: Any, index: Any, processor_arguments: Dict[str, Any],
                     wanted: Iterable[int]) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """
    Yield ``(frame index, raw H×W DA2 depth, H×W gt)`` of the ``wanted`` frames of a bag.

    The raw depth is the node's DA2 forward (model, device, precision, input size and execution
    from ``processor_arguments``) without any scale: one pass, for live replays, whose node does
    not publish it.
    """
    from adaptive_depth.bagio import BagReader
    from adaptive_depth.frame_processor import FrameProcessor
    from adaptive_depth.replay.recording import progress

    wanted = {int(i) for i in wanted}
    if not wanted:
        return
    args = dict(processor_arguments, scale_source='none', scale_checkpoint=None)
    processor = FrameProcessor.from_paths(**args)
    with BagReader(bag) as reader, progress(len(wanted), 'raw depth for scoring') as bar:
        for frame in reader.frames(topics, index=index):
            if frame.index not in wanted or frame.depth is None:
                continue
            result = processor.process(frame.rgb, None, compute_points=False, return_raw=True)
            bar.update(1)
            yield frame.index, result.raw_depth, frame.depth
