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
The main demo: ``adaptive_depth_node`` in a real ROS 2 graph on a sample camera stream.

It starts the node exactly as users do (its console script, in its own process), plays a camera
stream into it (the real NYU Depth V2 frames in ``../shared`` when present, else synthetic
rooms) with ``camera_info``, records everything the node publishes and writes files a person can
open: colourised depth PNGs, an overview figure (RGB | published depth | ground truth), PLY point
clouds, and a summary of rates, latency, dropped frames and accuracy against ground truth.

Weights: the real Depth Anything V2 weights are used when they can be had (``--model`` /
``$ADAPTIVE_DEPTH_MODEL``, the Hugging Face cache, or the hub). Where they are unreachable the
demo says so and runs the same architecture (DA2-Small) with untrained weights, labelled UNTRAINED
in every output, so that the whole path still runs.
"""

import argparse
import json
import math
import os
from pathlib import Path
import random
import re
import signal
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from adaptive_depth.defaults import DEFAULT_MODEL_ID
from adaptive_depth.ros.node_process import node_env, NodeProcess
from adaptive_depth.sample import RGBDSample
from adaptive_depth.tools.common import check_out, clear_dir, MAX_DOMAIN_ID, tool_main, UserError
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_NYU = REPO_ROOT.parent / 'shared' / 'data' / 'nyu_test_sample'
FRAME_ID = 'camera_color_optical_frame'
NAMESPACE = '/adaptive_depth_demo'
_LOG_PREFIX = re.compile(r'^\[(FATAL|ERROR)\]\s*(\[[^\]]*\]\s*)*:?\s*')


def _log(message: str) -> None:
    print(f'[demo] {message}', flush=True)


def resolve_model(requested: Optional[str], cache_dir: Path) -> Tuple[str, bool, str]:
    """
    Find Depth Anything V2 weights; return ``(model path or id, untrained, how it was found)``.

    Order: the ``requested`` path/id, ``$ADAPTIVE_DEPTH_MODEL``, the local Hugging Face cache, the
    hub. When none works, build the DA2-Small architecture with random weights in ``cache_dir``.
    """
    requested = _requested_model(requested)[0]
    if requested:
        from adaptive_depth.depth_model import is_untrained_model
        untrained = is_untrained_model(requested)
        return requested, untrained, ('given by --model / $ADAPTIVE_DEPTH_MODEL'
                                      + (' (marked untrained)' if untrained else ''))
    os.environ.setdefault('HF_HUB_ETAG_TIMEOUT', '10')
    os.environ.setdefault('HF_HUB_DOWNLOAD_TIMEOUT', '30')
    try:
        from huggingface_hub import snapshot_download
        try:
            path = snapshot_download(DEFAULT_MODEL_ID, local_files_only=True)
            return path, False, 'found in the local Hugging Face cache'
        except Exception:  # noqa: B902 - not cached: try the hub next (if it answers)
            from adaptive_depth.depth_model import hub_unreachable_reason
            unreachable = hub_unreachable_reason()
            if unreachable:
                raise RuntimeError(f'not in the local Hugging Face cache and {unreachable}')
            path = snapshot_download(DEFAULT_MODEL_ID)
            return path, False, 'downloaded from the Hugging Face hub'
    except Exception as exc:  # noqa: B902 - any failure means: no real weights here
        reason = str(exc).splitlines()[0][:160]
    from adaptive_depth.testing import make_untrained_depth_anything
    target = cache_dir / 'untrained-da2-small'
    if not (target / 'config.json').exists():
        make_untrained_depth_anything(target, size='small', seed=0, max_depth=20)
    _log(f'The real Depth Anything V2 weights ({DEFAULT_MODEL_ID}) are unreachable here '
         f'({reason}).')
    _log('Running the same architecture (DA2-Small, 24.8 M parameters) with UNTRAINED random '
         'weights: the path is real, the depth values are meaningless. Every output is labelled '
         'UNTRAINED. Point --model or $ADAPTIVE_DEPTH_MODEL at a local copy of the weights for '
         'real depth.')
    return str(target), True, f'untrained (real weights unreachable: {reason})'


def load_frames(count: int, width: int, height: int) -> Tuple[List[RGBDSample], str]:
    """Return up to ``count`` RGB-D frames: real NYU frames from ../shared, else synthetic."""
    if SHARED_NYU.is_dir():
        from adaptive_depth.datasets import open_dataset
        dataset = open_dataset(f'nyu-folder:{SHARED_NYU}')
        frames = [dataset[i] for i in range(min(count, len(dataset)))]
        return frames, f'real NYU Depth V2 test frames ({SHARED_NYU})'
    from adaptive_depth.synthetic import render_scene
    frames = [render_scene(seed, width=width, height=height) for seed in range(count)]
    return frames, 'synthetic rooms (../shared not found)'


def _cloud_xyz_rgb(msg) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Decode an organised PointCloud2 into H×W×3 float32 points and H×W×3 uint8 colours."""
    offsets = {f.name: f.offset for f in msg.fields}
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.row_step)
    raw = raw[:, :msg.width * msg.point_step].reshape(msg.height, msg.width, msg.point_step)
    xyz = np.stack([raw[..., offsets[c]:offsets[c] + 4].copy().view('<f4')[..., 0]
                    for c in 'xyz'], axis=-1)
    colours = None
    if 'rgb' in offsets:
        packed = raw[..., offsets['rgb']:offsets['rgb'] + 4].copy().view('<u4')[..., 0]
        colours = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255],
                           axis=-1).astype(np.uint8)
    return xyz, colours


