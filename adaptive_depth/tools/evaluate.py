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
``evaluate``: Tables I and II, the scale scatter plot and Fig. 3 point-cloud overlays.

Example::

    adaptive_depth_evaluate --checkpoint runs/scale_net/best --split train=runs/oracle_train
        --split test=runs/oracle_test --out runs/eval --max-depth 10 --overlay-samples 3

(one command line).  Writes ``table1.{md,csv,json}``, ``table2.{md,csv,json}``,
``per_sample.csv``, ``scale_scatter.png`` (learned vs oracle scale, one colour per split) and,
for ``--overlay-samples N`` samples, ``overlays/<split>_<name>_overlay.png`` with PLY clouds.
Base predictions come from the prediction cache recorded by ``generate_oracle``; ground truth
from the dataset it recorded. With a split named ``train`` (or ``--baseline-split NAME``) every
split also scores the **training-mean scale**: the constant exp(mean log s*) of that split's kept
rows on every image, the image-free baseline a learned scale has to beat.
"""

import argparse
from pathlib import Path
import sys
from typing import List, Optional, Sequence, Tuple

from adaptive_depth.tools.common import check_out, clear_dir, tool_main, UserError

PROG = 'evaluate'


def _split(text: str) -> Tuple[str, str]:
    name, sep, path = text.partition('=')
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(
            f'bad --split {text!r}: use NAME=ORACLE_DIR, e.g. test=runs/oracle_test')
    return name.strip(), path.strip()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``evaluate``."""
    p = argparse.ArgumentParser(
        prog='evaluate',
        description='Compare no scaling, the oracle scale and the learned scale on oracle '
                    'splits written by generate_oracle (paper Tables I and II, Fig. 3). '
                    'Aggregates are means of per-image metrics.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--checkpoint', metavar='CKPT_DIR',
                   help='scale-network checkpoint: a directory with model.safetensors + '
                        'config.json (e.g. OUT/best of train_scale_net) or a training OUT '
                        'directory (its best/ is used); omit to evaluate only none/oracle')
    p.add_argument('--split', action='append', type=_split, required=True,
                   metavar='NAME=ORACLE_DIR',
                   help='a split to evaluate: label and oracle directory; repeat, e.g. '
                        '--split train=DIR --split test=DIR')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='output directory; a used one needs --overwrite')
    p.add_argument('--overwrite', action='store_true',
                   help='delete what a used --out holds before writing the new results')
    p.add_argument('--max-depth', type=float, default=None,
                   help='mask ground truth beyond this depth (metres) and clip scaled '
                        'predictions to it (NYU protocol: 10)')
    p.add_argument('--min-depth', type=float, default=1e-3,
                   help='smallest valid ground-truth depth (metres)')
    p.add_argument('--kept-only', action='store_true',
                   help="evaluate only rows kept by the oracle's percentile filter (default: "
                        'all rows with a finite oracle scale)')
    p.add_argument('--overlay-samples', type=int, default=2, metavar='N',
                   help='render Fig. 3 (GT RGB cloud + unscaled / oracle / learned clouds, PNG + '
                        'PLY) for N samples of the overlay split (0: none)')
    p.add_argument('--overlay-split', default=None,
                   help='split used for overlays (default: "test" if given, else the last one)')
    p.add_argument('--overlay-names', default=None, metavar='NAME,...',
                   help='explicit sample names for overlays (overrides --overlay-samples)')
    p.add_argument('--overlay-stride', type=int, default=4,
                   help='draw every N-th pixel row/column in the overlay renders')
    p.add_argument('--baseline-split', default=None, metavar='NAME',
                   help='split whose mean log s* gives the training-mean scale scored on every '
                        "split (default: 'train' if there is one; 'none' turns it off)")
    p.add_argument('--device', default='cpu',
                   help="device of the scale network: 'cpu', 'cuda', 'cuda:N' or 'auto'")
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p


def _checkpoint_dir(path: str) -> Path:
    p = Path(path).expanduser()
    if p.is_dir() and not (p / 'model.safetensors').is_file() and (p / 'best').is_dir():
        return p / 'best'
    return p


def _pick_overlays(names: Sequence[str], count: int) -> List[str]:
    if count <= 0 or not names:
        return []
    idx = sorted({int(round(i)) for i in
                  [k * (len(names) - 1) / max(count - 1, 1) for k in range(count)]})
    return [names[i] for i in idx][:count]


