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
``replay_bag``: run the metric depth pipeline (or the real ROS node) over a recorded bag.

Offline mode (default) runs :class:`~adaptive_depth.pipeline.MetricDepthPipeline` on every k-th
colour frame as fast as possible and post-processes exactly like ``adaptive_depth_node``. Live
mode starts ``adaptive_depth_node`` in a real ROS 2 graph (or uses a running one), plays the
bag's image and camera_info with their original stamps through ``rclpy`` publishers and records
what the node publishes. Both write a rosbag2 MCAP recording with the input topics and the
node's outputs (``<ns>/depth``, ``<ns>/depth/camera_info``, ``<ns>/points``, ``<ns>/scale``).

When the bag has a registered depth topic, per-frame metrics are computed for the node's scale,
for no scaling (s = 1 on the same raw prediction) and for the oracle scale, and written to
``OUT/metrics`` (or ``--metrics-dir``): ``frames.csv``, ``summary.json``, ``summary.md`` and
``timeline.png``. See docs/replay.md.
"""

import argparse
import csv
import dataclasses
import json
import math
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from adaptive_depth.bagio import (BagError, BagFrame, BagReader, CAMERA_INFO, CameraTopics,
                                  COMPRESSED_IMAGE, FrameIndex, IMAGE, output_topics,
                                  OUTPUT_TYPES, OutputBagWriter)
from adaptive_depth.geometry import backproject, decimate, Intrinsics, pack_organized_cloud
from adaptive_depth.ros import conversions
import numpy as np

PROG = 'replay_bag'
METHOD_NONE = 'none'
METHOD_ORACLE = 'oracle'
CSV_COLUMNS = ('frame', 'stamp_ns', 'time_s', 'method', 'abs_rel', 'rmse', 'delta1', 'scale',
               'latency_ms')


class ReplayError(ValueError):
    """A user-facing problem with the replay (bad option, node failure, nothing processed)."""


# ---------------------------------------------------------------------- message building
def _build_msg(ts: Any, msgtype: str, values: Dict[str, Any]) -> Any:
    """Build a ``rosbags`` message of ``msgtype`` from plain values (nested dicts allowed)."""
    from rosbags.convert.converter import default_message
    from rosbags.interfaces import Nodetype

    msg = default_message(ts, msgtype)
    defs = dict(ts.fielddefs[msgtype][1])
    changes = {}
    for name, value in values.items():
        if name not in defs:
            raise KeyError(f'{msgtype} has no field {name!r}')
        kind, arg = defs[name]
        if kind == Nodetype.NAME and isinstance(value, dict):
            value = _build_msg(ts, arg, value)
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            sub = arg[0]
            if sub[0] == Nodetype.NAME:
                value = [_build_msg(ts, sub[1], v) if isinstance(v, dict) else v for v in value]
            elif sub[1][0] != 'string':
                dtype = 'uint8' if sub[1][0] == 'char' else sub[1][0]
                value = np.ascontiguousarray(np.asarray(value).reshape(-1), dtype=dtype)
        elif kind == Nodetype.BASE and arg[0] == 'bool':
            value = bool(value)
        changes[name] = value
    return dataclasses.replace(msg, **changes)


@dataclasses.dataclass
class NodeOutputs:
    """What adaptive_depth_node publishes for one frame, as rosbags Jazzy messages."""

    depth: Any
    scale: Any
    info: Any = None
    points: Any = None


def node_like_outputs(ts: Any, header: Any, result: Any, rgb: np.ndarray,
                      intr: Optional[Intrinsics], source_info: Any, max_depth: float,
                      min_depth: float, publish_points: bool, point_decimation: int,
                      points_max_range: float, colorize_points: bool) -> Tuple[np.ndarray,
                                                                               NodeOutputs]:
    """
    Post-process a ``DepthResult`` exactly like ``adaptive_depth_node`` and build its messages.

    Returns the published H×W float32 depth (metres, NaN invalid: non-finite, <= 0, > max_depth
    or < min_depth) and the depth, camera_info, points and scale messages (camera_info and
    points are None without intrinsics).
    """
    scale = float(result.scale)
    depth = np.array(result.depth, dtype=np.float32, copy=True)
    with np.errstate(invalid='ignore'):
        invalid = ~np.isfinite(depth) | (depth <= 0) | (depth > max_depth)
        if min_depth > 0:
            invalid |= depth < min_depth
    depth[invalid] = np.nan
    dh, dw = depth.shape
    if intr is not None and (intr.width, intr.height) != (dw, dh):
        intr = intr.scaled(dw, dh)
    depth_msg = _build_msg(ts, IMAGE, dict(conversions.depth_to_image_fields(depth),
                                           header=header))
    log_s = math.log(scale) if scale > 0 and math.isfinite(scale) else math.nan
    scale_msg = _build_msg(ts, OUTPUT_TYPES['scale'], {
        'header': header, 'vector': {'x': scale, 'y': log_s, 'z': scale}})
    out = NodeOutputs(depth=depth_msg, scale=scale_msg)
    if intr is None:
        return depth, out
    fields = dict(conversions.intrinsics_to_camera_info_fields(intr), header=header)
    if source_info is not None and (int(source_info.width), int(source_info.height)) == (
            intr.width, intr.height):
        fields['distortion_model'] = source_info.distortion_model
        fields['d'] = np.asarray(source_info.d, dtype=np.float64)
    out.info = _build_msg(ts, CAMERA_INFO, fields)
    if publish_points:
        depth_d, intr_d = (decimate(depth, intr, point_decimation) if point_decimation > 1
                           else (depth, intr))
        points = backproject(depth_d, intr_d)
        if points_max_range > 0:
            with np.errstate(invalid='ignore'):
                points[np.linalg.norm(points, axis=2) > points_max_range] = np.nan
        colors = None
        if colorize_points:
            if rgb.shape[:2] != depth.shape:
                import cv2
                rgb = cv2.resize(rgb, (dw, dh), interpolation=cv2.INTER_AREA)
            colors = np.ascontiguousarray(rgb[::point_decimation, ::point_decimation])
        cloud = conversions.cloud_to_pointcloud2_fields(pack_organized_cloud(points, colors))
        out.points = _build_msg(ts, OUTPUT_TYPES['points'], dict(cloud, header=header))
    return depth, out


# ---------------------------------------------------------------------- metrics
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
            self.plot(directory / 'timeline.png')
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

    def plot(self, path: Path) -> None:
        """Plot scale and AbsRel over time (PNG) for every method."""
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        t0 = self.records[0].stamp_ns
        t = np.asarray([(r.stamp_ns - t0) * 1e-9 for r in self.records])
        fig, (ax_s, ax_e) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
        for m in self.methods:
            ax_s.plot(t, [r.scales[m] for r in self.records], marker='.', label=m)
            ax_e.plot(t, [r.metrics[m]['abs_rel'] for r in self.records], marker='.', label=m)
        ax_s.set_ylabel('scale s')
        ax_e.set_ylabel('AbsRel')
        ax_e.set_xlabel('time [s]')
        for ax in (ax_s, ax_e):
            ax.grid(alpha=0.3)
            ax.legend(loc='best', fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


# ---------------------------------------------------------------------- input copies
class InputCopier:
    """Copy the input topics (as Jazzy CDR) into the output bag in log-time order."""

    def __init__(self, bag: Path, topics: Sequence[str], writer: OutputBagWriter) -> None:
        self._reader = BagReader(bag).open_bag()
        self._iter: Iterator = self._reader.iter_cdr(list(topics))
        self._next: Optional[Tuple[str, str, int, bytes]] = None
        self._writer = writer
        self._done = False

    def advance(self, until_ns: Optional[int] = None) -> None:
        """Write every input message with log time <= ``until_ns`` (all when None)."""
        while not self._done:
            if self._next is None:
                try:
                    self._next = next(self._iter)
                except StopIteration:
                    self._done = True
                    break
            topic, msgtype, log_time, data = self._next
            if until_ns is not None and log_time > until_ns:
                return
            self._writer.write_cdr(topic, msgtype, log_time, data)
            self._next = None

    def close(self) -> None:
        """Close the reader."""
        self._reader.close()


# ---------------------------------------------------------------------- offline
def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit='frame', dynamic_ncols=True, file=sys.stderr)


def run_offline(args: argparse.Namespace, bag: Path, topics: CameraTopics, index: FrameIndex,
                writer: OutputBagWriter, collector: Optional[MetricsCollector]) -> int:
    """Run the pipeline on the selected frames and write the outputs; return frames done."""
    from adaptive_depth.pipeline import MetricDepthPipeline

    pipeline = MetricDepthPipeline.from_paths(
        args.model, scale_checkpoint=args.scale_checkpoint, scale=args.scale,
        fixed_scale=args.fixed_scale, device=args.device, precision=args.precision,
        input_size=args.input_size, max_depth=None)
    names = output_topics(args.namespace)
    ts = writer.typestore
    copier = InputCopier(bag, topics.used, writer)
    done = 0
    last_log = 0
    try:
        with BagReader(bag) as reader, _progress(len(index), 'replay (offline)') as bar:
            for frame in reader.frames(topics, index=index):
                t0 = time.perf_counter()
                result = pipeline.process(frame.rgb, intrinsics=None, compute_points=False)
                depth, out = node_like_outputs(
                    ts, frame.image_msg.header, result, frame.rgb, frame.intrinsics,
                    frame.info_msg, args.max_depth, args.min_depth, not args.no_points,
                    args.point_decimation, 0.0, True)
                latency_ms = (time.perf_counter() - t0) * 1e3
                # record time: input record time + latency, never before an earlier output
                log_time = max(frame.log_time_ns + int(latency_ms * 1e6), last_log)
                last_log = log_time
                copier.advance(log_time)
                _write_outputs(writer, names, log_time, out)
                if collector is not None:
                    collector.add(frame.index, frame.stamp_ns, depth, float(result.scale),
                                  latency_ms, frame.depth)
                done += 1
                bar.update(1)
        copier.advance(None)
    finally:
        copier.close()
    return done


def _write_outputs(writer: OutputBagWriter, names: Dict[str, str], log_time: int,
                   out: NodeOutputs) -> None:
    writer.write_msg(names['depth'], OUTPUT_TYPES['depth'], log_time, out.depth)
    if out.info is not None:
        writer.write_msg(names['depth_info'], OUTPUT_TYPES['depth_info'], log_time, out.info)
    if out.points is not None:
        writer.write_msg(names['points'], OUTPUT_TYPES['points'], log_time, out.points)
    writer.write_msg(names['scale'], OUTPUT_TYPES['scale'], log_time, out.scale)


# ---------------------------------------------------------------------- live
def _node_command(args: argparse.Namespace, topics: CameraTopics) -> List[str]:
    compressed = topics.image_type == COMPRESSED_IMAGE
    image_param = topics.image
    if compressed and image_param.endswith('/compressed'):
        image_param = image_param[:-len('/compressed')]
    params = {
        'model': str(args.model),
        'scale_source': args.scale,
        'scale_checkpoint': str(args.scale_checkpoint or ''),
        'fixed_scale': float(args.fixed_scale),
        'device': args.device,
        'precision': args.precision,
        'input_size': int(args.input_size),
        'max_depth': float(args.max_depth),
        'min_depth': float(args.min_depth),
        'publish_points': not args.no_points,
        'point_decimation': int(args.point_decimation),
        'input_transport': 'compressed' if compressed else 'raw',
        'image_topic': image_param,
        'camera_info_topic': topics.info or 'camera_info',
    }
    cmd = [sys.executable, '-m', 'adaptive_depth.ros.node', '--ros-args',
           '-r', f'__ns:={args.namespace}', '-r', f'__node:={args.node_name}']
    for key, value in params.items():
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        elif isinstance(value, str) and value == '':
            value = "''"
        cmd += ['-p', f'{key}:={value}']
    for extra in args.node_param or []:
        cmd += ['-p', extra]
    return cmd


def _ros_env(args: argparse.Namespace) -> Dict[str, str]:
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(args.domain_id)
    if args.discovery_range:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = args.discovery_range.upper()
    import adaptive_depth
    root = str(Path(adaptive_depth.__file__).resolve().parents[1])
    env['PYTHONPATH'] = os.pathsep.join([root] + [p for p in env.get('PYTHONPATH', '').split(
        os.pathsep) if p])
    env.setdefault('PYTHONUNBUFFERED', '1')
    return env


class _NodeProcess:
    """The adaptive_depth_node child process (started and stopped by us only)."""

    def __init__(self, cmd: List[str], env: Dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, 'wb')
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def check(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise ReplayError(f'adaptive_depth_node exited with code {code}:\n{self.tail()}')

    def tail(self, lines: int = 25) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors='replace').splitlines()
        except OSError:
            return ''
        return '\n'.join('  | ' + line for line in text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._log.close()


def run_live(args: argparse.Namespace, bag: Path, topics: CameraTopics, index: FrameIndex,
             writer: OutputBagWriter, collector: Optional[MetricsCollector]) -> int:
    """Play the frames to adaptive_depth_node over ROS 2 and record its outputs."""
    env = _ros_env(args)
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    if 'ROS_AUTOMATIC_DISCOVERY_RANGE' in env:
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = env['ROS_AUTOMATIC_DISCOVERY_RANGE']
    try:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    except ImportError as exc:
        raise ReplayError(
            f'live mode needs rclpy and sensor_msgs (source your ROS 2 install): {exc}') from None
    from geometry_msgs.msg import Vector3Stamped
    from sensor_msgs.msg import PointCloud2

    names = output_topics(args.namespace)
    node_proc = None
    if not args.node_running:
        node_proc = _NodeProcess(_node_command(args, topics), env, writer.work_dir / 'node.log')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(args.domain_id),
               signal_handler_options=SignalHandlerOptions.NO)
    node = None
    copier = InputCopier(bag, topics.used, writer)
    ts = writer.typestore
    try:
        node = rclpy.create_node(f'replay_bag_{os.getpid()}', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        compressed = topics.image_type == COMPRESSED_IMAGE
        image_topic = topics.image
        if compressed and not image_topic.endswith('/compressed'):
            image_topic = image_topic.rstrip('/') + '/compressed'
        pub_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        img_pub = node.create_publisher(CompressedImage if compressed else Image, image_topic,
                                        pub_qos)
        info_pub = (node.create_publisher(CameraInfo, topics.info, pub_qos)
                    if topics.info else None)
        sub_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        state = _LiveState(index, names, ts, writer, collector, copier, args)
        msg_classes = {'depth': Image, 'depth_info': CameraInfo, 'points': PointCloud2,
                       'scale': Vector3Stamped}
        subs = []
        for key, cls in msg_classes.items():
            if key == 'points' and args.no_points:
                continue
            subs.append(node.create_subscription(
                cls, names[key], lambda data, k=key: state.on_output(k, data), sub_qos,
                raw=True))

        # wait until the node is up and both directions are matched
        deadline = time.monotonic() + args.startup_timeout
        while True:
            if node_proc is not None:
                node_proc.check()
            ready = (img_pub.get_subscription_count() > 0 and
                     node.count_publishers(names['depth']) > 0 and
                     node.count_publishers(names['scale']) > 0)
            if ready:
                break
            if time.monotonic() > deadline:
                hint = ('' if node_proc is None else f'\nnode log:\n{node_proc.tail()}')
                raise ReplayError(
                    f'adaptive_depth_node did not connect within {args.startup_timeout} s '
                    f'(domain {args.domain_id}, namespace {args.namespace!r}, image topic '
                    f'{image_topic!r}){hint}')
            executor.spin_once(timeout_sec=0.1)
        _spin_for(executor, 1.0)  # let the node see our subscriptions too

        frames = BagReader(bag).open_bag()
        try:
            with _progress(len(index), 'replay (live)') as bar:
                state.bar = bar
                _play(frames, topics, index, state, executor, img_pub, info_pub, ts, args,
                      node_proc)
        finally:
            frames.close()
        copier.advance(None)
        if state.missing():
            tail = '' if node_proc is None else f'; node log:\n{node_proc.tail()}'
            print(f'{PROG}: warning: {state.missing()} of {len(index)} frames got no depth/scale '
                  f'output from the node (dropped or timed out){tail}', file=sys.stderr)
        elif state.incomplete():
            tail = '' if node_proc is None else f'; node log:\n{node_proc.tail()}'
            print(f'{PROG}: warning: {state.incomplete()} frames lack depth/camera_info or points '
                  f'from the node{tail}', file=sys.stderr)
        return state.completed
    finally:
        copier.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if node_proc is not None:
            node_proc.stop()


def _spin_for(executor: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        executor.spin_once(timeout_sec=min(left, 0.05))


class _LiveState:
    """Bookkeeping of published frames and received outputs in live mode."""

    def __init__(self, index: FrameIndex, names: Dict[str, str], ts: Any,
                 writer: OutputBagWriter, collector: Optional[MetricsCollector],
                 copier: InputCopier, args: argparse.Namespace) -> None:
        self.index = index
        self.ts = ts
        self.writer = writer
        self.collector = collector
        self.copier = copier
        self.topic_of = names
        self.expect = {'depth', 'scale'}
        self.pos_of_stamp: Dict[int, int] = {}
        self.sent: Dict[int, Tuple[float, BagFrame]] = {}
        self.got: Dict[int, Dict[str, Any]] = {}
        self.complete: set = set()
        self.done: set = set()
        self.completed = 0
        self.bar: Any = None
        self.last_output = time.monotonic()
        self.max_latency_s = 0.0
        self.last_log = 0
        self.with_points = not args.no_points

    def expected_keys(self, frame: BagFrame) -> set:
        keys = set(self.expect)
        if frame.intrinsics is not None:
            keys.add('depth_info')
            if self.with_points:
                keys.add('points')
        return keys

    def on_output(self, key: str, data: bytes) -> None:
        now = time.monotonic()
        msgtype = OUTPUT_TYPES[key]
        msg = self.ts.deserialize_cdr(data, msgtype)
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        pos = self.pos_of_stamp.get(stamp)
        if pos is None or pos not in self.sent:
            return  # not one of ours
        got = self.got.setdefault(pos, {})
        if key in got:
            return  # duplicate (a re-sent frame)
        t_sent, frame = self.sent[pos]
        latency_ms = (now - t_sent) * 1e3
        self.last_output = now
        self.max_latency_s = max(self.max_latency_s, latency_ms * 1e-3)
        got[key] = (msg, latency_ms)
        # record time: input record time + latency, never before an earlier output
        log_time = max(frame.log_time_ns + int(latency_ms * 1e6), self.last_log)
        self.last_log = log_time
        self.copier.advance(log_time)
        self.writer.write_cdr(self.topic_of[key], msgtype, log_time, bytes(data))
        if 'depth' in got and 'scale' in got and pos not in self.done:
            self.done.add(pos)
            self.completed += 1
            if self.collector is not None:
                depth = conversions.image_msg_to_depth(got['depth'][0])
                scale = float(got['scale'][0].vector.x)
                self.collector.add(frame.index, frame.stamp_ns, depth, scale,
                                   got['depth'][1], frame.depth)
            frame.depth = None
            if self.bar is not None:
                self.bar.update(1)
        if pos not in self.complete and self.expected_keys(frame) <= set(got):
            self.complete.add(pos)

    def incomplete(self) -> int:
        """Return how many done frames lack camera_info or points they should have."""
        return len(self.done - self.complete)

    def missing(self) -> int:
        return len(self.index) - self.completed


def _play(reader: BagReader, topics: CameraTopics, index: FrameIndex, state: _LiveState,
          executor: Any, img_pub: Any, info_pub: Any, ts: Any, args: argparse.Namespace,
          node_proc: Optional[_NodeProcess]) -> None:
    t_wall0 = None
    stamp0 = None
    for pos, frame in enumerate(reader.frames(topics, index=index, decode=False)):
        if node_proc is not None:
            node_proc.check()
        if frame.depth_msg is not None and state.collector is not None:
            frame.depth = conversions.image_msg_to_depth(frame.depth_msg)
        frame.depth_msg = None
        image_cdr = bytes(ts.serialize_cdr(frame.image_msg, topics.image_type))
        info_cdr = (bytes(ts.serialize_cdr(frame.info_msg, CAMERA_INFO))
                    if frame.info_msg is not None and info_pub is not None else None)
        frame.intrinsics = frame.intrinsics if info_cdr is not None else None
        frame.image_msg = None
        state.pos_of_stamp[frame.stamp_ns] = pos
        if args.lockstep:
            _send(state, pos, frame, img_pub, info_pub, image_cdr, info_cdr, executor)
            deadline = time.monotonic() + args.frame_timeout
            resend = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                if pos in state.complete:
                    break
                if pos in state.done:  # depth + scale arrived: short grace for info/points
                    deadline = min(deadline, state.last_output + 1.0)
                executor.spin_once(timeout_sec=0.02)
                if node_proc is not None:
                    node_proc.check()
                if pos == 0 and 'depth' not in state.got.get(pos, {}) and \
                        time.monotonic() > resend:
                    # the node may not have seen our subscriptions yet: send again (latency
                    # and record time then count from this send)
                    _send(state, pos, frame, img_pub, info_pub, image_cdr, info_cdr, executor)
                    resend = time.monotonic() + 2.0
            continue
        if t_wall0 is None:
            if info_cdr is not None:
                info_pub.publish(info_cdr)
                _spin_for(executor, 0.2)
            t_wall0, stamp0 = time.monotonic(), frame.stamp_ns
        due = t_wall0 + (frame.stamp_ns - stamp0) * 1e-9 / args.rate
        while time.monotonic() < due:
            executor.spin_once(timeout_sec=min(0.01, max(due - time.monotonic(), 0.0)))
        _send(state, pos, frame, img_pub, info_pub, image_cdr, info_cdr, executor)
    # wait for the outputs still in flight: stop after a quiet period without any output
    quiet = min(args.frame_timeout, max(3.0, 3.0 * state.max_latency_s))
    state.last_output = max(state.last_output, time.monotonic())
    while True:
        limit = quiet if state.missing() else (1.0 if state.incomplete() else 0.0)
        if time.monotonic() - state.last_output >= limit:
            break
        executor.spin_once(timeout_sec=0.02)
        if node_proc is not None and node_proc.proc.poll() is not None:
            break


def _send(state: _LiveState, pos: int, frame: BagFrame, img_pub: Any, info_pub: Any,
          image_cdr: bytes, info_cdr: Optional[bytes], executor: Any) -> None:
    if info_cdr is not None:
        info_pub.publish(info_cdr)
        if pos == 0:
            _spin_for(executor, 0.1)
    state.sent[pos] = (time.monotonic(), frame)
    img_pub.publish(image_cdr)


# ---------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``replay_bag``."""
    from adaptive_depth.defaults import DEFAULT_MODEL_ID

    p = argparse.ArgumentParser(
        prog=PROG, description='Run adaptive_depth over a ROS 1 / rosbag2 recording and write a '
        'rosbag2 (MCAP) bag with the depth, camera_info, points and scale outputs; with a '
        'registered depth topic also per-frame metrics against it.')
    p.add_argument('bag', help='ROS 1 .bag file, rosbag2 directory, or .mcap/.db3 file')
    p.add_argument('--out', required=True, help='output rosbag2 directory (must not exist)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    g = p.add_argument_group('topics')
    g.add_argument('--image-topic', help='colour Image or CompressedImage topic (auto)')
    g.add_argument('--info-topic', help='colour camera_info topic (auto, by namespace)')
    g.add_argument('--depth-topic', help='registered ground-truth depth topic, 16UC1 mm or '
                   "32FC1 m (auto: an Image topic named '*depth*')")
    g.add_argument('--no-ground-truth', action='store_true',
                   help='do not look for a depth topic (no metrics)')
    g.add_argument('--tolerance', type=float, default=0.02,
                   help='max |colour - depth| header stamp difference in seconds (0.02)')
    g.add_argument('--every', type=int, default=1, help='process every K-th colour frame (1)')
    g.add_argument('--namespace', default='/adaptive_depth',
                   help="namespace of the node's output topics (/adaptive_depth)")
    m = p.add_argument_group('model')
    m.add_argument('--model', default=DEFAULT_MODEL_ID,
                   help='DA2 metric model directory or (cached) hub id')
    m.add_argument('--scale-checkpoint', help='scale-network checkpoint directory')
    m.add_argument('--scale', choices=('learned', 'fixed', 'none'), default=None,
                   help="scale source (default: 'learned' with --scale-checkpoint, else 'none')")
    m.add_argument('--fixed-scale', type=float, default=1.0, help='scale for --scale fixed')
    m.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    m.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'fp16', 'bf16'))
    m.add_argument('--input-size', type=int, default=518, help='DA2 input size (multiple of 14)')
    m.add_argument('--max-depth', type=float, default=10.0,
                   help='published depth beyond this (metres) is NaN (node default 10)')
    m.add_argument('--min-depth', type=float, default=0.0,
                   help='published depth below this (metres) is NaN (0)')
    m.add_argument('--no-points', action='store_true', help='do not produce point clouds')
    m.add_argument('--point-decimation', type=int, default=1,
                   help='keep every N-th pixel in the cloud (1)')
    r = p.add_argument_group('mode')
    r.add_argument('--mode', choices=('offline', 'live'), default='offline',
                   help='offline: run the pipeline here; live: through adaptive_depth_node')
    r.add_argument('--rate', type=float, default=1.0,
                   help='live: playback speed factor on the original stamps (1.0)')
    r.add_argument('--lockstep', action='store_true',
                   help='live: send the next frame only after the outputs of the previous one '
                   'arrived (no drops; ignores --rate)')
    r.add_argument('--node-running', action='store_true',
                   help='live: use an already running node (in --namespace) instead of '
                   'starting one')
    r.add_argument('--node-name', default='adaptive_depth_node', help='live: node name')
    r.add_argument('--node-param', action='append', metavar='NAME:=VALUE',
                   help='live: extra node parameter (repeatable)')
    r.add_argument('--domain-id', type=int,
                   default=int(os.environ.get('ROS_DOMAIN_ID', '0') or 0),
                   help='live: ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID or 0)')
    r.add_argument('--discovery-range', default='localhost',
                   choices=('localhost', 'subnet', 'system_default', 'off'),
                   help='live: ROS_AUTOMATIC_DISCOVERY_RANGE (localhost)')
    r.add_argument('--startup-timeout', type=float, default=120.0,
                   help='live: seconds to wait for the node to come up (120)')
    r.add_argument('--frame-timeout', type=float, default=30.0,
                   help='live: seconds to wait for the outputs of a frame (30)')
    p.add_argument('--metrics-dir', help='where to write the metrics (default OUT/metrics)')
    return p


