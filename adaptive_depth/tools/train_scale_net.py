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

    adaptive_depth_train_scale_net --oracle runs/nyu_train_oracle --out runs/scale_net
    adaptive_depth_train_scale_net --oracle runs/nyu_train_oracle --out runs/paper --recipe paper
    adaptive_depth_train_scale_net --oracle runs/office/oracle --oracle runs/lab/oracle \
        --out runs/two_rooms --val-split recording

``--recipe`` picks the settings (adaptive_depth.recipes; default: the measured best), every other
option overrides one of them.

Writes ``best/`` and ``last/`` checkpoints (``model.safetensors`` + ``config.json``), periodic
``checkpoints/epoch_NNNN/``, ``history.json``, ``split.json`` and ``loss_curve.png``.
"""

import argparse
from pathlib import Path
import sys
from typing import List, Optional, Sequence, Tuple

from adaptive_depth.tools.common import check_out, clear_dir, count_arg, Interrupted, tool_main

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
    from adaptive_depth.backbones import BACKBONES, FINETUNE_POLICIES
    from adaptive_depth.recipes import DEFAULT_RECIPE, RECIPES
    from adaptive_depth.training import VAL_SPLITS

    p = argparse.ArgumentParser(
        prog='train_scale_net',
        description='Train the scale network (image -> log s) on an oracle directory written by '
                    'generate_oracle, from a named recipe (adaptive_depth.recipes) whose '
                    'settings the options below override; seeded hold-out validation, best/last '
                    'checkpoints (paper Algorithm 2 is --recipe paper).',
        argument_default=argparse.SUPPRESS)
    p.add_argument('--oracle', required=True, metavar='DIR', action='append',
                   help='oracle directory (oracle.csv, oracle.json, images.npy) from '
                        'generate_oracle; only rows with kept=1 are used. Repeat it to train on '
                        'several (e.g. one per recording, each generated with its own depth '
                        'scale and intrinsics, all for the same base model)')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='output directory for checkpoints (best/, last/, checkpoints/), '
                        'history.json, split.json and loss_curve.png')
    p.add_argument('--recipe', default=DEFAULT_RECIPE, choices=sorted(RECIPES),
                   help=f'training recipe (default {DEFAULT_RECIPE}, the measured best: '
                        f'docs/scale_net.md); every option below defaults to the recipe value')
    p.add_argument('--epochs', type=int, help='number of training epochs')
    p.add_argument('--batch-size', type=int, help='images per optimisation step')
    p.add_argument('--lr', type=float, help='initial learning rate (of the head)')
    p.add_argument('--backbone-lr', type=float,
                   help='learning rate of a pretrained backbone (default: --lr)')
    p.add_argument('--optimizer', choices=('adam', 'adamw'), help='optimiser')
    p.add_argument('--schedule', choices=('step', 'cosine'),
                   help='learning-rate schedule: StepLR (--step-size, --gamma) or cosine decay')
    p.add_argument('--weight-decay', type=float, help='weight decay')
    p.add_argument('--grad-clip', type=float,
                   help='maximum global gradient norm; 0 disables clipping')
    p.add_argument('--step-size', type=int,
                   help='StepLR period: multiply the learning rate by --gamma every this many '
                        'epochs')
    p.add_argument('--gamma', type=float, help='StepLR decay factor')
    p.add_argument('--val-fraction', type=float,
                   help='fraction of the kept samples held out for validation (seeded split; '
                        'default 0.2). Frames of one recording are near-duplicates: hold out '
                        'whole recordings (--val-split recording) or use 0')
    p.add_argument('--val-split', choices=VAL_SPLITS,
                   help="what the hold-out takes: single frames ('frame', the default) or whole "
                        "recordings ('recording': the sample name up to its last '/', e.g. "
                        'sun3d_office/run1; needs two or more recordings in --oracle)')
    p.add_argument('--balance-recordings', action='store_true',
                   help='draw every epoch so that each recording (the sample name up to its '
                        "last '/') weighs the same, however many frames it has: a long "
                        'recording then does not teach its own room at the expense of the others')
    p.add_argument('--val-every', type=int,
                   help='validate every N epochs (and at the last epoch)')
    p.add_argument('--checkpoint-every', type=int,
                   help='keep a checkpoint copy every N epochs in checkpoints/ (0: never)')
    p.add_argument('--seed', type=int,
                   help='seed of the split, initial weights, batch order and augmentation '
                        '(same seed -> same losses)')
    p.add_argument('--device',
                   help="'auto' (CUDA if available, default), 'cpu', 'cuda' or 'cuda:N'")
    again = p.add_mutually_exclusive_group()
    again.add_argument('--resume', action='store_true', default=False,
                       help='continue the run in --out from last/training_state.pt up to '
                            '--epochs (same oracle, seed and network options required)')
    again.add_argument('--overwrite', action='store_true', default=False,
                       help='delete what a used --out holds and train from scratch')
    p.add_argument('--input-size', type=parse_size, metavar='N|HxW',
                   help='network input size in pixels (height x width); e.g. 128x160 is faster')
    p.add_argument('--backbone', choices=BACKBONES,
                   help="'scratch' (the paper's CNN) or an ImageNet-pretrained EfficientNet-Lite")
    p.add_argument('--finetune', choices=FINETUNE_POLICIES,
                   help='how much of a pretrained backbone trains')
    p.add_argument('--no-pretrained', action='store_true',
                   help='start a non-scratch backbone from random weights (ablation)')
    p.add_argument('--channels', type=parse_int_list, metavar='C1,C2,...',
                   help='conv block channels of the scratch CNN (ScaleNetConfig default '
                        '32,64,128,256)')
    p.add_argument('--fc', type=parse_int_list, metavar='H1,...',
                   help='hidden fully connected sizes (ScaleNetConfig default 128)')
    p.add_argument('--dropout', type=float,
                   help='dropout before the fully connected layers (ScaleNetConfig default 0.2)')
    p.add_argument('--no-flip', action='store_true',
                   help='disable random horizontal flips (scale-preserving augmentation)')
    p.add_argument('--color-jitter', type=float,
                   help='maximum relative brightness/contrast jitter (0 disables); no crops or '
                        'zoom are ever used because they change the apparent scale')
    p.add_argument('--rotate-deg', type=float,
                   help='random camera roll of up to ± this many degrees (scale-preserving '
                        'augmentation; 0 disables)')
    p.add_argument('--channel-shuffle', action='store_true',
                   help='randomly permute the RGB channels of training images (colour carries '
                        'no scale)')
    p.add_argument('--members', type=int,
                   help='train a deep ensemble of this many independently initialised networks '
                        'whose log-scales are averaged (their spread is an uncertainty)')
    p.add_argument('--predict-variance', action='store_true',
                   help='add a head output for the variance of log s (Gaussian NLL), the '
                        'per-frame uncertainty of ScalePredictor.estimate')
    p.add_argument('--aux-depth-weight', type=float,
                   help='weight of the auxiliary coarse-depth loss: a training-only head (on a '
                        'conv block of the scratch CNN, on the output of a pretrained body) '
                        "regresses the oracle directory's ground-truth log depth "
                        "(depth_grid.npy). 0 is the paper's plain MSE on log s")
    p.add_argument('--aux-depth-block', type=int,
                   help='conv block (1-based) whose output feeds the auxiliary depth head '
                        '(default: the second-to-last block)')
    p.add_argument('--test-time-flip', action='store_true',
                   help='store in the checkpoint that inference averages the log-scales of the '
                        'image and its mirror image (2x scale-network cost, less variance)')
    p.add_argument('--depth-input', action='store_true',
                   help="also feed the base model's own depth to the network, made scale free "
                        '(log depth minus its median: the shape of the scene, not its size); '
                        'needs relative_depth.npy in the oracle directory (generate_oracle '
                        '0.6.0+), and the node then runs the network after DA2 on its depth')
    p.add_argument('--ema-decay', type=float,
                   help='validate, select and save an exponential moving average of the '
                        'weights with this decay per step (e.g. 0.99); 0 disables (the last '
                        'weights)')
    p.add_argument('--threads', type=count_arg,
                   help='torch CPU threads (default or 0: torch default)')
    p.add_argument('--quiet', action='store_true', default=False, help='no progress bars')
    return p


_TRAIN_FIELDS = ('epochs', 'batch_size', 'lr', 'backbone_lr', 'optimizer', 'schedule',
                 'weight_decay', 'grad_clip', 'step_size', 'gamma', 'val_fraction', 'val_split',
                 'balance_recordings', 'val_every', 'checkpoint_every', 'seed', 'device',
                 'input_size', 'color_jitter', 'rotate_deg', 'channel_shuffle', 'aux_depth_weight',
                 'ema_decay')
_NET_FIELDS = ('backbone', 'finetune', 'channels', 'fc', 'dropout', 'members',
               'predict_variance', 'aux_depth_block', 'test_time_flip', 'depth_input')


def config_from_args(args: argparse.Namespace):
    """Return the TrainConfig of ``args``: the recipe's settings with the given options."""
    from adaptive_depth.recipes import recipe_config

    given = vars(args)
    train = {k: given[k] for k in _TRAIN_FIELDS if k in given}
    net = {k: given[k] for k in _NET_FIELDS if k in given}
    if given.get('no_flip'):
        train['augment_flip'] = False
    if given.get('no_pretrained'):
        train['pretrained'] = False
    return recipe_config(args.recipe, net_options=net, **train)


