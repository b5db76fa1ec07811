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

"""Per-frame depth metrics of a replay (node's scale, no scaling, oracle) and their files."""

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from adaptive_depth.replay.plots import plot_timeline
import numpy as np

METHOD_NONE = 'none'
METHOD_ORACLE = 'oracle'
CSV_COLUMNS = ('frame', 'stamp_ns', 'time_s', 'method', 'abs_rel', 'rmse', 'delta1', 'scale',
               'latency_ms')


@dataclasses.dataclass
class FrameRecord:
    """Per-frame result used for the metrics (depth in metres, latency in ms)."""

    index: int
    stamp_ns: int
    scale: float
    latency_ms: float
    metrics: Dict[str, Dict[str, float]]
    scales: Dict[str, float]


class MetricsCollector:
    """
    Per-frame depth metrics of the node's scale, no scaling and the oracle scale.

    All three are computed on the same pixels: ground truth valid and the published depth
    valid. The raw prediction is ``published depth / scale`` (so clipping at max_depth is the
    node's), ``none`` uses it as is and ``oracle`` multiplies it by ``optimal_scale(raw, gt)``.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        self.records: List[FrameRecord] = []
        self.skipped = 0
        self.latencies: List[float] = []

    @property
    def methods(self) -> Tuple[str, ...]:
        """Return the method names in table order."""
        if self.method == METHOD_NONE:
            return (METHOD_NONE, METHOD_ORACLE)
        return (self.method, METHOD_NONE, METHOD_ORACLE)

    def add(self, index: int, stamp_ns: int, depth: np.ndarray, scale: float,
            latency_ms: float, gt: Optional[np.ndarray]) -> Optional[FrameRecord]:
        """Add one frame: H×W published depth and H×W ground truth (metres, NaN invalid)."""
        from adaptive_depth.metrics import depth_metrics
        from adaptive_depth.oracle import optimal_scale

        self.latencies.append(float(latency_ms))
        if gt is None or not (math.isfinite(scale) and scale > 0):
            self.skipped += 1
            return None
        depth = np.asarray(depth, dtype=np.float32)
        with np.errstate(invalid='ignore'):
            valid = (np.isfinite(depth) & (depth > 0) & np.isfinite(gt) & (gt > 0))
        if not valid.any():
            self.skipped += 1
            return None
        raw = depth / np.float32(scale)
        s_opt = float(optimal_scale(raw, gt, valid))
        preds = {METHOD_NONE: (raw, 1.0), METHOD_ORACLE: (raw * np.float32(s_opt), s_opt)}
        if self.method != METHOD_NONE:
            preds[self.method] = (depth, float(scale))
        metrics = {m: depth_metrics(p, gt, valid) for m, (p, _) in preds.items()}
        rec = FrameRecord(index=index, stamp_ns=int(stamp_ns), scale=float(scale),
                          latency_ms=float(latency_ms), metrics=metrics,
                          scales={m: s for m, (_, s) in preds.items()})
        self.records.append(rec)
        return rec

    def summary(self) -> Dict[str, Any]:
        """Return the mean metrics, scale statistics and jitter per method, and the latency."""
        out: Dict[str, Any] = {'frames_with_ground_truth': len(self.records),
                               'frames_without_ground_truth': self.skipped,
                               'methods': {}}
        lat = np.asarray(self.latencies, dtype=np.float64)
        if lat.size:
            out['latency_ms'] = {'mean': float(lat.mean()), 'p50': float(np.percentile(lat, 50)),
                                 'p95': float(np.percentile(lat, 95)), 'max': float(lat.max())}
        if not self.records:
            return out
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
                                     repr(r.scales[m]), f'{r.latency_ms:.3f}'])
        summary = dict(meta, **self.summary())
        (directory / 'summary.json').write_text(json.dumps(summary, indent=2, sort_keys=True))
        (directory / 'summary.md').write_text(self.markdown(summary))
        if self.records:
            plot_timeline(self.records, self.methods, directory / 'timeline.png')
        return summary

    def markdown(self, summary: Dict[str, Any]) -> str:
        """Return the summary as a Markdown table."""
        lines = [f'# replay_bag: {summary.get("bag", "")}', '',
                 f'Mode: {summary.get("mode", "")}; frames with ground truth: '
                 f'{summary["frames_with_ground_truth"]}; without: '
                 f'{summary["frames_without_ground_truth"]}.', '']
        if summary.get('latency_ms'):
            lat = summary['latency_ms']
            lines += [f'Latency per frame: mean {lat["mean"]:.1f} ms, p50 {lat["p50"]:.1f} ms, '
                      f'p95 {lat["p95"]:.1f} ms, max {lat["max"]:.1f} ms.', '']
        if summary['methods']:
            lines += ['| scale | AbsRel | RMSE [m] | δ1 | mean s | std Δlog s | max abs Δs |',
                      '|---|---|---|---|---|---|---|']
            for m, e in summary['methods'].items():
                lines.append(f'| {m} | {e["abs_rel"]:.4f} | {e["rmse"]:.4f} | '
                             f'{e["delta1"]:.4f} | {e["scale_mean"]:.4f} | '
                             f'{e["jitter_std_dlog_s"]:.4f} | {e["jitter_max_abs_ds"]:.4f} |')
            lines += ['', 'Metrics are computed where both the ground truth and the published '
                      'depth are valid; `none` is the same raw prediction with s = 1, `oracle` '
                      'the W1-optimal scale against the ground truth.']
        else:
            lines.append('No frame had ground-truth depth: no metrics.')
        return '\n'.join(lines) + '\n'