def _check_args(args: argparse.Namespace) -> None:
    if args.scale is None:
        args.scale = 'learned' if args.scale_checkpoint else 'none'
    if args.scale == 'learned' and not args.scale_checkpoint:
        raise ReplayError('--scale learned needs --scale-checkpoint DIR (or use --scale fixed '
                          '--fixed-scale K, or --scale none)')
    if args.scale_checkpoint and not Path(args.scale_checkpoint).expanduser().exists():
        raise FileNotFoundError(f'scale checkpoint not found: {args.scale_checkpoint}')
    checks = [(args.every >= 1, f'--every must be >= 1, got {args.every}'),
              (args.tolerance >= 0, f'--tolerance must be >= 0, got {args.tolerance}'),
              (args.rate > 0, f'--rate must be > 0, got {args.rate}'),
              (args.fixed_scale > 0, f'--fixed-scale must be > 0, got {args.fixed_scale}'),
              (args.max_depth > args.min_depth >= 0,
               f'need 0 <= --min-depth < --max-depth, got {args.min_depth}, {args.max_depth}'),
              (args.point_decimation >= 1,
               f'--point-decimation must be >= 1, got {args.point_decimation}'),
              (args.input_size > 0 and args.input_size % 14 == 0,
               f'--input-size must be a positive multiple of 14, got {args.input_size}'),
              (0 <= args.domain_id <= 232, f'--domain-id must be 0..232, got {args.domain_id}')]
    for ok, message in checks:
        if not ok:
            raise ReplayError(message)
    model = str(args.model)
    if model.startswith(('.', '/', '~')) and not Path(model).expanduser().exists():
        raise FileNotFoundError(f'model directory not found: {model}')


