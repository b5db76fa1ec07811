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
``train_scale_net``: train the scale network on an oracle directory (Algorithm 2).

Example::

    adaptive_depth_train_scale_net --oracle runs/nyu_train_oracle --out runs/scale_net --epochs 50

Writes ``best/`` and ``last/`` checkpoints (``model.safetensors`` + ``config.json``), periodic
``checkpoints/epoch_NNNN/``, ``history.json``, ``split.json`` and ``loss_curve.png``.
"""

import argparse
from pathlib import Path
import sys
from typing import List, Optional, Sequence, Tuple

from adaptive_depth.tools.common import check_out, clear_dir, Interrupted, tool_main

PROG = 'train_scale_net'


def parse_size(text: str) -> Tuple[int, int]:
    """Parse a network input size 'N' or 'HxW' (pixels, sides >= 16) for argparse."""
    parts = text.lower().replace('x', ',').split(',')
    try:
        values = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'bad size {text!r}: use N (square) or HxW, e.g. 224 or 128x160') from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 16:
        raise argparse.ArgumentTypeError(f'bad size {text!r}: need N or HxW with sides >= 16')
    return values


def parse_int_list(text: str) -> Tuple[int, ...]:
    """Parse comma-separated positive integers (e.g. conv channels) for argparse."""
    try:
        values = tuple(int(p) for p in text.split(',') if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'bad list {text!r}: use comma-separated integers, e.g. 32,64,128') from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f'bad list {text!r}: need positive integers')
    return values


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``train_scale_net``."""
    p = argparse.ArgumentParser(
        prog='train_scale_net',
        description='Train the scale network (image -> log s) on an oracle directory written by '
                    'generate_oracle: MSE on log s, Adam, gradient clipping, StepLR, seeded '
                    'hold-out validation, best/last checkpoints (paper Algorithm 2).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--oracle', required=True, metavar='DIR',
                   help='oracle directory (oracle.csv, oracle.json, images.npy) from '
                        'generate_oracle; only rows with kept=1 are used')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='output directory for checkpoints (best/, last/, checkpoints/), '
                        'history.json, split.json and loss_curve.png')
    p.add_argument('--epochs', type=int, default=50, help='number of training epochs')
    p.add_argument('--batch-size', type=int, default=32, help='images per optimisation step')
    p.add_argument('--lr', type=float, default=1e-3, help='initial Adam learning rate')
    p.add_argument('--weight-decay', type=float, default=0.0, help='Adam weight decay (L2)')
    p.add_argument('--grad-clip', type=float, default=1.0,
                   help='maximum global gradient norm; 0 disables clipping')
    p.add_argument('--step-size', type=int, default=10,
                   help='StepLR period: multiply the learning rate by --gamma every this many '
                        'epochs')
    p.add_argument('--gamma', type=float, default=0.5, help='StepLR decay factor')
    p.add_argument('--val-fraction', type=float, default=0.2,
                   help='fraction of the kept samples held out for validation (seeded split)')
    p.add_argument('--val-every', type=int, default=5,
                   help='validate every N epochs (and at the last epoch)')
    p.add_argument('--checkpoint-every', type=int, default=10,
                   help='keep a checkpoint copy every N epochs in checkpoints/ (0: never)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the split, initial weights, batch order and augmentation '
                        '(same seed -> same losses)')
    p.add_argument('--device', default='auto',
                   help="'auto' (CUDA if available), 'cpu', 'cuda' or 'cuda:N'")
    again = p.add_mutually_exclusive_group()
    again.add_argument('--resume', action='store_true',
                       help='continue the run in --out from last/training_state.pt up to '
                            '--epochs (same oracle, seed and network options required)')
    again.add_argument('--overwrite', action='store_true',
                       help='delete what a used --out holds and train from scratch')
    p.add_argument('--input-size', type=parse_size, default=(224, 224), metavar='N|HxW',
                   help='network input size in pixels (height x width); e.g. 128x160 is faster')
    p.add_argument('--channels', type=parse_int_list, default=None, metavar='C1,C2,...',
                   help='conv block channels (default: ScaleNetConfig default 32,64,128,256)')
    p.add_argument('--fc', type=parse_int_list, default=None, metavar='H1,...',
                   help='hidden fully connected sizes (default: ScaleNetConfig default 128)')
    p.add_argument('--dropout', type=float, default=None,
                   help='dropout before the fully connected layers (default: ScaleNetConfig '
                        'default 0.2)')
    p.add_argument('--no-flip', action='store_true',
                   help='disable random horizontal flips (scale-preserving augmentation)')
    p.add_argument('--color-jitter', type=float, default=0.1,
                   help='maximum relative brightness/contrast jitter (0 disables); no crops or '
                        'zoom are ever used because they change the apparent scale')
    p.add_argument('--rotate-deg', type=float, default=0.0,
                   help='random camera roll of up to ± this many degrees (scale-preserving '
                        'augmentation; 0 disables)')
    p.add_argument('--channel-shuffle', action='store_true',
                   help='randomly permute the RGB channels of training images (colour carries '
                        'no scale)')
    p.add_argument('--members', type=int, default=None,
                   help='train a deep ensemble of this many independently initialised networks '
                        'whose log-scales are averaged (default 1)')
    p.add_argument('--aux-depth-weight', type=float, default=0.0,
                   help='weight of the auxiliary coarse-depth loss: a training-only head '
                        "regresses the oracle directory's ground-truth log depth "
                        '(depth_grid.npy), which teaches the network metric scene size from '
                        "far more than one number per image. 0 is the paper's plain MSE on "
                        'log s; 3 closes more of the gap on the synthetic benchmark '
                        '(docs/scale_net.md)')
    p.add_argument('--aux-depth-block', type=int, default=None,
                   help='conv block (1-based) whose output feeds the auxiliary depth head '
                        '(default: the second-to-last block)')
    p.add_argument('--test-time-flip', action='store_true',
                   help='store in the checkpoint that inference averages the log-scales of the '
                        'image and its mirror image (2x scale-network cost, less variance)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch default)')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p


