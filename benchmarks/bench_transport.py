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
Measure what Fast DDS transport settings do to the relay floor and to best-effort image loss.

For each setting (default Fast DDS, the shipped profile ``config/fastdds_large_images.xml``, ...)
one child process (Fast DDS reads its profile once per process) runs, against a bare relay
subprocess (``ros_bench.py relay``) under the same setting:

1. **floor**: 640×480 rgb8 images sent reliably, one at a time; the relay answers with the node's
   output sizes (depth 1.2 MB, camera_info, cloud 4.9 MB); stamp → receipt p50/p95 of ``points``
   and, without a ``points`` subscriber, of ``depth``;
2. **loss**: images published best effort at ``--rate`` Hz (a camera driver's QoS) to a
   best-effort subscriber (the node's default input QoS) that echoes each arrival; the share of
   images that never arrived.

Prints a table, writes ``transport.json`` and ``transport.png`` to ``--out``::

    python benchmarks/bench_transport.py --out transport_output
    python benchmarks/bench_transport.py --settings default,profile --seconds 20
    sudo python benchmarks/bench_transport.py --netns   # Jazzy's default discovery range, isolated

Exit codes: 0 done, 1 a setting failed to run, 2 bad argument.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ros_bench import (  # noqa: E402, I100
    pick_domain_id, Prober, PROFILE_ENV_VARS, relay_command, REPO_ROOT, ros_env, Subprocess)

PROFILE = REPO_ROOT / 'config' / 'fastdds_large_images.xml'
PUBLISHER_DEFAULT = 'ADAPTIVE_DEPTH_BENCH_PUBLISHER_DEFAULT'
# name → (profile file or None, extra environment)
SETTINGS: Dict[str, tuple] = {
    'default': (None, {}),
    'profile': (PROFILE, {}),
    'default_async': (None, {'RMW_FASTRTPS_PUBLICATION_MODE': 'ASYNCHRONOUS'}),
    'profile_async': (PROFILE, {'RMW_FASTRTPS_PUBLICATION_MODE': 'ASYNCHRONOUS'}),
    # Only the subscriber side (relay, i.e. the node) has the profile; the image publisher (a
    # camera driver) keeps the Fast DDS defaults: what setting the profile from our launch file
    # alone achieves.
    'profile_subscriber_only': (PROFILE, {PUBLISHER_DEFAULT: '1'}),
}


# A fresh network namespace holds only loopback: discovery multicast and data never leave it.
NETNS_PREFIX = ['unshare', '--net', 'sh', '-c',
                'ip link set lo up && ip link set lo multicast on && '
                'ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"']


def run_child(args: argparse.Namespace) -> Dict[str, object]:
    """Measure floor and loss under the environment this process was started with."""
    workdir = Path(tempfile.mkdtemp(prefix='adaptive_depth_transport_'))
    env = dict(os.environ)
    if os.environ.get(PUBLISHER_DEFAULT):
        # The relay keeps the profile; this process (the image publisher) runs on defaults.
        # Fast DDS reads the variables when the first participant is created, i.e. below.
        for name in PROFILE_ENV_VARS:
            os.environ.pop(name, None)
    result: Dict[str, object] = {}
    relay = Subprocess(relay_command(args.width, args.height, 'full', 'reliable'), env,
                       workdir / 'relay_full.log')
    prober = Prober(args.width, args.height, reliable_input=True, topics=('depth', 'points'))
    try:
        prober.wait_for_peer(relay, args.startup_timeout)
        prober.lockstep(args.warmup, ('depth', 'points'), desc='warm-up')
        pts = prober.lockstep(args.frames, ('depth', 'points'), desc='floor+points')
        prober.unsubscribe('points')
        time.sleep(1.0)
        dep = prober.lockstep(args.frames, ('depth',), desc='floor depth')
        from ros_bench import percentiles
        result['floor_points_ms'] = percentiles(pts['points'])
        result['floor_points_depth_ms'] = percentiles(pts['depth'])
        result['floor_depth_ms'] = percentiles(dep['depth'])
        result['floor_lost'] = int(pts['lost'][0] + dep['lost'][0])
    finally:
        prober.close()
        relay.stop()
    relay = Subprocess(relay_command(args.width, args.height, 'echo', 'best_effort'), env,
                       workdir / 'relay_echo.log')
    prober = Prober(args.width, args.height, reliable_input=False, topics=('scale',))
    try:
        prober.wait_for_peer(relay, args.startup_timeout, answer_topic='scale')
        time.sleep(0.5)
        result['best_effort'] = prober.stream(args.rate, int(args.rate * args.seconds), 'scale')
    finally:
        prober.close()
        relay.stop()
    return result


def plot(results: Dict[str, Dict], path: Path) -> None:
    """Bar charts: floor p50/p95 per setting, best-effort loss per setting."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = range(len(names))
    for off, key, label in ((-0.3, 'floor_points_ms', 'with cloud'),
                            (0.0, 'floor_depth_ms', 'depth only')):
        p50 = [results[n].get(key, {}).get('p50', float('nan')) for n in names]
        p95 = [results[n].get(key, {}).get('p95', float('nan')) for n in names]
        ax1.bar([i + off for i in x], p50, width=0.28, label=f'{label} p50')
        ax1.scatter([i + off for i in x], p95, marker='_', s=300, color='k')
    ax1.set_xticks(list(x), names, rotation=15)
    ax1.set_ylabel('relay floor latency (ms), bar p50, tick p95')
    ax1.legend()
    loss = [100 * results[n].get('best_effort', {}).get('loss', float('nan')) for n in names]
    ax2.bar(list(x), loss, color='tab:red')
    ax2.set_xticks(list(x), names, rotation=15)
    ax2.set_ylabel('best-effort images lost (%)')
    ax2.set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, run every setting in its own child process, report."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--settings', default='default,profile',
                        help=f'comma-separated, of {", ".join(SETTINGS)} (default: %(default)s)')
    parser.add_argument('--profile', type=Path, default=None,
                        help='another Fast DDS XML file to measure as setting "custom"')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--frames', type=int, default=60, help='lock-step frames per phase')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--rate', type=float, default=30.0, help='best-effort stream rate, Hz')
    parser.add_argument('--seconds', type=float, default=10.0, help='best-effort stream length')
    parser.add_argument('--startup-timeout', type=float, default=60.0)
    parser.add_argument('--netns', action='store_true',
                        help='run each setting in a private network namespace (loopback only, '
                        'needs root) with ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET, the Jazzy '
                        'default, where rmw_fastrtps adds no transports of its own')
    parser.add_argument('--out', type=Path, default=Path('transport_output'))
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print('RESULT ' + json.dumps(run_child(args)), flush=True)
        return 0

    settings = dict(SETTINGS)
    if args.profile is not None:
        if not args.profile.is_file():
            print(f'bench_transport: profile {args.profile} does not exist', file=sys.stderr)
            return 2
        settings['custom'] = (args.profile, {})
    names = [s.strip() for s in args.settings.split(',') if s.strip()]
    if args.profile is not None and 'custom' not in names:
        names.append('custom')
    unknown = [n for n in names if n not in settings]
    if unknown:
        print(f'bench_transport: unknown setting(s) {unknown}; known: {list(settings)}',
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results: Dict[str, Dict] = {}
    for name in names:
        profile, extra = settings[name]
        env = ros_env(pick_domain_id(), profile, extra=extra)
        if args.netns:
            env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'SUBNET'
        cmd = (NETNS_PREFIX if args.netns else []) + [
            sys.executable, str(Path(__file__).resolve()), '--child', name,
            '--width', str(args.width), '--height', str(args.height),
            '--frames', str(args.frames), '--warmup', str(args.warmup),
            '--rate', str(args.rate), '--seconds', str(args.seconds),
            '--startup-timeout', str(args.startup_timeout)]
        print(f'== {name}: profile {profile or "(none)"} {extra or ""}', flush=True)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
        if proc.returncode != 0 or not lines:
            print(f'bench_transport: setting {name} failed (exit {proc.returncode}):\n'
                  f'{proc.stdout[-3000:]}', file=sys.stderr)
            results[name] = {'error': f'exit {proc.returncode}'}
            continue
        results[name] = json.loads(lines[-1][len('RESULT '):])
        results[name]['profile'] = str(profile) if profile else None
        results[name]['env'] = extra

    print(f'\n{"setting":<16}{"floor+cloud p50/p95":>22}{"floor depth p50/p95":>22}'
          f'{"best-effort loss":>18}{"BE latency p50":>16}')
    for name, r in results.items():
        if 'error' in r:
            print(f'{name:<16} failed: {r["error"]}')
            continue
        fp, fd, be = r['floor_points_ms'], r['floor_depth_ms'], r['best_effort']
        print(f'{name:<16}{fp["p50"]:>12.1f} / {fp["p95"]:>6.1f} ms'
              f'{fd["p50"]:>12.1f} / {fd["p95"]:>6.1f} ms'
              f'{100 * be["loss"]:>9.1f} % of {be["sent"]:<5d}'
              f'{be["latency_ms"]["p50"]:>12.1f} ms')
    report = {'width': args.width, 'height': args.height, 'rate_hz': args.rate,
              'discovery_range': 'SUBNET (private netns)' if args.netns else 'LOCALHOST',
              'seconds': args.seconds, 'frames': args.frames, 'cpus': os.cpu_count(),
              'results': results}
    (args.out / 'transport.json').write_text(json.dumps(report, indent=2) + '\n')
    plot(results, args.out / 'transport.png')
    print(f'\nwrote {args.out / "transport.json"} and {args.out / "transport.png"}')
    return 0 if all('error' not in r for r in results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