def replay(args: argparse.Namespace) -> Dict[str, Any]:
    """Run a replay as described by parsed ``args``; return the summary (also written)."""
    _check_args(args)
    bag = Path(args.bag).expanduser()
    if not bag.exists():
        raise FileNotFoundError(f'bag not found: {bag}')
    from adaptive_depth.tools.common import check_out
    out = check_out(args.out, overwrite=args.overwrite)   # the output policy of every tool
    if out.resolve() == bag.resolve():
        raise ReplayError('--out must differ from the input bag')
    with BagReader(bag) as reader:
        topics = reader.select_topics(args.image_topic, args.info_topic, args.depth_topic,
                                      use_depth=not args.no_ground_truth)
        index = reader.index(topics, args.tolerance, args.every)
    print(f'{PROG}: {bag}: colour {topics.image!r} ({len(index)} frames selected of '
          f'{index.color_stamps.size}), camera_info {topics.info!r}, depth {topics.depth!r}',
          file=sys.stderr)
    if topics.depth is not None and index.paired.size == 0:
        print(f'{PROG}: warning: no colour frame has a depth within {args.tolerance} s: '
              'no metrics', file=sys.stderr)
    method = args.scale
    collector = MetricsCollector(method) if topics.depth is not None else None
    metrics_tmp = None
    if args.metrics_dir:
        mdir = Path(args.metrics_dir).expanduser()
        if mdir.exists() and not args.overwrite:
            raise FileExistsError(f'metrics directory {mdir} already exists; remove it or pass '
                                  '--overwrite')
    with OutputBagWriter(out, overwrite=args.overwrite) as writer:
        runner = run_live if args.mode == 'live' else run_offline
        done = runner(args, bag, topics, index, writer, collector)
        if done == 0:
            raise ReplayError('no frame was processed; nothing written')
        meta = {'bag': str(bag), 'out': str(out), 'mode': args.mode, 'scale_source': method,
                'model': str(args.model), 'image_topic': topics.image,
                'info_topic': topics.info, 'depth_topic': topics.depth, 'every': args.every,
                'tolerance_s': args.tolerance, 'frames_selected': len(index),
                'frames_processed': done, 'output_topics': output_topics(args.namespace)}
        summary = dict(meta)
        if collector is not None:
            if args.metrics_dir:
                metrics_tmp = Path(tempfile.mkdtemp(prefix=f'.{mdir.name}.partial-',
                                                    dir=mdir.parent if mdir.parent.exists()
                                                    else None))
                summary = collector.write(metrics_tmp / 'm', meta)
            else:
                summary = collector.write(writer.work_dir / 'metrics', meta)
    if metrics_tmp is not None:
        if mdir.exists():
            shutil.rmtree(mdir)
        mdir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(metrics_tmp / 'm'), str(mdir))
        shutil.rmtree(metrics_tmp, ignore_errors=True)
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``replay_bag`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary = replay(args)
    except KeyboardInterrupt:
        print(f'{PROG}: interrupted; nothing written', file=sys.stderr)
        return 130
    except (BagError, ReplayError, FileNotFoundError, FileExistsError, ValueError,
            OSError) as exc:
        print(f'{PROG}: error: {exc}', file=sys.stderr)
        return 2
    print(f'{PROG}: wrote {args.out} ({summary.get("frames_processed", 0)} frames)',
          file=sys.stderr)
    if summary.get('methods'):
        for name, entry in summary['methods'].items():
            print(f'  {name:>8}: AbsRel {entry["abs_rel"]:.4f}  RMSE {entry["rmse"]:.4f} m  '
                  f'δ1 {entry["delta1"]:.4f}  mean s {entry["scale_mean"]:.4f}  '
                  f'std Δlog s {entry["jitter_std_dlog_s"]:.4f}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