class _Recorder:
    """Test-side ROS node: plays the camera stream and records the adaptive_depth outputs."""

    def __init__(self, node, qos_input, qos_reliable):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        self.node = node
        self.image_pub = node.create_publisher(Image, f'{NAMESPACE}/image', qos_input)
        self.info_pub = node.create_publisher(CameraInfo, f'{NAMESPACE}/camera_info', qos_input)
        self.depth: Dict[Tuple[int, int], Tuple[float, object]] = {}
        self.depth_info: Dict[Tuple[int, int], object] = {}
        self.points: Dict[Tuple[int, int], object] = {}
        self.scale: Dict[Tuple[int, int], float] = {}
        self.diagnostics: List[object] = []

        def keyed(store, transform=lambda m: m, stamp_receive=False):
            def callback(msg):
                key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
                value = transform(msg)
                store[key] = (time.monotonic(), value) if stamp_receive else value
            return callback

        self.outputs = [
            node.create_subscription(Image, f'{NAMESPACE}/depth',
                                     keyed(self.depth, stamp_receive=True), qos_reliable),
            node.create_subscription(CameraInfo, f'{NAMESPACE}/depth/camera_info',
                                     keyed(self.depth_info), qos_reliable),
            node.create_subscription(PointCloud2, f'{NAMESPACE}/points', keyed(self.points),
                                     qos_reliable),
            node.create_subscription(Vector3Stamped, f'{NAMESPACE}/scale',
                                     keyed(self.scale, lambda m: float(m.vector.x)),
                                     qos_reliable),
        ]
        node.create_subscription(DiagnosticArray, '/diagnostics',
                                 lambda msg: self.diagnostics.append(msg), 10)

    def node_status(self) -> Dict[str, str]:
        """Return the key/values of the last diagnostics status of the demo's node ({} if none)."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.startswith(f'{NAMESPACE}/adaptive_depth_node:'):
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def connected(self) -> bool:
        """Return True once node and recorder see each other on every stream topic."""
        node = self.node
        if min(node.count_subscribers(f'{NAMESPACE}/image'),
               node.count_subscribers(f'{NAMESPACE}/camera_info')) == 0:
            return False
        if any(sub.get_publisher_count() == 0 for sub in self.outputs):
            return False
        status = self.node_status()
        return all(int(status.get(f'subscribers_{topic}', '0')) > 0
                   for topic in ('depth', 'points'))


def _start_node(model: str, args: argparse.Namespace, domain_id: int,
                log_path: Path) -> NodeProcess:
    params = {
        'model': model, 'device': args.device, 'input_size': args.input_size,
        'max_depth': args.max_depth, 'publish_points': True, 'colorize_points': True,
        'scale_source': 'learned' if args.scale_checkpoint else 'none',
        # 640×480 frames over best-effort UDP lose fragments on hosts with small socket buffers;
        # the demo's own stream is reliable end to end.
        'input_qos_reliability': 'reliable',
    }
    if args.scale_checkpoint:
        params['scale_checkpoint'] = args.scale_checkpoint
    env = node_env(domain_id, os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST'))
    return NodeProcess(params, domain_id, log_path, ros_args=['-r', f'__ns:={NAMESPACE}'],
                       env=env)


def _node_failure(process: NodeProcess, code: int, log_path: Path) -> str:
    """
    Return one line saying why the node exited during start-up, from its log.

    The cause is the node's last FATAL line (e.g. a model that does not load, an invalid
    parameter), else its last ERROR line, else its last line (e.g. an exception's message).
    """
    lines = [line.strip() for line in process.log().splitlines() if line.strip()]
    cause = None
    for level in ('[FATAL]', '[ERROR]'):
        found = [line for line in lines if line.startswith(level)]
        if found:
            cause = _LOG_PREFIX.sub('', found[-1]) or found[-1]
            break
    if cause is None:
        cause = lines[-1] if lines else 'it logged nothing'
    if len(cause) > 300:
        cause = cause[:297] + '...'
    return (f'adaptive_depth_node exited with code {code} during start-up: {cause} '
            f'(full log: {log_path})')


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float('nan')


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; return the exit code."""
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model, untrained, model_origin = resolve_model(args.model, Path(args.cache_dir).expanduser())
    label = 'UNTRAINED DA2 weights' if untrained else 'DA2 weights'
    frames, source = load_frames(args.frames, 640, 480)
    _log(f'camera stream: {len(frames)} frames of {source} at {args.rate:g} Hz')
    _log(f'model: {model} ({model_origin})')

    domain_id = args.domain_id if args.domain_id is not None else random.randint(120, 220)
    os.environ['ROS_DOMAIN_ID'] = str(domain_id)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from adaptive_depth.ros.conversions import (
        fill_message, image_msg_to_depth, intrinsics_to_camera_info_fields, rgb_to_image_fields)
    from sensor_msgs.msg import CameraInfo, Image

    process = _start_node(model, args, domain_id, out / 'node.log')
    _log(f'started adaptive_depth_node (pid {process.pid}, ROS_DOMAIN_ID={domain_id}, '
         f'log {out / "node.log"})')
    rclpy.init()
    node = rclpy.create_node('adaptive_depth_demo_player')
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    recorder = _Recorder(node, reliable, reliable)
    sent: Dict[Tuple[int, int], Tuple[float, int]] = {}
    try:
        deadline = time.monotonic() + args.startup_timeout
        # Wait until the graph is connected both ways: the node subscribes to image and
        # camera_info (a camera_info sent earlier is lost: first frame without intrinsics), our
        # recorder's subscriptions matched the node's publishers, and the node's own depth and
        # points publishers report our subscriptions (its diagnostics say so). The node skips
        # frames nobody subscribes to and publishes clouds only to matched subscribers.
        while not recorder.connected():
            code = process.poll()
            if code is not None:
                raise UserError(_node_failure(process, code, out / 'node.log'))
            if time.monotonic() > deadline:
                _log('adaptive_depth_node did not connect in time; see node.log')
                return 1
            rclpy.spin_once(node, timeout_sec=0.1)
        _log('node is up; streaming')
        period = 1.0 / args.rate
        for index, frame in enumerate(frames):
            stamp = node.get_clock().now().to_msg()
            info = fill_message(CameraInfo(), intrinsics_to_camera_info_fields(frame.intrinsics))
            info.header.stamp, info.header.frame_id = stamp, FRAME_ID
            image = fill_message(Image(), rgb_to_image_fields(frame.rgb, 'rgb8'))
            image.header.stamp, image.header.frame_id = stamp, FRAME_ID
            recorder.info_pub.publish(info)
            # camera_info and image travel on separate topics: give the intrinsics a head start
            # so that the node never processes an image before its first camera_info.
            rclpy.spin_once(node, timeout_sec=0.02)
            recorder.image_pub.publish(image)
            sent[(stamp.sec, stamp.nanosec)] = (time.monotonic(), index)
            end = time.monotonic() + period
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.02)
        # Let the last frame finish.
        drain = time.monotonic() + args.drain_timeout
        last = max(sent)
        while time.monotonic() < drain and last not in recorder.depth:
            rclpy.spin_once(node, timeout_sec=0.05)
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        process.stop(signal.SIGTERM, timeout=20)
        node.destroy_node()
        rclpy.try_shutdown()

    return _write_outputs(out, frames, sent, recorder, label, untrained, model, model_origin,
                          source, args, process.proc.returncode, image_msg_to_depth)


