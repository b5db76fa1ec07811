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
Measure the node's own cost per frame: node − model − transport floor, in one run.

1. **model**: ``FrameProcessor.process`` (upload, DA2 forward, scale, masking; no cloud) on
   one 640×480 frame in this process, same model, device and thread count as the node;
2. **floor**: a bare rclpy relay (``ros_bench.py relay``) that answers each image with prebuilt
   messages of the node's output sizes (32FC1 depth, camera_info, 16-byte-per-pixel cloud);
3. **node**: ``adaptive_depth_node`` started as users start it (its console script, a real ROS
   graph on localhost with its own ``ROS_DOMAIN_ID``), input QoS reliable so no frame is lost.

Floor (in namespace ``/floor``) and node run side by side and are driven identically, one frame in
flight at a time, node frame, floor frame and model run interleaved so all three see the same
machine load: latency is header stamp → receipt of ``points`` (with a ``points`` subscriber) and
of ``depth`` (without one: the node then builds no cloud). Own overhead = node p50 − model p50 −
floor p50 (the per-frame difference is reported too). The node is only seen through
its topics, so this works whatever its internals are. Prints a table, writes ``bench_node.json``
and ``bench_node.png`` (latency CDFs) to ``--out``::

    python benchmarks/bench_node.py                       # tiny untrained DA2, CPU
    python benchmarks/bench_node.py --model-size small --device cuda
    python benchmarks/bench_node.py --fastdds-profile none   # Fast DDS defaults

Exit codes: 0 done, 1 the node exited with an error or frames got no answer, 2 bad argument,
3 rclpy not importable.
"""

import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ros_bench import (  # noqa: E402, I100
    percentiles, pick_domain_id, Prober, PROFILE_ENV_VARS, relay_command, REPO_ROOT, ros_env,
    Subprocess)

from adaptive_depth.ros.node_process import NodeProcess  # noqa: E402, I100

import numpy as np  # noqa: E402, I100

CONFIG_FILE = REPO_ROOT / 'config' / 'adaptive_depth.yaml'
DEFAULT_PROFILE = REPO_ROOT / 'config' / 'fastdds_large_images.xml'
DIAGNOSTICS_PERIOD_S = 1.0
"""The node's diagnostics window during the benchmark (its per-stage means cover one window)."""


class ModelTimer:
    """The model alone: ``FrameProcessor.process`` without a cloud, in this process."""

    def __init__(self, model: str, device: str, input_size: int, threads: int, width: int,
                 height: int) -> None:
        import torch
        from adaptive_depth.frame_processor import FrameProcessor
        from ros_bench import synthetic_frames

        torch.set_num_threads(threads)
        self.pipe = FrameProcessor.from_paths(model, scale_source='fixed', fixed_scale=0.8,
                                              device=device, input_size=input_size)
        self.rgb = synthetic_frames(width, height, 1)[0]

    def once(self) -> Tuple[float, float]:
        """Run one frame; return (total ms, DA2 forward ms)."""
        t0 = time.perf_counter()
        result = self.pipe.process(self.rgb, compute_points=False)
        return (time.perf_counter() - t0) * 1e3, float(result.timings['depth_forward'])


class NodeStages:
    """
    The node's own per-stage timings: the ``latency_*_ms_mean`` values of its /diagnostics.

    Subscribes on the prober's node; :meth:`take` returns the stage means (ms) of the latest
    diagnostics window (the node publishes one every ``diagnostics_period`` seconds).
    """

    def __init__(self, prober: Prober) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self._latest: Dict[str, float] = {}
        prober.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if 'adaptive_depth_node' not in status.name:
                continue
            stages = {kv.key[len('latency_'):-len('_ms_mean')]: float(kv.value)
                      for kv in status.values
                      if kv.key.startswith('latency_') and kv.key.endswith('_ms_mean')}
            if stages:
                self._latest = stages

    def take(self, wait: float) -> Dict[str, float]:
        """Wait ``wait`` seconds (one diagnostics window), return the latest stage means (ms)."""
        time.sleep(wait)
        return dict(self._latest)


