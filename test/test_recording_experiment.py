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

"""Tests of smoothing, the recording experiment's metrics, leave one out and the tool."""

import json
import math
import subprocess
import sys

from adaptive_depth import leave_one_out as loo
from adaptive_depth import recording_experiment as rx
from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.datasets import open_dataset
from adaptive_depth.evaluation import eval_mask
from adaptive_depth.metrics import depth_metrics
from adaptive_depth.oracle import optimal_scale
from adaptive_depth.smoothing import frame_to_frame_change, ScaleSmoother, smooth_log_scales
from adaptive_depth.tools import recording_experiment as tool
import cv2
import numpy as np
import pytest


def test_smoother_matches_the_node_rule_and_holds_on_high_uncertainty():
    s = ScaleSmoother(0.8)
    assert s.update(0.0) == 0.0
    assert s.update(1.0) == pytest.approx(0.2)
    assert s.update(1.0) == pytest.approx(0.8 * 0.2 + 0.2)
    assert ScaleSmoother(0.0).update(0.7) == 0.7                 # off: the frame's own
    held = smooth_log_scales([0.0, 5.0, 1.0], 0.5, stds=[0.1, 0.9, 0.1], hold_std=0.5)
    np.testing.assert_allclose(held, [0.0, 0.0, 0.5])             # the doubtful frame is held
    s = ScaleSmoother(0.5)
    s.update(1.0)
    assert math.isnan(s.update(float('nan')))                    # non-finite resets
    assert s.update(3.0) == 3.0
    np.testing.assert_allclose(frame_to_frame_change([0.0, 0.1, 0.0]),
                               [math.expm1(0.1)] * 2)
    with pytest.raises(ValueError):
        ScaleSmoother(1.0)


def _write_sevenscenes(folder, n, seed=0):
    """Write a run of n frames of a plane whose distance drifts (metres, mm PNGs)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        dist = 1.5 + 0.05 * i + rng.uniform(0, 0.5)
        depth = (np.full((48, 64), dist) * (1 + 0.1 * np.linspace(0, 1, 64))[None] * 1000)
        rgb = np.full((48, 64, 3), int(40 * dist), np.uint8)
        cv2.imwrite(str(folder / f'frame-{i:06d}.color.png'), rgb)
        cv2.imwrite(str(folder / f'frame-{i:06d}.depth.png'), depth.astype(np.uint16))
    (folder / 'camera-intrinsics.txt').write_text('60 0 32\n0 60 24\n0 0 1\n')


def test_single_frames_of_one_folder_are_one_recording_without_a_stability_run():
    # The rule training uses to hold out recordings (sample.recording_of) groups them too.
    frames = rx.prepare_frames('synthetic:3', {'width': 64, 'height': 48}, workers=1,
                               progress=False)
    assert frames.names == [f'synthetic/{i:06d}' for i in range(3)]
    assert frames.recordings == ['synthetic'] * 3
    assert (frames.frames == -1).all() and rx.runs_of(frames) == []


_POOL_SCRIPT = """
import json, sys
import numpy as np, torch
from adaptive_depth import leave_one_out as loo
from adaptive_depth import recording_experiment as rx

if __name__ == '__main__':
    # torch's thread pool runs before the workers start: forked workers hung here.
    torch.set_num_threads(2)
    float((torch.randn(256, 256) @ torch.randn(256, 256)).sum())
    plain = rx.prepare_frames('sevenscenes:' + sys.argv[1], workers=1, progress=False)
    scaled = rx.prepare_frames('sevenscenes:' + sys.argv[1] + '?depth_scale=500', workers=2,
                               progress=False)
    print(json.dumps({'names': scaled.names == plain.names,
                      'images': bool(np.array_equal(scaled.images, plain.images)),
                      'grid_ratio': float(np.median(scaled.depth_grids / plain.depth_grids))}))