def _write_outputs(out, frames, sent, recorder, label, untrained, model, model_origin, source,
                   args, node_exit, image_msg_to_depth) -> int:
    from adaptive_depth.metrics import depth_metrics, eigen_crop_mask
    from adaptive_depth.visualize import colorize_depth, save_depth_figure, write_ply
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    tag = 'untrained' if untrained else 'da2'
    received = sorted(k for k in recorder.depth if k in sent)
    latencies = [1000.0 * (recorder.depth[k][0] - sent[k][0]) for k in received]
    rows = []
    overview = []
    for key in received:
        index = sent[key][1]
        frame = frames[index]
        depth = image_msg_to_depth(recorder.depth[key][1])
        scale = recorder.scale.get(key)
        scale_text = '' if scale is None else f', scale {scale:.3f}'
        save_depth_figure(out / f'depth_{index:03d}_{tag}.png', depth, vmin=0.0,
                          vmax=args.max_depth, label='depth [m] (black: no depth)',
                          title=f'frame {index} ({frame.name}): published depth{scale_text}\n'
                                f'{label}')
        valid = np.isfinite(frame.depth) & (frame.depth > 0) & np.isfinite(depth)
        if frame.meta.get('eval_crop') == 'eigen':
            valid &= eigen_crop_mask(*depth.shape)
        metrics = depth_metrics(depth, frame.depth, valid) if valid.any() else {}
        row = {'frame': index, 'latency_ms': round(latencies[received.index(key)], 1),
               'scale': recorder.scale.get(key), 'abs_rel': metrics.get('abs_rel'),
               'rmse': metrics.get('rmse'), 'delta1': metrics.get('delta1')}
        if key in recorder.points:
            xyz, colours = _cloud_xyz_rgb(recorder.points[key])
            write_ply(out / f'cloud_{index:03d}_{tag}.ply', xyz, colours)
            row['cloud_points'] = int(np.isfinite(xyz[..., 2]).sum())
        rows.append(row)
        if len(overview) < 4:
            overview.append((frame, depth))

    if overview:
        fig, axes = plt.subplots(len(overview), 3, figsize=(12, 3.2 * len(overview)),
                                 squeeze=False)
        for (frame, depth), ax in zip(overview, axes):
            ax[0].imshow(frame.rgb)
            ax[0].set_title(f'input {frame.name}')
            ax[1].imshow(colorize_depth(depth, 0.0, args.max_depth))
            ax[1].set_title(f'published depth ({label})')
            ax[2].imshow(colorize_depth(frame.depth, 0.0, args.max_depth))
            ax[2].set_title('ground truth')
            for a in ax:
                a.axis('off')
        fig.suptitle(f'adaptive_depth demo: {label}, turbo colour map 0-{args.max_depth:g} m')
        fig.tight_layout()
        fig.savefig(out / f'overview_{tag}.png', dpi=80)
        plt.close(fig)

    duration = (max(sent.values())[0] - min(sent.values())[0]) if len(sent) > 1 else 0.0
    out_times = sorted(recorder.depth[k][0] for k in received)
    diag_values = {}
    if recorder.diagnostics:
        for status in recorder.diagnostics[-1].status:
            diag_values.update({kv.key: kv.value for kv in status.values})
    summary = {
        'weights': label, 'untrained_weights': untrained, 'model': model,
        'model_origin': model_origin, 'source': source, 'frames_sent': len(sent),
        'frames_published': len(received),
        'clouds_published': sum(1 for k in received if k in recorder.points),
        'frames_dropped': len(sent) - len(received),
        'input_rate_hz': round((len(sent) - 1) / duration, 2) if duration else None,
        'output_rate_hz': (round((len(out_times) - 1) / (out_times[-1] - out_times[0]), 2)
                           if len(out_times) > 1 else None),
        'latency_ms_p50': round(_percentile(latencies, 50), 1),
        'latency_ms_p95': round(_percentile(latencies, 95), 1),
        'mean_abs_rel': (float(np.mean([r['abs_rel'] for r in rows if r['abs_rel'] is not None]))
                         if rows else None),
        'node_exit_code': node_exit, 'last_diagnostics': diag_values, 'frames': rows,
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2, default=str))
    _print_summary(summary, out)
    ok = len(received) > 0 and node_exit == 0
    return 0 if ok else 1


