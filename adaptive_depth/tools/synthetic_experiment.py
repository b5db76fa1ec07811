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
The end-to-end synthetic acceptance experiment: generate_oracle → train_scale_net → evaluate.

Runs on a CPU in minutes, with the SIMULATED base model (no network weights needed)::

    python -m adaptive_depth.tools.synthetic_experiment --out runs/synthetic

1. ``generate_oracle --data synthetic:400 --simulated --no-filter`` (train scenes, seeds
   0..399) and ``generate_oracle --data synthetic:100:100000 --simulated --no-filter`` (test
   scenes, disjoint seeds);
2. ``train_scale_net`` on the train oracle: a 3-member ensemble with the auxiliary coarse-depth
   loss, roll / channel-shuffle augmentation and flip test-time averaging, run through its
   command-line entry point with the arguments the stage prints; the test scenes are never used
   for training or model selection (that uses the seeded 20 % hold-out of the training scenes);
3. ``evaluate`` on both splits (Tables I / II, scatter, Fig. 3 overlays).

It writes ``experiment.json`` (stage run times, gap closure, settings) and exits with status 3
when the learned scale closes less than ``--require-gap`` of the test AbsRel gap between no
scaling and the oracle (default 0.7).  A used ``--out`` needs ``--overwrite`` (every stage
starts again) or ``--reuse`` (oracle directories that exist are reused, the later stages are
replaced).
"""

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

from adaptive_depth.io_helpers import atomic_write_json
from adaptive_depth.tools.common import (check_device, check_out, count_arg, EXIT_CHECK_FAILED,
                                         EXIT_INTERRUPTED, EXIT_OK, tool_main, UserError)

PROG = 'synthetic_experiment'


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the synthetic experiment."""
    p = argparse.ArgumentParser(
        prog='synthetic_experiment',
        description='Run generate_oracle -> train_scale_net -> evaluate on procedural synthetic '
                    'scenes with the SIMULATED base model, and check that the learned scale '
                    'closes enough of the AbsRel gap between no scaling and the oracle.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', required=True, metavar='DIR',
                   help='experiment folder (oracle_train/, oracle_test/, scale_net/, eval/, '
                        'experiment.json)')
    p.add_argument('--train-scenes', type=int, default=400, help='training scenes (seeds 0..N-1)')
    p.add_argument('--test-scenes', type=int, default=100, help='test scenes')
    p.add_argument('--test-first-seed', type=int, default=100000,
                   help='first seed of the test scenes (disjoint from the training seeds)')
    p.add_argument('--size', default='240x320', metavar='HxW',
                   help='rendered scene size, height x width (the oracle keeps 240x320 '
                        'training copies anyway)')
    p.add_argument('--epochs', type=int, default=50, help='training epochs')
    p.add_argument('--batch-size', type=int, default=32, help='training batch size')
    p.add_argument('--lr', type=float, default=1e-3, help='initial learning rate')
    p.add_argument('--step-size', type=int, default=10, help='StepLR period (epochs)')
    p.add_argument('--input-size', default='96x128', metavar='HxW',
                   help='scale-network input size (smaller trains faster on a CPU)')
    p.add_argument('--channels', default='8,16,32,64,128,128', metavar='C1,...',
                   help='scale-network conv channels (six blocks give a receptive field that '
                        'covers the whole 96x128 input; four blocks only see ~31 px patches)')
    p.add_argument('--fc', default='64', metavar='H1,...', help='hidden fully connected sizes')
    p.add_argument('--rotate-deg', type=float, default=6.0,
                   help='augmentation: random in-plane rotation (camera roll) of up to this many '
                        'degrees; it keeps every depth, so the scale label stays valid')
    p.add_argument('--no-channel-shuffle', action='store_true',
                   help='augmentation: do not permute the RGB channels at random')
    p.add_argument('--members', type=int, default=3,
                   help='scale-network ensemble size (independently initialised copies whose '
                        'log-scales are averaged)')
    p.add_argument('--aux-depth-weight', type=float, default=3.0,
                   help='weight of the auxiliary coarse-depth loss (train_scale_net '
                        "--aux-depth-weight; 0: the paper's plain MSE on log s)")
    p.add_argument('--aux-depth-block', type=int, default=None,
                   help='conv block feeding the auxiliary depth head (default: second-to-last)')
    p.add_argument('--no-test-time-flip', action='store_true',
                   help='predict from the image alone, without averaging in its mirror image')
    p.add_argument('--seed', type=int, default=0, help='training seed')
    p.add_argument('--device', default='cpu', help='training / evaluation device')
    p.add_argument('--threads', type=count_arg, default=1,
                   help='torch CPU threads (1 is fastest on a shared 2-core machine; 0: torch '
                        'default)')
    p.add_argument('--require-gap', type=float, default=0.7,
                   help='minimum fraction of the test AbsRel gap the learned scale must close')
    p.add_argument('--overlay-samples', type=int, default=2,
                   help='Fig. 3 overlays rendered for this many test scenes')
    p.add_argument('--filter-percentiles', type=float, nargs=2, default=None,
                   metavar=('LOW', 'HIGH'),
                   help='train only on scenes whose s* lies within these percentiles (the '
                        "paper's optional 5 95 filter). Default: train on every scene; the "
                        'filter drops the extreme scales, which carry most of the AbsRel gap')
    p.add_argument('--oracle-arg', action='append', default=[], metavar='ARG',
                   help='extra argument passed to both generate_oracle runs, repeat for each '
                        'token, e.g. --oracle-arg=--sim-gamma --oracle-arg=1.5')
    again = p.add_mutually_exclusive_group()
    again.add_argument('--reuse', action='store_true',
                       help='reuse oracle directories that already exist in --out (the '
                            'training and evaluation stages are run again)')
    again.add_argument('--overwrite', action='store_true',
                       help='run every stage again in a used --out')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p


