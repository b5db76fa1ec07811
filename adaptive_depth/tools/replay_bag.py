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
``replay_bag``: run adaptive_depth over a recorded bag, offline or through the real ROS node.

Both modes take the node's own parameters (``--params-file`` keyed like
config/adaptive_depth.yaml, repeated ``--param NAME:=VALUE``), validated by the node's rules
(``ros/params.py``). Offline mode (default) runs the node's frame processor on every k-th colour
frame here, as fast as possible; live mode starts ``adaptive_depth_node`` in a real ROS 2 graph
(or uses a running one), plays the bag's image and camera_info with their original stamps and
records what it publishes. Both write a rosbag2 MCAP recording with the input topics and the
node's outputs (``<ns>/depth``, ``<ns>/depth/camera_info``, ``<ns>/points``, ``<ns>/scale``);
with the same parameters the two modes' outputs are identical bit for bit.

When the bag has a registered depth topic, per-frame metrics are computed for the node's scale,
for no scaling (s = 1 on the same raw prediction) and for the oracle scale, and written to
``OUT/metrics`` (or ``--metrics-dir``): ``frames.csv``, ``summary.json``, ``summary.md`` and
``timeline.png``. Exit codes: 0 done, 2 bad input (one line on stderr), 130 interrupted. See
docs/replay.md.
"""

import argparse
import os
from pathlib import Path
import shutil
import sys
import tempfile
from typing import Any, Dict, Optional, Sequence

from adaptive_depth.bagio import BagError, BagReader, output_topics, OutputBagWriter
from adaptive_depth.replay import ReplayError
from adaptive_depth.replay.scoring import (EVAL_CROPS, MetricsCollector, raw_depth_frames,
                                           replay_label, ScoringProtocol)
from adaptive_depth.ros.node_process import NodeExitedError
from adaptive_depth.ros.params import (load_params_file, NodeParams, ParameterError,
                                       parse_param_assignment)
from adaptive_depth.tools.common import check_out, MAX_DOMAIN_ID, one_line

PROG = 'replay_bag'


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``replay_bag``."""
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
    n = p.add_argument_group('node parameters (both modes; see docs/node.md)')
    n.add_argument('--params-file', metavar='YAML',
                   help='ROS 2 parameter file keyed like config/adaptive_depth.yaml')
    n.add_argument('--param', action='append', default=[], metavar='NAME:=VALUE',
                   help='one node parameter, e.g. model:=DIR, scale_source:=fixed, '
                   'scale_smoothing:=0.8 (repeatable; overrides --params-file)')
    r = p.add_argument_group('mode')
    r.add_argument('--mode', choices=('offline', 'live'), default='offline',
                   help="offline: the node's frame processor here; live: through "
                   'adaptive_depth_node')
    r.add_argument('--rate', type=float, default=1.0,
                   help='live: playback speed factor on the original stamps (1.0)')
    r.add_argument('--lockstep', action='store_true',
                   help='live: send the next frame only after the outputs of the previous one '
                   'arrived (no drops; ignores --rate)')
    r.add_argument('--node-running', action='store_true',
                   help='live: use an already running node (in --namespace) instead of '
                   'starting one')
    r.add_argument('--node-name', default='adaptive_depth_node', help='live: node name')
    r.add_argument('--domain-id', type=int,
                   default=int(os.environ.get('ROS_DOMAIN_ID', '0') or 0),
                   help='live: ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID or 0)')
    r.add_argument('--discovery-range', default='localhost',
                   choices=('localhost', 'subnet', 'system_default', 'off'),
                   help='live: ROS_AUTOMATIC_DISCOVERY_RANGE (localhost)')
    r.add_argument('--startup-timeout', type=float, default=120.0,
                   help='live: seconds to wait for the node to come up (120)')
    r.add_argument('--frame-timeout', type=float, default=30.0,
                   help="live: seconds to wait for the node's first outputs (discovery, model "
                   'warm-up) and, without --lockstep, for the last ones (30)')
    r.add_argument('--retries', type=int, default=3,
                   help='live --lockstep: re-sends of a frame whose outputs do not arrive '
                   'within 3x the slowest latency so far (at least 5 s) before it is counted '
                   'lost (3)')
    p.add_argument('--metrics-dir', help='where to write the metrics (default OUT/metrics)')
    e = p.add_argument_group('scoring (the protocol of evaluate; docs/replay.md)')
    e.add_argument('--crop', choices=EVAL_CROPS, default='none',
                   help='score only inside the NYU Eigen crop (eigen) or everywhere (none)')
    return p