"""


def test_worker_processes_start_after_torch_ran_and_get_the_spec_options(tmp_path):
    # Millimetre PNGs read with depth_scale 500 are twice as deep; the images stay the same.
    _write_sevenscenes(tmp_path / 'run', 3)
    script = tmp_path / 'pool.py'
    script.write_text(_POOL_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / 'run')],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got['names'] and got['images']
    assert got['grid_ratio'] == pytest.approx(2.0, rel=1e-4)


def test_frame_summary_gives_the_metrics_of_the_full_maps(tmp_path):
    _write_sevenscenes(tmp_path / 'run', 6)
    frames = rx.prepare_frames(f'sevenscenes:{tmp_path / "run"}', workers=1, progress=False)
    ds = open_dataset(f'sevenscenes:{tmp_path / "run"}')
    model = SimulatedBaseModel()
    assert frames.names == ds.names() and frames.recordings == ['run'] * 6
    assert frames.images.shape == (6, 240, 320, 3) and frames.depth_grids.shape == (6, 24, 32)
    scales = np.array([0.5, 0.8, 1.0, 1.3, 2.0, 0.9])
    got = rx.frame_metrics(frames, scales)
    for i, sample in enumerate(ds):
        pred = model.predict(sample)
        mask = eval_mask(sample, sample.depth)
        ref = depth_metrics(pred * scales[i], sample.depth, mask)
        assert got['abs_rel'][i] == pytest.approx(ref['abs_rel'], rel=1e-5)
        assert got['rmse'][i] == pytest.approx(ref['rmse'], rel=1e-6)
        assert got['delta1'][i] == pytest.approx(ref['delta1'], abs=2e-3)
        assert frames.log_scales[i] == pytest.approx(
            math.log(optimal_scale(pred, sample.depth, mask)), abs=1e-9)


def test_abs_rel_from_ratio_shares_keeps_the_tail_of_flying_pixels():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 5.0, 240 * 320)
    ratio = np.exp(rng.normal(0.0, 0.3, gt.size))
    ratio[:20] *= 30.0  # 0.03 % flying pixels: ground truth far too near, ratios far too large
    shares = rx.ratio_shares(ratio)
    for s in (0.5, 1.0, 1.7):
        exact = np.mean(np.abs(s * ratio - 1.0))
        assert np.mean(np.abs(s * shares - 1.0)) == pytest.approx(exact, rel=1e-4)
        quantiles = np.quantile(ratio, (np.arange(rx.QUANTILES) + 0.5) / rx.QUANTILES)
        assert abs(np.mean(np.abs(s * quantiles - 1.0)) - exact) > 3e-3  # what it replaced
    assert rx.ratio_shares(np.array([2.0]), 4) == pytest.approx([2.0] * 4)  # one pixel


def _fake_frames(n, recordings, seed=0):
    rng = np.random.default_rng(seed)
    star = rng.normal(-0.5, 0.3, n)
    ratios = np.exp(-star)[:, None] * np.exp(rng.normal(0, 0.05, (n, rx.QUANTILES)))
    ratios.sort(axis=1)
    return rx.FrameSet([f'r{i}' for i in range(n)], recordings, np.arange(n),
                       np.zeros((n, 240, 320, 3), np.uint8), np.ones((n, 24, 32), np.float32),
                       star, ratios.astype(np.float32), np.ones((n, 3)), ['fake'], True, 'sim')


def test_evaluate_predictions_gap_stability_and_uncertainty():
    frames = _fake_frames(40, ['a'] * 20 + ['b'] * 20)
    star = frames.log_scales
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, 40)
    std = np.abs(noise) * 0.1 + 0.01
    learned = star + noise * 0.1          # error grows with the reported std
    out = rx.evaluate_predictions(frames, learned, std, (math.log(0.1), math.log(2.0)),
                                  alphas=(0.8,), hold_std=0.1)
    assert out['table2']['oracle']['abs_rel'] < out['table2']['learned']['abs_rel'] < \
        out['table2']['none']['abs_rel']
    assert 0 < out['gap_closure'] < 1
    perfect = rx.evaluate_predictions(frames, star, std, (math.log(0.1), math.log(2.0)))
    assert perfect['gap_closure'] == pytest.approx(1.0)
    u = out['uncertainty']
    assert u['spearman_std_vs_abs_log_error'] > 0.9
    assert u['mae_log_certain_half'] < u['mae_log_all']
    st = out['stability']
    assert st['recordings'] == 2 and st['frames'] == 40
    assert st['ema_0.8']['p95_change'] < st['off']['p95_change']
    assert 'ema_0.8_hold_0.1' in st
    # a recording shorter than MIN_RUN has no temporal table
    short = _fake_frames(4, ['x'] * 4)
    assert rx.evaluate_predictions(short, short.log_scales, np.zeros(4),
                                   (-3.0, 1.0))['stability']['recordings'] == 0


def test_train_mean_baseline_is_the_constant_mean_training_scale():
    train = _fake_frames(30, ['t'] * 30)
    test = _fake_frames(20, ['a'] * 20, seed=1)
    base = rx.train_mean_baseline(train, test)
    assert base['log_scale'] == pytest.approx(float(np.mean(train.log_scales)))
    bounds = (math.log(0.1), math.log(2.0))
    same = rx.evaluate_predictions(test, np.full(20, base['log_scale']), np.zeros(20), bounds)
    assert base['gap_closure'] == pytest.approx(same['gap_closure'])
    assert base['table2'] == same['table2'] and base['table1'] == same['table1']
    # It corrects the average error but not the per-image one: between none and the oracle.
    assert 0 < base['gap_closure'] < 1
    # A test set whose every s* is the training mean is fully corrected by the constant.
    flat = _fake_frames(20, ['a'] * 20)
    flat.log_scales = np.full(20, base['log_scale'])
    assert rx.train_mean_baseline(train, flat)['table1']['learned']['mae_log'] == \
        pytest.approx(0.0, abs=1e-12)


def test_gap_closed_is_reported_per_test_dataset():
    a, b = _fake_frames(20, ['a'] * 20), _fake_frames(12, ['b'] * 12, seed=1)
    b.specs = ['other']
    both = rx.concat_frames([a, b])
    assert both.sources.tolist() == [0] * 20 + [1] * 12
    assert both.subset([25, 3]).sources.tolist() == [1, 0]
    bounds = (math.log(0.1), math.log(2.0))
    # Right on the first dataset, the training-mean-like constant on the second.
    log_s = np.concatenate([a.log_scales, np.full(12, -0.5)])
    scored = rx.evaluate_predictions(both, log_s, np.zeros(32), bounds, alphas=())
    per = scored['per_source']
    assert [(e['spec'], e['n']) for e in per] == [('fake', 20), ('other', 12)]
    assert per[0]['gap_closure'] == pytest.approx(1.0)
    alone = rx.evaluate_predictions(b, log_s[20:], np.zeros(12), bounds, alphas=())
    assert per[1]['gap_closure'] == pytest.approx(alone['gap_closure'])
    assert per[1]['gap_closure'] < scored['gap_closure'] < 1
    base = rx.train_mean_baseline(a, both)
    assert [e['spec'] for e in base['per_source']] == ['fake', 'other']
    results = {'recipes': {'net': {'runs': [dict(scored, train_gap_closure=1.0)],
                                   'gap_closure_mean': scored['gap_closure'],
                                   'gap_closure_min': scored['gap_closure']}},
               'train_mean_baseline': base, 'train_specs': ['t'], 'n_train': 20,
               'test_specs': both.specs, 'n_test': 32, 'test_recordings': 2, 'seeds': [0]}
    md = rx.report_markdown(results, 'per dataset')
    assert '## Gap closed per test dataset' in md
    assert '| fake (20) | other (12) |' in md
    assert f'| net | 100.0 % | {100 * per[1]["gap_closure"]:.1f} % |' in md
    with pytest.raises(ValueError, match='sources'):
        rx.FrameSet(['x'], ['x'], np.zeros(1), np.zeros((1, 2, 2, 3), np.uint8),
                    np.ones((1, 2, 2)), np.zeros(1), np.ones((1, 4)), np.ones((1, 3)),
                    ['only'], True, 'sim', [], np.array([1]))


def test_tool_runs_both_recipes_on_recordings_and_reports(tmp_path, capsys):
    _write_sevenscenes(tmp_path / 'train_run', 12, seed=1)
    _write_sevenscenes(tmp_path / 'test_run', 8, seed=2)
    out = tmp_path / 'out'
    rc = tool.main(['--out', str(out), '--train-data', f'sevenscenes:{tmp_path / "train_run"}',
                    '--mix-synthetic', '4', '--test-data', f'sevenscenes:{tmp_path / "test_run"}',
                    '--recipes', 'scratch,pretrained', '--seeds', '0', '--workers', '1',
                    '--device', 'cpu', '--threads', '1', '--quiet',
                    '--override', 'scratch:epochs=1', '--override', 'pretrained:epochs=1',
                    '--override', 'pretrained:input_size=[64,64]',
                    '--override', 'scratch:input_size=[64,64]'])
    assert rc == 0, capsys.readouterr().err
    results = json.loads((out / 'results.json').read_text())
    assert set(results['recipes']) == {'scratch', 'pretrained'}
    assert results['n_train'] == 16 and results['n_test'] == 8
    assert results['train_specs'][-1] == 'synthetic:4'
    assert results['environment']['torch_threads'] == 1     # --threads 1: part of the record
    assert results['environment']['device'] == 'cpu'
    run = results['recipes']['pretrained']['runs'][0]
    assert run['stability']['recordings'] == 1
    assert len(results['per_frame']['pretrained_seed0']['log_scale_std']) == 8
    md = (out / 'results.md').read_text()
    assert 'SIMULATED' in md and 'Temporal stability' in md and 'learned (pretrained)' in md
    base = results['train_mean_baseline']
    assert np.isfinite(base['gap_closure']) and base['gap_closure'] <= 1
    assert 'training-mean scale' in md and f'{100 * base["gap_closure"]:.1f} %' in md
    assert (out / 'results.png').stat().st_size > 0 and (out / 'results.csv').is_file()
    assert (out / 'runs' / 'pretrained_seed0' / 'best' / 'model.safetensors').is_file()


def _fold(test_spec, n_test, gaps, constant):
    """Return a fold result shaped as run_experiment returns it (recipe -> per-seed gaps)."""
    return {'test_specs': [test_spec], 'n_test': n_test, 'n_train': 100, 'complete': True,
            'recipes': {name: {'runs': [{'gap_closure': g} for g in seeds],
                               'gap_closure_mean': float(np.mean(seeds))}
                        for name, seeds in gaps.items()},
            'train_mean_baseline': {'gap_closure': constant}}


def test_folds_are_summarised_per_held_out_dataset_and_over_folds():
    folds = [_fold('tum:a', 50, {'scratch': [0.6, 0.8], 'pretrained_small': [0.9]}, 0.5),
             _fold('tum:b', 20, {'scratch': [0.4], 'pretrained_small': [0.5, 0.7]}, 0.8),
             _fold('tum:c', 10, {'scratch': [0.9]}, 0.1)]       # pretrained_small not run yet
    folds[2]['complete'] = False
    summary = loo.summarise_folds(folds)
    scratch, pre = summary['recipes']['scratch'], summary['recipes']['pretrained_small']
    assert scratch['per_fold'] == pytest.approx([0.7, 0.4, 0.9])      # mean over seeds
    assert scratch['mean_over_folds'] == pytest.approx(2.0 / 3)       # each fold weighs 1
    assert scratch['min_over_folds'] == pytest.approx(0.4)
    assert pre['per_fold'][:2] == pytest.approx([0.9, 0.6]) and pre['per_fold'][2] is None
    assert pre['mean_over_folds'] == pytest.approx(0.75)              # folds it ran in
    lead = pre['lead_over_reference']['per_fold']
    assert lead[:2] == pytest.approx([0.2, 0.2]) and lead[2] is None
    assert 'lead_over_reference' not in scratch
    assert summary['train_mean_baseline']['per_fold'] == pytest.approx([0.5, 0.8, 0.1])
    md = loo.summary_markdown(summary, 'LOO')
    assert 'SIMULATED' in md
    assert '| tum:a (50) | 70.0 % | 90.0 % | 50.0 % |' in md
    assert '| tum:c (10) (running) | 90.0 % | – | 10.0 % |' in md
    assert '| **mean over folds** | 66.7 % | 75.0 % | 46.7 % |' in md
    assert '- pretrained_small: +20.0 / +20.0 / – → +20.0' in md
    assert 'SIMULATED' not in loo.summary_markdown(summary, 'LOO', simulated=False)
    with pytest.raises(ValueError, match='at least 2'):
        loo.run_leave_one_out([_fake_frames(3, ['a'] * 3)], ['scratch'], [0], '/nonexistent')


def test_tool_leaves_each_dataset_out_once(tmp_path, capsys, monkeypatch):
    specs = []
    for i, n in enumerate((6, 9, 7)):
        _write_sevenscenes(tmp_path / f'run{i}', n, seed=i)
        specs += ['--data', f'sevenscenes:{tmp_path / f"run{i}"}']
    monkeypatch.setenv('HOME', str(tmp_path))
    out = tmp_path / 'out'
    rc = tool.main(['--out', '~/out'] + specs + [       # a quoted '~' (no shell expanded it)
        '--mix-synthetic', '3', '--recipes', 'scratch', '--seeds', '0', '--workers', '1',
        '--device', 'cpu', '--threads', '1', '--quiet', '--override', 'scratch:epochs=1',
        '--override', 'scratch:input_size=[64,64]', '--require-gap', '1.01'])
    captured = capsys.readouterr()
    assert rc == 3, captured.err                        # no recipe closes 101 % of the gap
    assert 'gap requirement 101 % not met by: scratch' in captured.err
    summary = json.loads((out / 'summary.json').read_text())
    assert [f['test_specs'] for f in summary['folds']] == [[s] for s in specs[1::2]]
    assert [f['n_test'] for f in summary['folds']] == [6, 9, 7]
    assert [f['n_train'] for f in summary['folds']] == [19, 16, 18]   # others + 3 synthetic
    assert all(f['complete'] for f in summary['folds'])
    for k in range(3):
        fold = json.loads((out / f'fold{k}' / 'results.json').read_text())
        assert fold['test_specs'] == [specs[2 * k + 1]] and fold['n_test'] == [6, 9, 7][k]
        assert specs[2 * k + 1] not in fold['train_specs'] and 'synthetic:3' in fold['train_specs']
        assert summary['recipes']['scratch']['per_fold'][k] == pytest.approx(
            fold['recipes']['scratch']['gap_closure_mean'])
        assert summary['train_mean_baseline']['per_fold'][k] == pytest.approx(
            fold['train_mean_baseline']['gap_closure'])
        assert (out / f'fold{k}' / 'runs' / 'scratch_seed0' / 'best').is_dir()
    per_fold = summary['recipes']['scratch']['per_fold']
    assert summary['recipes']['scratch']['mean_over_folds'] == pytest.approx(np.mean(per_fold))
    assert '**mean over folds**' in captured.out
    assert (out / 'summary.png').stat().st_size > 0


@pytest.mark.parametrize('argv,message', [
    (['--test-data', 'synthetic:2'], 'no training data'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--recipes', 'magic'],
     'unknown recipe'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--seeds', 'a'], '--seeds'),
    (['--test-data', 'weird:x', '--mix-synthetic', '2'], 'unknown dataset kind'),
    (['--test-data', 'sevenscenes:/x?depth_scale=5000&every=2', '--mix-synthetic', '2'],
     "'sevenscenes' does not take option 'every'"),
    (['--test-data', 'sevenscenes:/nonexistent', '--mix-synthetic', '2', '--workers', '1'],
     'not found'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--override',
      'pretrained_small:epochs=0'], 'epochs'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--override',
      'pretrained:epochs=3'], 'not trained'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--override', 'scratch:epochs=1.5'],
     'epochs must be an integer >= 1, got 1.5'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--override',
      'scratch:net_options={"members": 0}'],
     'invalid scale network options: members must be an integer in [1, 32], got 0'),
    (['--mix-synthetic', '2'], 'no test data'),
    (['--test-data', 'synthetic:2', '--mix-synthetic', '2', '--device', 'cdua'],
     "--device cdua: invalid device 'cdua'"),
    (['--data', 'synthetic:2'], 'two or more'),
    (['--data', 'synthetic:2', '--data', 'synthetic:3', '--test-data', 'synthetic:4'],
     'not both'),
    (['--data', 'synthetic:2', '--data', 'synthetic:2'], 'same dataset twice'),
    (['--data', 'synthetic:2', '--data', 'synthetic:3', '--workers', '1'],
     'frame name(s) are in two datasets'),
])
def test_tool_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    rc = tool.main(['--out', str(tmp_path / 'o'), '--quiet'] + argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / 'o').exists()     # no empty output folder left behind


def test_overwrite_keeps_the_old_results_when_the_new_data_fail_to_load(tmp_path, capsys):
    out = tmp_path / 'o'
    out.mkdir()
    (out / 'results.md').write_text('the previous run')
    rc = tool.main(['--out', str(out), '--overwrite', '--quiet', '--workers', '1',
                    '--test-data', f'sevenscenes:{tmp_path / "missing"}', '--mix-synthetic', '2'])
    assert rc == 2 and 'not found' in capsys.readouterr().err
    assert (out / 'results.md').read_text() == 'the previous run'
