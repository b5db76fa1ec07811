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
Leave one dataset out: every dataset is the test data once, the others train.

With a handful of recordings, one train/test split measures how alike those few rooms are as much
as the method (docs/scale_net.md, *Measurements*): which recipe wins changes with the split.
Holding out each dataset in turn and averaging the gap closed over the folds gives every
recording the same weight and one number per recipe. :func:`run_leave_one_out` runs the folds
with :func:`adaptive_depth.recording_experiment.run_experiment` (the same recipes, seeds and
training-mean baseline in every fold); :func:`summarise_folds` reduces them;
:func:`write_summary` writes ``summary.{json,md,png}``.

A fold is a whole dataset (one spec), never a part of one, so no run of consecutive frames is
split. Datasets given as always-training data (``always_train``) are in every fold's training
data and never tested on.
"""

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from adaptive_depth.io_helpers import dumps_json
from adaptive_depth.recording_experiment import (concat_frames, FrameSet, percent,
                                                 run_experiment)
import numpy as np

REFERENCE_RECIPE = 'scratch'
"""The recipe the others are compared with fold by fold (issue 13's "+15 over scratch")."""


def fold_dir(out_dir: Path, index: int) -> Path:
    """Return the folder of fold ``index`` (0-based) under ``out_dir``."""
    return Path(out_dir) / f'fold{index}'


def run_leave_one_out(parts: Sequence[FrameSet], recipes: Sequence[str], seeds: Sequence[int],
                      out_dir: Path, always_train: Optional[FrameSet] = None,
                      device: str = 'auto',
                      overrides: Optional[Dict[str, Dict[str, Any]]] = None,
                      progress: bool = True, log: Callable[[str], None] = print,
                      on_fold: Optional[Callable[[int, Dict[str, Any], bool], None]] = None
                      ) -> List[Dict[str, Any]]:
    """
    Hold out each of ``parts`` (one dataset each) once; return the folds' results in order.

    Fold k trains every recipe × seed on the other parts (plus ``always_train``) and scores it on
    part k (:func:`adaptive_depth.recording_experiment.run_experiment`; checkpoints under
    ``fold_dir(out_dir, k) / 'runs'``); its results also hold ``train_specs``, ``test_specs``,
    ``n_train``, ``n_test``, ``test_recordings``, ``simulated`` and ``base_model``.
    ``on_fold(k, results, complete)`` is called after every trained run of fold k
    (``complete`` False) and when the fold is done (True).
    """
    if len(parts) < 2:
        raise ValueError(f'leave one out needs at least 2 datasets, got {len(parts)}')
    folds: List[Dict[str, Any]] = []
    for k, test in enumerate(parts):
        train = concat_frames([p for i, p in enumerate(parts) if i != k]
                              + ([always_train] if always_train is not None else []))
        info = {'train_specs': list(train.specs), 'test_specs': list(test.specs),
                'n_train': len(train), 'n_test': len(test),
                'test_recordings': len(set(test.recordings)),
                'simulated': train.simulated or test.simulated, 'base_model': test.base_model}
        log(f'fold {k + 1}/{len(parts)}: test {", ".join(test.specs)} ({len(test)} frames), '
            f'train {len(train)} frames')

        def partial(results: Dict[str, Any], k: int = k, info: Dict[str, Any] = info) -> None:
            results.update(info)
            if on_fold is not None:
                on_fold(k, results, False)

        results = run_experiment(train, test, recipes, seeds, fold_dir(out_dir, k) / 'runs',
                                 device=device, overrides=overrides, progress=progress,
                                 log=log, on_run=partial)
        results.update(info)
        folds.append(results)
        if on_fold is not None:
            on_fold(k, results, True)
    return folds


def summarise_folds(folds: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """
    Reduce fold results to the gap closed per fold and over folds.

    Each fold's entry is the mean over its seeds (run_experiment's ``gap_closure_mean``; folds
    still running count with the seeds they have). Per recipe: ``per_fold``,
    ``mean_over_folds``, ``min_over_folds`` and, for every recipe but :data:`REFERENCE_RECIPE`
    when that one ran, ``lead_over_reference`` per fold (points of gap closed, as fractions).
    ``train_mean_baseline`` holds the same for the training-mean scale of each fold. Folds a
    recipe has no run in yet are None.
    """
    names: List[str] = []
    for fold in folds:
        names += [r for r in fold['recipes'] if r not in names]
    summary: Dict[str, Any] = {
        'folds': [{'test_specs': f['test_specs'], 'n_test': f['n_test'], 'n_train': f['n_train'],
                   'complete': bool(f.get('complete', True))} for f in folds],
        'recipes': {}}

    def reduce(per_fold: List[Optional[float]]) -> Dict[str, Any]:
        done = [v for v in per_fold if v is not None]
        return {'per_fold': per_fold,
                'mean_over_folds': float(np.mean(done)) if done else None,
                'min_over_folds': float(np.min(done)) if done else None}

    for name in names:
        entries = [fold['recipes'].get(name, {}) for fold in folds]
        summary['recipes'][name] = reduce([e['gap_closure_mean'] if e.get('runs') else None
                                           for e in entries])
    reference = summary['recipes'].get(REFERENCE_RECIPE)
    if reference is not None:
        for name, entry in summary['recipes'].items():
            if name == REFERENCE_RECIPE:
                continue
            lead = [None if a is None or b is None else a - b
                    for a, b in zip(entry['per_fold'], reference['per_fold'])]
            entry['lead_over_reference'] = reduce(lead)
    summary['train_mean_baseline'] = reduce(
        [float(f['train_mean_baseline']['gap_closure']) for f in folds])
    return summary


def _held_out(fold: Dict[str, Any]) -> str:
    return f'{", ".join(fold["test_specs"])} ({fold["n_test"]})'


def summary_markdown(summary: Dict[str, Any], title: str, simulated: bool = True) -> str:
    """Return the Markdown table of the gap closed per held-out dataset and over the folds."""
    names = list(summary['recipes'])
    columns = names + ['training-mean scale']
    entries = [summary['recipes'][n] for n in names] + [summary['train_mean_baseline']]
    lines = [f'# {title}', '']
    if simulated:
        lines += ['> **SIMULATED base model**: these numbers compare scale networks, not Depth '
                  'Anything V2.', '']
    lines += ['Leave one dataset out: each row trains on every other dataset and tests on the '
              'one named (frames in brackets). Test AbsRel gap closed (no scaling → oracle), '
              'mean over seeds; the training-mean scale is one constant, no image.', '',
              '| held out | ' + ' | '.join(columns) + ' |', '|---|' + '---|' * len(columns)]
    for k, fold in enumerate(summary['folds']):
        mark = '' if fold['complete'] else ' (running)'
        lines.append(f'| {_held_out(fold)}{mark} | '
                     + ' | '.join(percent(e['per_fold'][k]) for e in entries) + ' |')
    for label, key in (('**mean over folds**', 'mean_over_folds'),
                       ('min over folds', 'min_over_folds')):
        lines.append(f'| {label} | ' + ' | '.join(percent(e[key]) for e in entries) + ' |')
    leads = [(n, summary['recipes'][n]['lead_over_reference']) for n in names
             if 'lead_over_reference' in summary['recipes'][n]]
    if leads:
        lines += ['', f'Lead over `{REFERENCE_RECIPE}` (points of gap closed, per fold → mean):']
        for name, lead in leads:
            per = ' / '.join('–' if v is None else f'{100 * v:+.1f}' for v in lead['per_fold'])
            mean = lead['mean_over_folds']
            lines.append(f'- {name}: {per} → '
                         + ('–' if mean is None else f'{100 * mean:+.1f}'))
    lines += ['', "Each fold's full report (Tables I/II, stability, uncertainty): "
              + ', '.join(f'`fold{k}/results.md`' for k in range(len(summary['folds'])))]
    return '\n'.join(lines) + '\n'


def plot_summary(summary: Dict[str, Any], path: Path, title: str) -> Path:
    """Plot the gap closed per held-out dataset and over the folds, a bar per recipe (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(summary['recipes']) + ['training-mean scale']
    entries = list(summary['recipes'].values()) + [summary['train_mean_baseline']]
    labels = [Path(', '.join(f['test_specs']).split(':', 1)[-1].split('?', 1)[0]).name
              for f in summary['folds']] + ['mean over folds']
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(labels) + 2), 4.5), dpi=100)
    x = np.arange(len(labels))
    for i, (name, entry) in enumerate(zip(names, entries)):
        values = [np.nan if v is None else 100 * v
                  for v in entry['per_fold'] + [entry['mean_over_folds']]]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=name,
               color='0.6' if name == 'training-mean scale' else f'C{i}')
    ax.set_xticks(x, labels, rotation=15, fontsize=8)
    ax.set_ylabel('test AbsRel gap closed [%]')
    ax.set_title('held out (one dataset per fold)')
    ax.grid(True, axis='y', alpha=0.3)
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_summary(summary: Dict[str, Any], out_dir: Path, title: str,
                  simulated: bool = True) -> List[Path]:
    """Write ``summary.json``, ``summary.md`` and ``summary.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / 'summary.json', out_dir / 'summary.md', out_dir / 'summary.png']
    paths[0].write_text(dumps_json(dict(summary, simulated=simulated)))
    paths[1].write_text(summary_markdown(summary, title, simulated))
    plot_summary(summary, paths[2], title + (' — SIMULATED base model' if simulated else ''))
    return paths