def _stage(name: str, fn: Callable[[List[str]], int], argv: List[str],
           timings: Dict[str, float]) -> None:
    print(f'\n=== {name}: {" ".join(argv)}', flush=True)
    t0 = time.perf_counter()
    rc = fn(argv)
    timings[name] = time.perf_counter() - t0
    if rc == EXIT_INTERRUPTED:
        raise KeyboardInterrupt
    if rc != 0:
        raise UserError(f'stage {name} failed with exit status {rc} (its message is above)')


@tool_main(PROG)
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the experiment; return 0 when the gap requirement is met, else 3 (docs/tools.md)."""
    args = build_parser().parse_args(argv)
    from adaptive_depth.tools import evaluate, generate_oracle, train_scale_net
    import torch

    if args.train_scenes < 10 or args.test_scenes < 1:
        raise UserError('need --train-scenes >= 10 and --test-scenes >= 1')
    # Check the network options with train_scale_net's own parsers now, before minutes of
    # oracle generation, rather than when its stage parses them.
    try:
        train_scale_net.parse_size(args.input_size)
        train_scale_net.parse_int_list(args.channels)
        train_scale_net.parse_int_list(args.fc)
    except argparse.ArgumentTypeError as exc:
        raise UserError(str(exc)) from None
    check_device(args.device)
    check_out(args.out, overwrite=args.overwrite, resume=args.reuse, resume_option='--reuse')
    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(int(args.threads))
    try:
        return _run(args, evaluate, generate_oracle, train_scale_net)
    finally:
        torch.set_num_threads(threads_before)


def _check_reusable(target: Path, settings: List[str]) -> None:
    """Refuse to reuse an oracle folder made with other ``generate_oracle`` settings."""
    try:
        command = json.loads((target / 'oracle.json').read_text(encoding='utf-8'))['command']
    except (OSError, ValueError, KeyError, TypeError):
        command = None
    if not isinstance(command, list):
        raise UserError(f'--reuse: {target} does not record how it was made; pass --overwrite')
    made: List[str] = []
    skip = False
    for arg in command[1:]:  # drop the program, --out DIR and the progress switch
        if skip or arg == '--no-progress':
            skip = False
            continue
        if arg == '--out':
            skip = True
            continue
        made.append(str(arg))
    if made != settings:
        raise UserError(f'--reuse: {target} was made with {" ".join(made)!r}, this run needs '
                        f'{" ".join(settings)!r}; pass --overwrite to make it again')


def _run(args: argparse.Namespace, evaluate, generate_oracle, train_scale_net) -> int:
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    again = ['--overwrite'] if args.overwrite or args.reuse else []
    timings: Dict[str, float] = {}
    quiet = ['--no-progress'] if args.quiet else []
    started = time.perf_counter()
    if args.filter_percentiles is None:
        filter_args = ['--no-filter']
    else:
        filter_args = ['--filter-percentiles'] + [f'{v:g}' for v in args.filter_percentiles]
    for split, spec in (('train', f'synthetic:{args.train_scenes}'),
                        ('test', f'synthetic:{args.test_scenes}:{args.test_first_seed}')):
        target = out / f'oracle_{split}'
        settings = ['--data', spec, '--synthetic-size', args.size, '--simulated'] + \
            filter_args + list(args.oracle_arg)
        if args.reuse and (target / 'oracle.csv').is_file():
            _check_reusable(target, settings)
            print(f'reusing {target}')
            continue
        _stage(f'generate_oracle_{split}', generate_oracle.main,
               settings + ['--out', str(target)] + again + quiet, timings)
    train_argv = ['--oracle', str(out / 'oracle_train'), '--out', str(out / 'scale_net'),
                  '--recipe', 'paper', '--epochs', str(args.epochs),
                  '--batch-size', str(args.batch_size),
                  '--lr', str(args.lr), '--step-size', str(args.step_size),
                  '--input-size', args.input_size, '--channels', args.channels,
                  '--fc', args.fc, '--seed', str(args.seed), '--device', args.device,
                  '--members', str(args.members), '--rotate-deg', str(args.rotate_deg),
                  '--aux-depth-weight', str(args.aux_depth_weight)] + again
    if args.aux_depth_block is not None:
        train_argv += ['--aux-depth-block', str(args.aux_depth_block)]
    if not args.no_channel_shuffle:
        train_argv.append('--channel-shuffle')
    if not args.no_test_time_flip:
        train_argv.append('--test-time-flip')
    if args.quiet:
        train_argv.append('--quiet')
    _stage('train_scale_net', train_scale_net.main, train_argv, timings)
    _stage('evaluate', evaluate.main,
           ['--checkpoint', str(out / 'scale_net' / 'best'),
            '--split', f'train={out / "oracle_train"}', '--split',
            f'test={out / "oracle_test"}', '--out', str(out / 'eval'), '--device',
            args.device, '--overlay-samples', str(args.overlay_samples)] + again
           + (['--quiet'] if args.quiet else []), timings)
    total = time.perf_counter() - started
    table2 = json.loads((out / 'eval' / 'table2.json').read_text())
    gap = table2['splits']['test']['gap_closure']
    summary = {'gap_closure_test': gap,
               'gap_closure_train': table2['splits'].get('train', {}).get('gap_closure'),
               'train_mean_gap_closure_test': table2['splits']['test'].get(
                   'train_mean_gap_closure'),
               'require_gap': args.require_gap, 'passed': gap is not None and
               gap >= args.require_gap, 'seconds': timings, 'total_seconds': total,
               'settings': vars(args), 'simulated_base_model': True}
    atomic_write_json(out / 'experiment.json', summary)
    print('\nstage times [s]: ' + ', '.join(f'{k} {v:.1f}' for k, v in timings.items())
          + f'; total {total:.1f}')
    gap_text = 'undefined' if gap is None else f'{100 * gap:.1f} %'
    base = summary['train_mean_gap_closure_test']
    print(f'test AbsRel gap closed by the learned scale: {gap_text} '
          f'(required {100 * args.require_gap:.0f} %; the training-mean scale, one constant: '
          f'{"undefined" if base is None else f"{100 * base:.1f} %"}) — SIMULATED base model')
    return EXIT_OK if summary['passed'] else EXIT_CHECK_FAILED


if __name__ == '__main__':
    sys.exit(main())