@tool_main(PROG)
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; return the exit code (docs/tools.md: 0 ok, 2 user error, 130)."""
    args = build_parser().parse_args(argv)
    from adaptive_depth.oracle_dataset import concat_oracles, read_oracle_dir
    from adaptive_depth.training import train_scale_net
    import torch

    if getattr(args, 'threads', None):
        torch.set_num_threads(int(args.threads))
    try:
        cfg = config_from_args(args)
    except ImportError as exc:  # a backbone whose package is not installed: a user error
        raise ValueError(str(exc)) from exc
    cfg.validate()
    oracle = concat_oracles([read_oracle_dir(path) for path in args.oracle])
    out = check_out(args.out, overwrite=args.overwrite, resume=args.resume, inputs=args.oracle)
    if oracle.simulated and not args.quiet:
        print(f'note: {" + ".join(args.oracle)} made with the SIMULATED base model '
              f'({oracle.base_model_name})', file=sys.stderr)
    if args.overwrite:
        clear_dir(out)
    try:
        result = train_scale_net(oracle, cfg, out, resume=args.resume, progress=not args.quiet)
    except ImportError as exc:  # pretrained weights package missing: a user error
        raise ValueError(str(exc)) from exc
    except KeyboardInterrupt:
        raise Interrupted(_interrupted_message(out)) from None
    lines: List[str] = [
        f'trained {len(result.history)} epoch(s) on {len(result.train_names)} samples '
        f'({len(result.val_names)} held out) in {result.seconds:.1f} s (recipe {args.recipe})',
        f'best epoch {result.best_epoch}: loss {result.best_val_loss:.5f} -> {result.best_dir}',
        f'last checkpoint -> {result.last_dir}',
    ]
    if result.std_scale is not None:
        lines.append(f'std of log s scaled by {result.std_scale:.3f} to match the held-out '
                     f'errors (std_scale in {result.best_dir}/config.json)')
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
