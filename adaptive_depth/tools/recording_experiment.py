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

r"""
``adaptive_depth_recording_experiment``: scratch vs pretrained scale networks on real recordings.

Example (train on 7-Scenes and TUM, test on SUN3D and NYU; SIMULATED base model)::

    adaptive_depth_recording_experiment --out runs/real \\
        --train-data sevenscenes:../shared/data/real_rgbd/sevenscenes_redkitchen \\
        --train-data tum:../shared/data/real_rgbd/tum_fr3_cabinet \\
        --test-data sevenscenes:../shared/data/real_rgbd/sun3d_office \\
        --test-data nyu-folder:../shared/data/nyu_test_sample

Each ``--train-data`` / ``--test-data`` is a dataset spec of any supported layout (README
"The tools"), with its own options after a ``?`` where it needs them
(``folder:DIR?depth_scale=5000&intrinsics=525,525,319.5,239.5``; datasets.spec_options); train
and test data are whole datasets, so no run of consecutive frames is split.
``--mix-synthetic N`` adds N synthetic scenes to training. Every recipe (``--recipes``) is
trained for every seed on the same frames, and ``OUT/results.{md,json,csv,png}`` report Tables
I/II, the AbsRel gap closed, temporal stability with and without smoothing, and the uncertainty
ranking, side by side (adaptive_depth.recording_experiment).

Leave one dataset out: instead of ``--test-data``, give ``--data SPEC`` two or more times. Each
of those datasets is the test data of one fold (``OUT/fold<k>/``, a full report each) and
training data in every other fold; ``--train-data`` datasets train in every fold.
``OUT/summary.{md,json,png}`` holds the gap closed per held-out dataset and the mean over the
folds, so a result does not rest on one split of a few rooms (adaptive_depth.leave_one_out).

Exit codes (docs/tools.md): 0 done (and ``--require-gap`` met), 2 bad input (one line on stderr
naming the problem; also a used ``--out`` without ``--overwrite``), 3 a recipe closed less than
``--require-gap`` (with ``--data``: as a mean over the folds), 130 interrupted.
"""

import argparse
from collections import Counter
import json
from pathlib import Path
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from adaptive_depth.tools.common import (check_device, check_out, clear_dir, count_arg,
                                         EXIT_CHECK_FAILED, spec_paths, tool_main, UserError)

PROG = 'recording_experiment'