def measure(node_prober: Prober, floor_prober: Prober, model: ModelTimer, frames: int,
            warmup: int, timeout: float,
            stages: Optional[NodeStages] = None) -> Dict[str, List[float]]:
    """
    Interleave node frame, floor frame and model run, ``frames`` times per phase.

    Phase 1 waits for ``depth`` and ``points``; phase 2 drops both ``points`` subscriptions
    (node and relay then build no cloud) and waits for ``depth``. Interleaving makes the three
    see the same machine load; the per-frame difference node − floor − model is kept too.
    """
    from tqdm import tqdm
    out: Dict[str, List[float]] = {}
    lost = {'node': 0, 'floor': 0}
    for phase, topics in (('points', ('depth', 'points')), ('depth', ('depth',))):
        if phase == 'depth':
            node_prober.unsubscribe('points')
            floor_prober.unsubscribe('points')
            time.sleep(1.0)  # let node and relay see that nobody subscribes to points
        for i in tqdm(range(warmup + frames), desc=f'{phase} phase', leave=False):
            n = node_prober.one_frame(topics, timeout)
            f = floor_prober.one_frame(topics, timeout)
            m_total, m_forward = model.once()
            if i < warmup:
                continue
            lost['node'] += n is None
            lost['floor'] += f is None
            if n is None or f is None:
                continue
            out.setdefault(f'node_{phase}', []).append(n[phase])
            out.setdefault(f'floor_{phase}', []).append(f[phase])
            out.setdefault(f'model_{phase}', []).append(m_total)
            out.setdefault('model_forward', []).append(m_forward)
            out.setdefault(f'paired_overhead_{phase}', []).append(n[phase] - f[phase] - m_total)
            if phase == 'points':
                out.setdefault('node_depth_with_points', []).append(n['depth'])
        if stages is not None:
            out[f'stages_{phase}'] = stages.take(DIAGNOSTICS_PERIOD_S * 0.6)
    out['lost_node'] = [lost['node']]
    out['lost_floor'] = [lost['floor']]
    return out