def _print_summary(summary: dict, out: Path) -> None:
    _log('-' * 72)
    _log(f'weights: {summary["weights"]}   source: {summary["source"]}')
    _log(f'frames sent {summary["frames_sent"]}, published {summary["frames_published"]} '
         f'(with a point cloud: {summary["clouds_published"]}), dropped (newest frame wins) '
         f'{summary["frames_dropped"]}')
    _log(f'input {summary["input_rate_hz"]} Hz, output {summary["output_rate_hz"]} Hz, latency '
         f'p50 {summary["latency_ms_p50"]} ms, p95 {summary["latency_ms_p95"]} ms')
    for row in summary['frames']:
        abs_rel = 'n/a' if row['abs_rel'] is None else f'{row["abs_rel"]:.3f}'
        _log(f'  frame {row["frame"]:3d}: latency {row["latency_ms"]:8.1f} ms, scale '
             f'{row["scale"]}, AbsRel vs ground truth {abs_rel}, cloud points '
             f'{row.get("cloud_points", "not received")}')
    if summary['untrained_weights']:
        _log('NOTE: UNTRAINED weights - accuracy numbers above say nothing about the method.')
    _log(f'outputs in {out}: overview_*.png, depth_*.png, cloud_*.ply, summary.json, node.log')
    _log(f'node exit code {summary["node_exit_code"]}')