def _override(text: str):
    """Parse ``RECIPE:FIELD=VALUE`` (VALUE as JSON, else a string)."""
    try:
        recipe, rest = text.split(':', 1)
        key, value = rest.split('=', 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'bad override {text!r}: use RECIPE:FIELD=VALUE, e.g. pretrained:epochs=5') from None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return recipe.strip(), key.strip(), parsed


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the recording experiment."""
    from adaptive_depth.recipes import COMPARED_RECIPES, RECIPES

    p = argparse.ArgumentParser(
        prog=PROG,
        description='Train scale networks (scratch and pretrained recipes) on some RGB-D '
                    'recordings and test them on others, with the SIMULATED base model: Tables '
                    'I/II, gap closed, temporal stability and uncertainty ranking side by side.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', required=True, metavar='DIR', help='output folder')
    p.add_argument('--overwrite', action='store_true',
                   help='replace what a used --out holds')
    p.add_argument('--train-data', action='append', default=[], metavar='SPEC',
                   help='training dataset spec (repeat for several); options of its own '
                        'after "?", e.g. folder:DIR?depth_scale=5000&intrinsics=FX,FY,CX,CY')
    p.add_argument('--test-data', action='append', default=[], metavar='SPEC',
                   help='test dataset spec (repeat for several; never used for training; '
                        'options as for --train-data)')
    p.add_argument('--data', action='append', default=[], metavar='SPEC',
                   help='leave one dataset out (instead of --test-data; give 2 or more): '
                        'each is the test data of one fold and trains in all the others')
    p.add_argument('--mix-synthetic', type=count_arg, default=0, metavar='N',
                   help='add N synthetic scenes (seeds 0..N-1, 320x240) to the training data '
                        '(measured: it made both networks worse on real test frames)')
    p.add_argument('--recipes', default=','.join(COMPARED_RECIPES), metavar='A,B',
                   help=f'recipes to train (known: {", ".join(RECIPES)})')
    p.add_argument('--seeds', default='0', metavar='S1,S2', help='training seeds')
    p.add_argument('--override', type=_override, action='append', default=[],
                   metavar='RECIPE:FIELD=VALUE',
                   help='change a TrainConfig field of one recipe (VALUE as JSON), e.g. '
                        'pretrained:epochs=5 or scratch:input_size=[64,96]')
    p.add_argument('--sim-seed', type=int, default=0, help='seed of the SIMULATED base model')
    p.add_argument('--device', default='auto', help="'auto' (CUDA if available), 'cpu', 'cuda'")
    p.add_argument('--workers', type=count_arg, default=0,
                   help='processes reading the frames (0: one per core, at most 16)')
    p.add_argument('--threads', type=count_arg, default=0,
                   help='torch CPU threads (0: default)')
    p.add_argument('--title', default='Recording experiment', help='report title')
    p.add_argument('--require-gap', type=float, default=None, metavar='F',
                   help='exit 3 unless every recipe closes at least this fraction of the test '
                        'gap (mean over seeds; with --data, mean over the folds too)')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    return p


@tool_main(PROG)
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the experiment; return the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    from adaptive_depth.datasets import spec_options
    from adaptive_depth.recipes import recipe_config, RECIPES
    from adaptive_depth.training import check_recipe

    recipes = [r.strip() for r in args.recipes.split(',') if r.strip()]
    unknown = [r for r in recipes if r not in RECIPES]
    if not recipes or unknown:
        raise UserError(f'unknown recipe(s) {unknown or args.recipes!r}; known: '
                        f'{", ".join(RECIPES)}')
    try:
        seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
    except ValueError:
        raise UserError(f'--seeds must be comma-separated integers, got {args.seeds!r}') from None
    if not seeds:
        raise UserError('--seeds is empty')
    if args.data and args.test_data:
        raise UserError('give --test-data (one split) or --data (leave one out), not both')
    if not args.data and not args.test_data:
        raise UserError('no test data: give --test-data SPEC, or --data SPEC two or more '
                        'times to leave each dataset out once')
    if len(args.data) == 1:
        raise UserError('--data needs two or more datasets (each is held out once); for one '
                        'test dataset use --test-data')
    if len(set(args.data)) < len(args.data):
        raise UserError('--data names the same dataset twice')
    if not args.train_data and not args.data and args.mix_synthetic <= 0:
        raise UserError('no training data: give --train-data SPEC and/or --mix-synthetic N')
    overrides: Dict[str, Dict[str, Any]] = {}
    for recipe, key, value in args.override:
        if recipe not in RECIPES:
            raise UserError(f'--override names unknown recipe {recipe!r}')
        if recipe not in recipes:
            raise UserError(f'--override names recipe {recipe!r}, which is not trained '
                            f'(--recipes {",".join(recipes)})')
        overrides.setdefault(recipe, {})[key] = value
    train_specs = list(args.train_data)
    if args.mix_synthetic > 0:
        train_specs.append(f'synthetic:{args.mix_synthetic}')
    for spec in train_specs + list(args.test_data) + list(args.data):
        spec_options(spec)
    for recipe in recipes:
        try:
            check_recipe(recipe_config(recipe, **overrides.get(recipe, {})))
        except TypeError as exc:
            raise UserError(f'--override for {recipe}: {exc}') from None
    check_device(args.device)
    args.out = check_out(args.out, overwrite=args.overwrite,  # '~' expanded once, here
                         inputs=spec_paths(train_specs + list(args.test_data) + list(args.data)))
    import torch

    threads_before = torch.get_num_threads()  # restored: main() may run inside a process
    if args.threads:
        torch.set_num_threads(int(args.threads))
    try:
        run = _run_leave_one_out if args.data else _run
        return run(args, recipes, seeds, overrides, train_specs)
    finally:
        torch.set_num_threads(threads_before)


def _prepare(specs: List[str], args: argparse.Namespace):
    from adaptive_depth import recording_experiment as rx

    parts = []
    for spec in specs:
        options = {'width': 320, 'height': 240} if spec.startswith('synthetic:') else {}
        parts.append(rx.prepare_frames(spec, options, {'seed': args.sim_seed}, args.workers,
                                       progress=not args.quiet))
        skipped = parts[-1].skipped
        if skipped:
            print(f'{spec}: skipped {len(skipped)} frame(s), e.g. {skipped[0][0]}: '
                  f'{skipped[0][1]}', file=sys.stderr)
    return rx.concat_frames(parts)


def _open_out(out: Path, overwrite: bool) -> None:
    """
    Create ``out`` (emptied first under ``--overwrite``) once the frames are prepared.

    Not earlier: a dataset that fails to load must leave no empty folder and must not cost the
    results of the run that ``--overwrite`` would replace.
    """
    if overwrite:
        clear_dir(out)
    out.mkdir(parents=True, exist_ok=True)


def _run(args: argparse.Namespace, recipes: List[str], seeds: List[int],
         overrides: Dict[str, Dict[str, Any]], train_specs: List[str]) -> int:
    from adaptive_depth import recording_experiment as rx

    out = Path(args.out)
    started = time.perf_counter()
    train = _prepare(train_specs, args)
    test = _prepare(list(args.test_data), args)
    overlap = set(train.names) & set(test.names)
    if overlap:
        raise ValueError(f'{len(overlap)} frame(s) are in both the training and the test data, '
                         f'e.g. {sorted(overlap)[0]}')
    prepared = time.perf_counter() - started
    _open_out(out, args.overwrite)
    print(f'prepared {len(train)} training and {len(test)} test frames in {prepared:.0f} s')
    info = {'simulated': train.simulated or test.simulated, 'base_model': test.base_model,
            'train_specs': train_specs, 'test_specs': list(args.test_data),
            'n_train': len(train), 'n_test': len(test),
            'test_recordings': len(set(test.recordings)), 'seeds': seeds,
            'overrides': overrides, 'prepare_seconds': prepared}

    def save_partial(partial: Dict[str, Any]) -> None:
        partial.update(info, total_seconds=time.perf_counter() - started, complete=False)
        rx.write_reports(partial, out, args.title + ' (partial)')

    results = rx.run_experiment(train, test, recipes, seeds, out / 'runs', device=args.device,
                                overrides=overrides, progress=not args.quiet,
                                on_run=save_partial)
    results.update(info, total_seconds=time.perf_counter() - started, complete=True)
    paths = rx.write_reports(results, out, args.title)
    print((out / 'results.md').read_text())
    print('wrote ' + ', '.join(str(p) for p in paths))
    return _check_gap(args, {r: v['gap_closure_mean'] for r, v in results['recipes'].items()})


def _check_gap(args: argparse.Namespace, gaps: Dict[str, float]) -> int:
    """Return EXIT_CHECK_FAILED (saying which) if a recipe's gap is below --require-gap."""
    if args.require_gap is None:
        return 0
    low = {r: v for r, v in gaps.items() if not v >= args.require_gap}
    if low:
        print(f'{PROG}: gap requirement {100 * args.require_gap:.0f} % not met by: '
              + ', '.join(f'{r} {100 * v:.1f} %' for r, v in low.items()), file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0


def _run_leave_one_out(args: argparse.Namespace, recipes: List[str], seeds: List[int],
                       overrides: Dict[str, Dict[str, Any]], train_specs: List[str]) -> int:
    from adaptive_depth import leave_one_out as loo
    from adaptive_depth import recording_experiment as rx

    out = Path(args.out)
    started = time.perf_counter()
    parts = [_prepare([spec], args) for spec in args.data]
    always = _prepare(train_specs, args) if train_specs else None
    counts = Counter(n for p in parts + ([always] if always is not None else []) for n in p.names)
    twice = sorted(n for n, c in counts.items() if c > 1)
    if twice:
        raise ValueError(f'{len(twice)} frame name(s) are in two datasets, e.g. {twice[0]}: a '
                         'held-out dataset must not also train')
    _open_out(out, args.overwrite)
    print(f'prepared {sum(counts.values())} frames of {len(parts)} held-out dataset(s) in '
          f'{time.perf_counter() - started:.0f} s')
    simulated = any(p.simulated for p in parts)
    done: List[Dict[str, Any]] = []

    def save(k: int, results: Dict[str, Any], complete: bool) -> None:
        results.update(seeds=seeds, overrides=overrides, complete=complete,
                       total_seconds=time.perf_counter() - started)
        held = f'{args.title} — held out: {args.data[k]}'
        rx.write_reports(results, loo.fold_dir(out, k), held + ('' if complete else ' (partial)'))
        done[k:] = [results]
        loo.write_summary(loo.summarise_folds(done), out, args.title, simulated)

    folds = loo.run_leave_one_out(parts, recipes, seeds, out, always_train=always,
                                  device=args.device, overrides=overrides,
                                  progress=not args.quiet, on_fold=save)
    summary = loo.summarise_folds(folds)
    print((out / 'summary.md').read_text())
    print(f'wrote {out / "summary.md"}, summary.json, summary.png and fold0..fold{len(parts) - 1}')
    return _check_gap(args, {r: v['mean_over_folds'] for r, v in summary['recipes'].items()})


if __name__ == '__main__':
    sys.exit(main())