def plot(samples: Dict[str, List[float]], path: Path, title: str) -> None:
    """Latency CDFs (ms) of every sample set on one axis, log x."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in samples.items():
        if not values:
            continue
        v = np.sort(np.asarray(values))
        ax.step(v, np.arange(1, v.size + 1) / v.size, where='post',
                label=f'{label} (p50 {np.median(v):.1f} ms)')
    ax.set_xscale('log')
    ax.set_xlabel('latency (ms): header stamp → receipt; model: process() time')
    ax.set_ylabel('fraction of frames')
    ax.set_title(title, fontsize=9)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> Dict[str, object]:
    """Start relay and node, run the interleaved measurement; return the report."""
    workdir = Path(tempfile.mkdtemp(prefix='adaptive_depth_bench_node_'))
    model = args.model
    if model is None:
        from adaptive_depth.testing import make_untrained_depth_anything
        model = str(make_untrained_depth_anything(workdir / 'da2', size=args.model_size))
    print(f'model: {args.model or f"untrained {args.model_size} DA2"}; device {args.device}; '
          f'{args.width}x{args.height}; {args.threads} thread(s); profile '
          f'{args.fastdds_profile or "(Fast DDS default)"}', flush=True)
    timer = ModelTimer(model, args.device, args.input_size, args.threads, args.width,
                       args.height)

    env = ros_env(pick_domain_id(), args.fastdds_profile, threads=args.threads)
    for name in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', *PROFILE_ENV_VARS):
        if name in env:
            os.environ[name] = env[name]
        else:
            os.environ.pop(name, None)
    params = {'model': model, 'device': args.device, 'scale_source': 'fixed',
              'fixed_scale': 0.8, 'input_size': args.input_size, 'publish_points': True,
              'point_decimation': 1, 'input_qos_reliability': 'reliable',
              'diagnostics_period': DIAGNOSTICS_PERIOD_S}
    relay = Subprocess(relay_command(args.width, args.height, 'full', 'reliable', 'floor'),
                       env, workdir / 'relay.log')
    node = NodeProcess(params, int(env['ROS_DOMAIN_ID']), workdir / 'node.log',
                       params_file=CONFIG_FILE, env=env, cwd=REPO_ROOT)
    node_prober = Prober(args.width, args.height, reliable_input=True,
                         topics=('depth', 'points'))
    floor_prober = Prober(args.width, args.height, reliable_input=True,
                          topics=('depth', 'points'), namespace='floor')
    try:
        floor_prober.wait_for_peer(relay, args.startup_timeout)
        node_prober.wait_for_peer(node, args.startup_timeout)
        time.sleep(0.5)
        stages = NodeStages(node_prober)
        s = measure(node_prober, floor_prober, timer, args.frames, args.warmup, args.timeout,
                    stages)
    finally:
        node_prober.close()
        floor_prober.close()
        relay.stop()
        node_exit = node.stop()
    report: Dict[str, object] = {
        'image': f'{args.width}x{args.height}', 'input_size': args.input_size,
        'model': args.model or f'untrained {args.model_size} DA2',
        'model_parameters_m': timer.pipe.depth_model.num_parameters / 1e6,
        'device': str(timer.pipe.device), 'precision': timer.pipe.depth_model.precision,
        'threads': args.threads,
        'fastdds_profile': str(args.fastdds_profile) if args.fastdds_profile else None,
        'frames_per_phase': args.frames,
        'lost_frames': {'floor': int(s['lost_floor'][0]), 'node': int(s['lost_node'][0])},
        'node_exit_code': node_exit, 'workdir': str(workdir),
    }
    for key in ('model_points', 'model_depth', 'model_forward', 'floor_points', 'floor_depth',
                'node_points', 'node_depth', 'node_depth_with_points', 'paired_overhead_points',
                'paired_overhead_depth'):
        report[f'{key}_ms'] = percentiles(s.get(key, []))
    for kind in ('points', 'depth'):
        p50 = {part: report[f'{part}_{kind}_ms']['p50'] for part in ('node', 'model', 'floor')}
        report[f'overhead_{kind}_p50_ms'] = p50['node'] - p50['model'] - p50['floor']
    report['node_stages_ms'] = {kind: s.get(f'stages_{kind}', {}) for kind in ('points', 'depth')}
    report['samples_ms'] = {k: v for k, v in s.items()
                            if not k.startswith(('lost', 'stages'))}
    return report


def print_report(r: Dict[str, object]) -> None:
    """Print the table of p50/p95 and the overhead line."""
    print(f'\n{r["image"]}, {r["model"]} ({r["model_parameters_m"]:.1f} M params), '
          f'{r["device"]} {r["precision"]}, {r["threads"]} thread(s), '
          f'{r["frames_per_phase"]} frames per phase, profile {r["fastdds_profile"] or "default"}')
    print(f'{"":<34}{"p50 ms":>10}{"p95 ms":>10}')
    rows = (('model alone (process, no cloud)', 'model_points_ms'),
            ('  of which DA2 forward', 'model_forward_ms'),
            ('floor: relay, with cloud', 'floor_points_ms'),
            ('floor: relay, depth only', 'floor_depth_ms'),
            ('node: stamp -> points', 'node_points_ms'),
            ('node: stamp -> depth (no cloud)', 'node_depth_ms'))
    for label, key in rows:
        print(f'{label:<34}{r[key]["p50"]:>10.2f}{r[key]["p95"]:>10.2f}')
    for kind, label in (('points', 'with cloud'), ('depth', 'depth only')):
        print(f'node own overhead, {label:<10}: {r[f"overhead_{kind}_p50_ms"]:6.1f} ms '
              f'(p50 node - p50 model - p50 floor); per-frame node - floor - model: p50 '
              f'{r[f"paired_overhead_{kind}_ms"]["p50"]:.1f} ms')
    print('goal with cloud: <= 3 ms')
    for kind, label in (('points', 'with cloud'), ('depth', 'depth only')):
        st = r['node_stages_ms'].get(kind) or {}
        keys = ('decode', 'processor_postprocess', 'processor_cloud', 'processor_download',
                'publish', 'node_overhead')
        if st:
            print(f'node stages ({label}, means of its last diagnostics window, ms): ' +
                  ', '.join(f'{k} {st[k]:.2f}' for k in keys if k in st))
    lost = r['lost_frames']
    if lost['floor'] or lost['node']:
        print(f'frames without an answer: floor {lost["floor"]}, node {lost["node"]}')


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run, print and save; exit 0, or 1 when a measurement failed."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=None,
                        help='DA2 checkpoint dir (default: an untrained model of --model-size)')
    parser.add_argument('--model-size', choices=('tiny', 'small'), default='tiny')
    parser.add_argument('--device', default='cpu', help='cpu | cuda[:N] (default cpu)')
    parser.add_argument('--input-size', type=int, default=None,
                        help='DA2 network short side (default 518 on CUDA, 140 on CPU: the '
                        "node's own cost does not depend on it, and a cheap forward keeps the "
                        "model's timing noise out of the difference)")
    parser.add_argument('--threads', type=int, default=1,
                        help='torch/OMP threads of the model run and of the node (default 1)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--frames', type=int, default=40, help='measured frames per phase')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--timeout', type=float, default=30.0, help='per-frame answer timeout')
    parser.add_argument('--startup-timeout', type=float, default=180.0)
    parser.add_argument('--fastdds-profile', default=str(DEFAULT_PROFILE),
                        help='Fast DDS XML profile for every process, or "none" for the Fast '
                        'DDS defaults (default: config/fastdds_large_images.xml; with the '
                        'defaults the floor itself varies by tens of ms on a loaded machine)')
    parser.add_argument('--out', type=Path, default=Path('bench_node_output'))
    args = parser.parse_args(argv)
    if args.input_size is None:
        args.input_size = 518 if args.device.startswith('cuda') else 140
    args.fastdds_profile = None if args.fastdds_profile.lower() == 'none' else \
        Path(args.fastdds_profile)
    if args.fastdds_profile is not None and not args.fastdds_profile.is_file():
        print(f'bench_node: --fastdds-profile {args.fastdds_profile} does not exist',
              file=sys.stderr)
        return 2
    if args.model is not None and not Path(args.model).expanduser().is_dir():
        print(f'bench_node: --model {args.model} is not a directory', file=sys.stderr)
        return 2
    try:
        import rclpy  # noqa: F401
    except ImportError:
        print('bench_node: rclpy is not importable here; the node benchmark needs ROS 2 '
              '(run scripts/setup.sh and use .venv/bin/python)', file=sys.stderr)
        return 3
    report = run(args)
    print_report(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'bench_node.json').write_text(json.dumps(report, indent=2) + '\n')
    samples = report['samples_ms']
    plot({'model alone': samples['model_points'], 'floor, with cloud': samples['floor_points'],
          'node, with cloud': samples['node_points'], 'floor, depth only': samples['floor_depth'],
          'node, depth only': samples['node_depth']}, args.out / 'bench_node.png',
         f'{report["image"]}, {report["model"]}, {report["device"]}: '
         f'own overhead {report["overhead_points_p50_ms"]:.1f} ms (cloud), '
         f'{report["overhead_depth_p50_ms"]:.1f} ms (depth)')
    print(f'wrote {args.out / "bench_node.json"} and {args.out / "bench_node.png"}')
    ok = report['node_exit_code'] == 0 and not any(report['lost_frames'].values())
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