def node_params(args: argparse.Namespace) -> NodeParams:
    """
    Return the node parameters of a replay: defaults < ``--params-file`` < ``--param``.

    Validated by the node's own rules; paths that must exist are checked here.
    """
    values: Dict[str, Any] = {}
    if args.params_file:
        values.update(load_params_file(args.params_file, args.node_name))
    for text in args.param:
        name, value = parse_param_assignment(text)
        values[name] = value
    params = NodeParams.from_mapping(values)
    if params.scale_checkpoint and not Path(params.scale_checkpoint).expanduser().exists():
        raise FileNotFoundError(f'scale checkpoint not found: {params.scale_checkpoint}')
    model = params.model
    if model.startswith(('.', '/', '~')) and not Path(model).expanduser().exists():
        raise FileNotFoundError(f'model directory not found: {model}')
    return params


def _check_args(args: argparse.Namespace) -> None:
    checks = [(args.every >= 1, f'--every must be >= 1, got {args.every}'),
              (args.tolerance >= 0, f'--tolerance must be >= 0, got {args.tolerance}'),
              (args.rate > 0, f'--rate must be > 0, got {args.rate}'),
              (args.retries >= 0, f'--retries must be >= 0, got {args.retries}'),
              (0 <= args.domain_id <= MAX_DOMAIN_ID,
               f'--domain-id must be 0..{MAX_DOMAIN_ID}, got {args.domain_id}')]
    for ok, message in checks:
        if not ok:
            raise ReplayError(message)


def replay(args: argparse.Namespace) -> Dict[str, Any]:
    """Run a replay as described by parsed ``args``; return the summary (also written)."""
    _check_args(args)
    params = node_params(args)
    bag = Path(args.bag).expanduser()
    if not bag.exists():
        raise FileNotFoundError(f'bag not found: {bag}')
    out = check_out(args.out, overwrite=args.overwrite, inputs=[bag])  # every tool's policy
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
    method = params.effective_scale_source()[0]
    label = replay_label(params.model, method, params.scale_checkpoint)
    if label:
        print(f'{PROG}: note: {label}', file=sys.stderr)
    collector = None
    if topics.depth is not None:
        protocol = ScoringProtocol.for_node(params.min_depth, params.max_depth, args.crop)
        collector = MetricsCollector(method, protocol, label)
    metrics_tmp = None
    if args.metrics_dir:
        mdir = check_out(args.metrics_dir, overwrite=True, option='--metrics-dir',
                         inputs=[bag, out])
        if mdir.exists() and not args.overwrite:
            raise FileExistsError(f'metrics directory {mdir} already exists; remove it or pass '
                                  '--overwrite')
    with OutputBagWriter(out, overwrite=args.overwrite) as writer:
        if args.mode == 'live':
            from adaptive_depth.replay.live import run_live as runner
        else:
            from adaptive_depth.replay.offline import run_offline as runner
        done = runner(args, params, bag, topics, index, writer, collector)
        if done == 0:
            raise ReplayError('no frame was processed; nothing written')
        if collector is not None and collector.pending:   # live: the node has no raw depth
            collector.score_pending(raw_depth_frames(
                bag, topics, index, params.processor_arguments(),
                [p.index for p in collector.pending]))
        meta = {'bag': str(bag), 'out': str(out), 'mode': args.mode, 'scale_source': method,
                'model': params.model, 'parameters': dict(vars(params)),
                'image_topic': topics.image, 'info_topic': topics.info,
                'depth_topic': topics.depth, 'every': args.every,
                'tolerance_s': args.tolerance, 'frames_selected': len(index),
                'frames_processed': done, 'output_topics': output_topics(args.namespace),
                'label': label}
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
    except (BagError, ReplayError, ParameterError, NodeExitedError, FileNotFoundError,
            FileExistsError, ValueError, OSError) as exc:
        print(f'{PROG}: error: {one_line(exc)}', file=sys.stderr)
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