def _requested_model(requested: Optional[str]) -> Tuple[Optional[str], str]:
    """Return the model asked for (``--model``, else ``$ADAPTIVE_DEPTH_MODEL``) and where from."""
    if requested:
        return requested, '--model'
    return os.environ.get('ADAPTIVE_DEPTH_MODEL') or None, '$ADAPTIVE_DEPTH_MODEL'


def _check_model(requested: Optional[str]) -> None:
    """Refuse a requested model that is neither an existing path nor a hub id, as the node does."""
    requested, option = _requested_model(requested)
    if requested and not Path(requested).expanduser().exists():
        from adaptive_depth.depth_model import looks_like_hub_id
        if not looks_like_hub_id(requested):
            raise UserError(f'{option} {requested}: no such model directory')


def build_parser() -> argparse.ArgumentParser:
    """Return the demo's argument parser."""
    parser = argparse.ArgumentParser(
        prog='adaptive_depth_demo', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='demo_output',
                        help='output folder (default: %(default)s); a used one needs '
                             '--overwrite')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the files of a used --out')
    parser.add_argument('--model', default=None,
                        help='DA2 metric checkpoint: hub id or local directory (default: '
                             '$ADAPTIVE_DEPTH_MODEL, the HF cache, the hub, else untrained)')
    parser.add_argument('--scale-checkpoint', default=os.environ.get('ADAPTIVE_DEPTH_SCALE'),
                        help='scale network checkpoint directory (default: $ADAPTIVE_DEPTH_SCALE; '
                             'none → DA2 metric depth alone)')
    parser.add_argument('--frames', type=int, default=10, help='frames to stream (default: 10)')
    parser.add_argument('--rate', type=float, default=2.0, help='camera rate in Hz (default: 2)')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda, cuda:N')
    parser.add_argument('--input-size', type=int, default=518,
                        help='DA2 input short side, multiple of 14 (default: 518)')
    parser.add_argument('--max-depth', type=float, default=10.0,
                        help='depth beyond this is published as NaN (metres, default: 10)')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID for the demo graph, 0..232 (default: random 120-220)')
    parser.add_argument('--cache-dir', default='~/.cache/adaptive_depth',
                        help='where untrained fallback weights are written')
    parser.add_argument('--startup-timeout', type=float, default=120.0,
                        help='seconds to wait for the node to come up')
    parser.add_argument('--drain-timeout', type=float, default=60.0,
                        help='seconds to wait for the last frame after streaming')
    return parser


@tool_main('adaptive_depth_demo')
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``adaptive_depth_demo``; returns the exit code (docs/tools.md)."""
    args = build_parser().parse_args(argv)
    if args.frames < 1:
        raise UserError('--frames must be >= 1')
    if not args.rate > 0:
        raise UserError('--rate must be > 0')
    if args.input_size <= 0 or args.input_size % 14:
        raise UserError('--input-size must be a positive multiple of 14')
    if not (math.isfinite(args.max_depth) and args.max_depth > 0):
        raise UserError(f'--max-depth must be a finite number of metres > 0, got {args.max_depth}')
    if args.domain_id is not None and not 0 <= args.domain_id <= MAX_DOMAIN_ID:
        raise UserError(f'--domain-id must be 0..{MAX_DOMAIN_ID} (a ROS 2 domain id), got '
                        f'{args.domain_id}')
    _check_model(args.model)
    out = check_out(args.out, overwrite=args.overwrite)
    if args.overwrite:
        clear_dir(out)
    return run_demo(args)


if __name__ == '__main__':
    sys.exit(main())