@tool_main(PROG)
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; return the exit code (docs/tools.md: 0 ok, 2 user error, 130)."""
    args = build_parser().parse_args(argv)
    labels = [name for name, _ in args.split]
    if len(set(labels)) != len(labels):
        raise UserError(f'split names must be unique, got {labels}')
    if args.overlay_samples < 0 or args.overlay_stride < 1:
        raise UserError('--overlay-samples must be >= 0 and --overlay-stride >= 1')
    if args.max_depth is not None and not args.max_depth > args.min_depth:
        raise UserError(f'--max-depth ({args.max_depth}) must exceed --min-depth '
                        f'({args.min_depth})')
    baseline = args.baseline_split
    if baseline not in (None, 'none') and baseline not in labels:
        raise UserError(f'--baseline-split {baseline!r} is not one of the splits {labels}')
    check_out(args.out, overwrite=args.overwrite, inputs=_inputs(args))
    return _run(args)


def _inputs(args: argparse.Namespace) -> List[str]:
    """Return the checkpoint and oracle folders the run reads (``--out`` must hold none)."""
    return [args.checkpoint, *(path for _, path in args.split)]


def _run(args: argparse.Namespace) -> int:
    from adaptive_depth import evaluation as ev
    from adaptive_depth.oracle_dataset import read_oracle_dir
    from adaptive_depth.depth_model import resolve_device

    predictor = None
    checkpoint = None
    if args.checkpoint:
        from adaptive_depth.scale_net import ScalePredictor

        checkpoint = _checkpoint_dir(args.checkpoint)
        predictor = ScalePredictor.from_checkpoint(checkpoint, device=resolve_device(args.device))
    oracles = [(name, read_oracle_dir(path, load_images=False)) for name, path in args.split]
    overlay_split = args.overlay_split or ('test' if 'test' in dict(args.split) else
                                           args.split[-1][0])
    if overlay_split not in dict(args.split):
        raise ValueError(f'--overlay-split {overlay_split!r} is not one of the splits '
                         f'{[n for n, _ in args.split]}')
    out = check_out(args.out, overwrite=args.overwrite, inputs=_inputs(args))
    if args.overwrite:
        clear_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    baseline = args.baseline_split or ('train' if 'train' in dict(oracles) else 'none')
    train_mean = None if baseline == 'none' else ev.train_mean_scale(dict(oracles)[baseline])
    if train_mean is not None:
        print(f'training-mean scale of split {baseline!r}: s = {train_mean:.4f} (scored on '
              f'every split as the image-free baseline)')
    results = []
    for name, oracle in oracles:
        keep: List[str] = []
        if name == overlay_split:
            if args.overlay_names:
                keep = [n.strip() for n in args.overlay_names.split(',') if n.strip()]
                unknown = [n for n in keep if n not in set(oracle.names)]
                if unknown:
                    raise ValueError(f'--overlay-names not in split {name!r}: {unknown}')
            else:
                finite = [n for n, s in zip(oracle.names, oracle.scales) if s == s]
                keep = _pick_overlays(finite, args.overlay_samples)
        results.append(ev.evaluate_split(oracle, predictor, split=name,
                                         max_depth=args.max_depth, min_depth=args.min_depth,
                                         keep_frames=keep, kept_only=args.kept_only,
                                         progress=not args.quiet, train_mean=train_mean))
    extra = {'checkpoint': str(checkpoint) if checkpoint else None,
             'splits': {name: str(path) for name, path in args.split},
             'max_depth': args.max_depth, 'min_depth': args.min_depth,
             'kept_only': args.kept_only, 'baseline_split': baseline,
             'train_mean_scale': train_mean}
    paths = ev.write_results(results, out, extra=extra)
    simulated = any(r.simulated for r in results)
    if predictor is not None:
        paths['scale_scatter.png'] = ev.plot_scale_scatter(out / 'scale_scatter.png', results)
    for r in results:
        for frame in r.frames.values():
            ev.render_frame(frame, out / 'overlays', stride=args.overlay_stride,
                            simulated=r.simulated, prefix=f'{r.split}_')
    print((out / 'table1.md').read_text())
    print((out / 'table2.md').read_text())
    if simulated:
        print(f'NOTE: {ev.SIMULATED_LABEL} — these numbers do not measure a real depth network.')
    print(f'results written to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
