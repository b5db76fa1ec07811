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
Long fuzz run of ``adaptive_depth_node``: ≥ 1,000 malformed messages mixed with valid frames.

Starts a raw-input and a compressed-input node (tiny random-weight DA2, reliable input QoS) on a
private localhost ROS domain and drives them with ``test/node_fuzz.py``'s :class:`FuzzSession`
(the same catalogue of 40+ malformed Image / CompressedImage / CameraInfo kinds the test suite
uses): bursts of malformed messages, each followed by one valid frame per node whose outputs are
checked (REP 117/118, no inf, headers, cloud layout). Reports node RSS growth (goal ≤ 50 MiB),
the stall metric (how much longer a valid frame took than a clean one, end to end and on the node
side from receipt to publishing as the diagnostics measure it; goal ≤ one normal frame time), the
diagnostics counters and the exit codes; writes ``fuzz_node.json`` and
``fuzz_node.png`` (RSS over time, per-frame latency) to ``--out``. Example::

    python benchmarks/fuzz_node.py --messages 1000 --out fuzz_out
"""

import argparse
import json
import os
from pathlib import Path
import signal
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import numpy as np
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / 'test'))

from node_fuzz import FuzzSession, MAX_INPUT_PIXELS, start_fuzz_nodes  # noqa: E402,I100
from node_harness import diagnostic_values, RosTester  # noqa: E402,I100

COUNTERS = ('received', 'processed', 'dropped', 'idle', 'bad_images', 'rejected_images',
            'bad_camera_info', 'inference_errors')


def read_rss_mib(pid: int) -> Optional[float]:
    """Return the resident set size of ``pid`` in MiB (VmRSS), or None if it is gone."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _diag(tester: Any, ns: str) -> Optional[Dict[str, Any]]:
    for msg in reversed(tester.messages('/diagnostics')):
        values = diagnostic_values(msg, f'{ns}/adaptive_depth_node:')
        if values is not None:
            return values
    return None


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Run the fuzz session and return the report."""
    from adaptive_depth.testing import make_untrained_depth_anything

    workdir = Path(tempfile.mkdtemp(prefix='adaptive_depth_fuzz_'))
    model = args.model or str(make_untrained_depth_anything(workdir / 'da2', size='tiny'))
    expected, max_depth, nodes, domain_id = start_fuzz_nodes(model, args.input_size, 0.5,
                                                             workdir)
    tester = RosTester(domain_id, name='adaptive_depth_fuzz')
    rss: List[List[float]] = []   # [t, raw MiB, compressed MiB]
    labels: List[str] = []
    try:
        from diagnostic_msgs.msg import DiagnosticArray
        tester.subscribe(DiagnosticArray, '/diagnostics')
        fuzz = FuzzSession(tester, '/fz', '/fzc', max_depth, expected, seed=args.seed)
        fuzz.wait_ready(nodes)
        fuzz.send_valid(timeout=60, node=nodes[0])   # warm-up
        fuzz.latencies = {'raw': [], 'compressed': []}
        t_baseline = time.monotonic()
        for _ in range(args.baseline):
            fuzz.send_valid(baseline=True, node=nodes[0])
        rng = np.random.default_rng(args.seed)
        time.sleep(0.6)   # the baseline's diagnostics window closes
        t_start = time.monotonic()
        rss.append([0.0] + [read_rss_mib(n.proc.pid) for n in nodes])
        with tqdm(total=args.messages, unit='msg', desc='fuzz') as bar:
            while len(labels) < args.messages:
                burst = fuzz.cycle(int(rng.integers(5, 16)), node=nodes[0])
                labels += burst
                bar.update(len(burst))
                rss.append([time.monotonic() - t_start] +
                           [read_rss_mib(n.proc.pid) for n in nodes])
                for node in nodes:
                    if node.proc.poll() is not None:
                        raise RuntimeError(f'a node died:\n{node.log()}')
        time.sleep(1.2)   # one more diagnostics period
        counters = {}
        for ns in ('/fz', '/fzc'):
            values = _diag(tester, ns) or {}
            counters[ns] = {key: int(values.get(f'{key}_total', -1)) for key in COUNTERS}
        stall = fuzz.stall_report()
        for kind in ('raw', 'compressed'):
            stall[kind]['node_side_baseline_max_ms'] = fuzz.node_latency_max_ms(
                kind, t_baseline, t_start - 0.1)
            stall[kind]['node_side_fuzzed_max_ms'] = fuzz.node_latency_max_ms(kind, t_start)
        slowest = [{'latency_s': r[0], 'node': r[1], 'shape': r[2], 'burst_before': r[3]}
                   for r in fuzz.slowest(5)]
        valid_frames, clouds = fuzz.valid_frames, fuzz.checked_clouds
        latencies = {kind: list(fuzz.latencies[kind]) for kind in ('raw', 'compressed')}
        sent = dict(fuzz.sent)
    finally:
        tester.close()
        for node in nodes:
            node.send_signal(signal.SIGTERM)
        codes = [node.stop() for node in nodes]
    logs = [node.log() for node in nodes]
    arr = np.asarray(rss, dtype=float)
    report = {
        'malformed_messages': len(labels), 'malformed_kinds': len(set(labels)),
        'messages_sent': sent, 'valid_frames_per_node': valid_frames,
        'valid_outputs_checked': clouds, 'duration_s': float(arr[-1, 0]),
        'rss_mib_start': {'raw': arr[0, 1], 'compressed': arr[0, 2]},
        'rss_mib_end': {'raw': arr[-1, 1], 'compressed': arr[-1, 2]},
        'rss_growth_mib': {'raw': arr[-1, 1] - arr[0, 1], 'compressed': arr[-1, 2] - arr[0, 2]},
        'rss_peak_mib': {'raw': float(arr[:, 1].max()), 'compressed': float(arr[:, 2].max())},
        'stall': stall, 'slowest_valid_frames': slowest, 'counters': counters,
        'exit_codes': codes,
        'warn_lines': [log.count('[WARN]') for log in logs],
        'error_lines': [log.count('[ERROR]') for log in logs],
        'terminate_called': any('terminate called' in log for log in logs),
        'input_size': args.input_size, 'max_input_pixels': MAX_INPUT_PIXELS,
        'fastdds_profile': os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE'),
        'node_logs': [str(workdir / 'raw.log'), str(workdir / 'cmp.log')],
    }
    if args.out:
        _plot(arr, latencies, Path(args.out) / 'fuzz_node.png')
    return report


def _plot(rss: np.ndarray, latencies: Dict[str, List[float]], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(rss[:, 0], rss[:, 1] - rss[0, 1], label='raw node')
    a.plot(rss[:, 0], rss[:, 2] - rss[0, 2], label='compressed node')
    a.axhline(50, color='r', ls='--', lw=1, label='goal: 50 MiB')
    a.set(xlabel='time since fuzzing started (s)', ylabel='RSS growth (MiB)',
          title='Node memory during the fuzz run')
    a.legend()
    for kind, values in latencies.items():
        b.plot(np.asarray(values) * 1e3, '.', label=f'{kind} node')
    b.set(xlabel='valid frame #', ylabel='publish → all outputs received (ms)',
          title='Latency of valid frames between malformed bursts', yscale='log')
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run the fuzz session and print (and save) the report."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--messages', type=int, default=1000,
                        help='number of malformed messages (default 1000)')
    parser.add_argument('--baseline', type=int, default=10,
                        help='clean valid frames measured before fuzzing (default 10)')
    parser.add_argument('--input-size', type=int, default=70, help='DA2 input size (default 70)')
    parser.add_argument('--model', default=None, help='DA2 model dir (default: tiny random)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='fuzz_out', help="output folder ('' = no files)")
    parser.add_argument('--fastdds-profile', choices=('on', 'off'), default='on',
                        help='use config/fastdds_large_images.xml in this process and the '
                        'nodes (default on)')
    args = parser.parse_args(argv)
    if args.messages < 1 or args.baseline < 1:
        parser.error('--messages and --baseline must be >= 1')
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    if args.fastdds_profile == 'on':
        # Before any participant exists; the nodes inherit it. Without it this process (the
        # writer of the bursts) overflows Fast DDS's 512 KiB SHM segment and a reliable reader
        # waits for the next heartbeat (up to 3 s): docs/node.md, "Transport and performance".
        profile = str(REPO_ROOT / 'config' / 'fastdds_large_images.xml')
        os.environ['FASTRTPS_DEFAULT_PROFILES_FILE'] = profile
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
    report = run(args)
    text = json.dumps(report, indent=2, default=float)
    print(text)
    if args.out:
        (Path(args.out) / 'fuzz_node.json').write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