@tool_main(PROG)
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; return the exit code (docs/tools.md: 0 ok, 2 user error, 130)."""
    args = build_parser().parse_args(argv)
    from adaptive_depth.oracle_dataset import read_oracle_dir
    from adaptive_depth.training import train_scale_net, TrainConfig
    import torch

    if args.threads:
        torch.set_num_threads(int(args.threads))
    net_options = {}
    if args.channels is not None:
        net_options['channels'] = args.channels
    if args.fc is not None:
        net_options['fc'] = args.fc
    if args.dropout is not None:
        net_options['dropout'] = args.dropout
    if args.members is not None:
        net_options['members'] = args.members
    if args.aux_depth_block is not None:
        net_options['aux_depth_block'] = args.aux_depth_block
    if args.test_time_flip:
        net_options['test_time_flip'] = True
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      weight_decay=args.weight_decay, grad_clip=args.grad_clip,
                      step_size=args.step_size, gamma=args.gamma,
                      val_fraction=args.val_fraction, val_every=args.val_every,
                      checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
                      augment_flip=not args.no_flip, color_jitter=args.color_jitter,
                      rotate_deg=args.rotate_deg, channel_shuffle=args.channel_shuffle,
                      aux_depth_weight=args.aux_depth_weight, input_size=args.input_size,
                      net_options=net_options)
    cfg.validate()
    oracle = read_oracle_dir(args.oracle)
    out = check_out(args.out, overwrite=args.overwrite, resume=args.resume)
    if oracle.simulated and not args.quiet:
        print(f'note: {args.oracle} was made with the SIMULATED base model '
              f'({oracle.base_model_name})', file=sys.stderr)
    if args.overwrite:
        clear_dir(out)
    try:
        result = train_scale_net(oracle, cfg, out, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_message(out)) from None
    lines: List[str] = [
        f'trained {len(result.history)} epoch(s) on {len(result.train_names)} samples '
        f'({len(result.val_names)} held out) in {result.seconds:.1f} s',
        f'best epoch {result.best_epoch}: loss {result.best_val_loss:.5f} -> {result.best_dir}',
        f'last checkpoint -> {result.last_dir}',
    ]
    print('\n'.join(lines))
    return 0


def _interrupted_message(out: Path) -> str:
    from adaptive_depth.training import STATE_FILE

    state = out / 'last' / STATE_FILE
    if state.is_file():
        return f'interrupted; continue with --resume (from {state})'
    return ('interrupted before the first epoch was saved: nothing can be resumed; train again '
            'with --overwrite')


if __name__ == '__main__':
    sys.exit(main())
