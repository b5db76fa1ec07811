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

"""End-to-end CLI tests: generate_oracle → train_scale_net → evaluate (synthetic and NYU)."""

import csv
import json
from pathlib import Path
import subprocess
import sys

import adaptive_depth
from adaptive_depth.tools import evaluate, generate_oracle, synthetic_experiment, \
    train_scale_net
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
NYU = SHARED / 'data' / 'nyu_test_sample'
SMALL_NET = ['--recipe', 'paper', '--input-size', '32x40', '--channels', '8,16', '--fc', '16',
             '--batch-size', '8', '--quiet']


def _rows(path: Path):
    with open(path, newline='') as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope='module')
def synthetic_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('cli')
    for split, spec in (('train', 'synthetic:24'), ('test', 'synthetic:6:100000')):
        rc = generate_oracle.main(['--data', spec, '--synthetic-size', '120x160', '--simulated',
                                   '--out', str(root / f'oracle_{split}'), '--no-progress'])
        assert rc == 0
    rc = train_scale_net.main(['--oracle', str(root / 'oracle_train'), '--out',
                               str(root / 'net'), '--epochs', '4', '--val-every', '2',
                               '--checkpoint-every', '2'] + SMALL_NET)
    assert rc == 0
    rc = evaluate.main(['--checkpoint', str(root / 'net'), '--split',
                        f'train={root / "oracle_train"}', '--split',
                        f'test={root / "oracle_test"}', '--out', str(root / 'eval'),
                        '--overlay-samples', '1', '--overlay-stride', '8', '--quiet'])
    assert rc == 0
    return root


def test_cli_pipeline_writes_everything(synthetic_run):
    root = synthetic_run
    for name in ('best/model.safetensors', 'last/training_state.pt', 'loss_curve.png',
                 'history.json', 'checkpoints/epoch_0002/config.json'):
        assert (root / 'net' / name).is_file(), name
    history = json.loads((root / 'net' / 'history.json').read_text())
    assert [e['epoch'] for e in history['epochs']] == [1, 2, 3, 4]
    assert history['simulated_base_model'] is True
    ev = root / 'eval'
    for name in ('table1.md', 'table1.csv', 'table1.json', 'table2.md', 'table2.csv',
                 'table2.json', 'per_sample.csv', 'scale_scatter.png'):
        assert (ev / name).is_file(), name
    overlays = sorted((ev / 'overlays').glob('test_*'))
    assert any(p.name.endswith('_overlay.png') for p in overlays)
    assert sum(p.suffix == '.ply' for p in overlays) == 4
    assert 'SIMULATED base model' in (ev / 'table2.md').read_text()
    assert 'SIMULATED base model' in (ev / 'table1.md').read_text()


def test_cli_pipeline_numbers_are_sane(synthetic_run):
    ev = synthetic_run / 'eval'
    rows = {(r['split'], r['method']): r for r in _rows(ev / 'table2.csv')}
    # A split named train gives the training-mean scale, scored on every split.
    assert set(rows) == {(s, m) for s in ('train', 'test')
                         for m in ('none', 'oracle', 'learned', 'train_mean')}
    t2 = json.loads((ev / 'table2.json').read_text())
    assert 0.1 <= t2['train_mean_scale'] <= 2.0 and t2['baseline_split'] == 'train'
    gap = t2['splits']['test']['train_mean_gap_closure']
    assert gap is not None and gap < 1.0   # a constant cannot match the per-image oracle
    assert float(rows[('test', 'train_mean')]['gap_closure']) == pytest.approx(gap)
    for split in ('train', 'test'):
        none, oracle = rows[(split, 'none')], rows[(split, 'oracle')]
        assert float(oracle['abs_rel']) < float(none['abs_rel'])
        assert 0.0 < float(oracle['abs_rel']) < 0.2
        for r in (none, oracle, rows[(split, 'learned')]):
            assert 0.0 <= float(r['delta1']) <= float(r['delta2']) <= float(r['delta3']) <= 1.0
            assert r['simulated_base_model'] == 'True'
    per = _rows(ev / 'per_sample.csv')
    assert len(per) == 24 + 6
    assert all(0.1 <= float(r['learned_scale']) <= 2.0 for r in per)
    t1 = json.loads((ev / 'table1.json').read_text())
    assert {(r['split'], r['method']) for r in t1['rows']} >= {('test', 'learned')}


def test_cli_resume_and_user_errors(synthetic_run, tmp_path, capsys):
    root = synthetic_run
    rc = train_scale_net.main(['--oracle', str(root / 'oracle_train'), '--out',
                               str(root / 'net'), '--epochs', '5', '--resume'] + SMALL_NET)
    assert rc == 0
    history = json.loads((root / 'net' / 'history.json').read_text())
    assert [e['epoch'] for e in history['epochs']] == [1, 2, 3, 4, 5]
    capsys.readouterr()
    assert train_scale_net.main(['--oracle', str(tmp_path / 'nope'), '--out',
                                 str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'nope' in err and 'Traceback' not in err
    assert evaluate.main(['--checkpoint', str(tmp_path / 'missing'), '--split',
                          f'test={root / "oracle_test"}', '--out', str(tmp_path / 'e')]) == 2
    assert 'missing' in capsys.readouterr().err
    assert evaluate.main(['--split', f'test={root / "oracle_test"}', '--baseline-split', 'dev',
                          '--out', str(tmp_path / 'e')]) == 2
    assert "--baseline-split 'dev' is not one of the splits" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        evaluate.main(['--split', 'no-equals-sign', '--out', str(tmp_path / 'e')])
    assert exc.value.code == 2
    assert 'NAME=ORACLE_DIR' in capsys.readouterr().err
    # as a subprocess: a user error gives a message, no traceback, non-zero status
    proc = subprocess.run([sys.executable, '-m', 'adaptive_depth.tools.train_scale_net',
                           '--oracle', str(tmp_path / 'nope'), '--out', str(tmp_path / 'o'),
                           '--epochs', '0'], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr and 'train_scale_net: error' in proc.stderr


def test_synthetic_experiment_runs_all_stages_and_checks_the_gap(tmp_path, capsys):
    out = tmp_path / 'exp'
    tiny = ['--out', str(out), '--train-scenes', '12', '--test-scenes', '3', '--size', '60x80',
            '--epochs', '2', '--input-size', '32x32', '--channels', '8,16', '--fc', '8',
            '--batch-size', '8', '--overlay-samples', '0', '--quiet']
    assert synthetic_experiment.main(tiny + ['--require-gap', '-1000']) == 0
    summary = json.loads((out / 'experiment.json').read_text())
    assert summary['passed'] is True and summary['simulated_base_model'] is True
    assert set(summary['seconds']) == {'generate_oracle_train', 'generate_oracle_test',
                                       'train_scale_net', 'evaluate'}
    table2 = json.loads((out / 'eval' / 'table2.json').read_text())
    assert summary['gap_closure_test'] == table2['splits']['test']['gap_closure']
    assert summary['train_mean_gap_closure_test'] == \
        table2['splits']['test']['train_mean_gap_closure']
    history = json.loads((out / 'scale_net' / 'history.json').read_text())
    assert history['config']['rotate_deg'] == 6.0 and history['config']['channel_shuffle']
    # The default recipe: auxiliary depth loss, flip test-time averaging, no percentile filter.
    assert history['config']['aux_depth_weight'] == 3.0
    assert all(e['train_aux_depth_loss'] > 0 for e in history['epochs'])
    net_cfg = json.loads((out / 'scale_net' / 'best' / 'config.json').read_text())
    assert net_cfg['test_time_flip'] is True and net_cfg['aux_depth_block'] == 1
    assert net_cfg['members'] == 3
    test_names = {r['name'] for r in _rows(out / 'oracle_test' / 'oracle.csv')}
    split = json.loads((out / 'scale_net' / 'split.json').read_text())
    assert not test_names & set(split['train'] + split['val'])  # no test leakage
    assert test_names == {f'synthetic/{100000 + i}' for i in range(3)}
    assert len(split['train'] + split['val']) == 12 and not split['excluded_not_kept']
    # An unreachable requirement fails with status 3 (check failed); bad options with 2.
    assert synthetic_experiment.main(tiny + ['--reuse', '--require-gap', '1000']) == 3
    assert 'SIMULATED' in capsys.readouterr().out
    # --reuse with another number of scenes would reuse the wrong oracle: refused
    assert synthetic_experiment.main(tiny[:3] + ['20'] + tiny[4:] + ['--reuse']) == 2
    err = capsys.readouterr().err
    assert "was made with '--data synthetic:12" in err and 'synthetic:20' in err
    assert synthetic_experiment.main(tiny + ['--channels', '8,x']) == 2
    assert "bad list '8,x'" in capsys.readouterr().err
    # A device this machine lacks is refused before any oracle is generated.
    fresh = tmp_path / 'never_made'
    assert synthetic_experiment.main(['--out', str(fresh), '--device', 'cdua', '--quiet']) == 2
    assert "--device cdua: invalid device 'cdua'" in capsys.readouterr().err
    assert not fresh.exists()
    # The checkpoint records what its floating-point results depend on.
    env = net_cfg['metadata']['environment']
    assert env['torch'] == torch.__version__ and env['device'] == 'cpu'
    assert env['torch_threads'] >= 1 and env['adaptive_depth'] == adaptive_depth.__version__
    # Synthetic rooms are one 'recording' (synthetic/NNNNNN): no recording-wise hold-out.
    assert train_scale_net.main(['--oracle', str(out / 'oracle_train'), '--out',
                                 str(tmp_path / 'byrec'), '--val-split', 'recording']
                                + SMALL_NET) == 2
    err = capsys.readouterr().err
    assert "val_split 'recording' needs two or more recordings" in err and 'synthetic' in err
    # An oracle directory from before the depth grids cannot feed the auxiliary loss.
    (out / 'oracle_train' / 'depth_grid.npy').unlink()
    record = json.loads((out / 'oracle_train' / 'oracle.json').read_text())
    del record['depth_grid_size']
    (out / 'oracle_train' / 'oracle.json').write_text(json.dumps(record))
    assert train_scale_net.main(['--oracle', str(out / 'oracle_train'), '--out',
                                 str(tmp_path / 'aux'), '--aux-depth-weight', '3']
                                + SMALL_NET) == 2
    err = capsys.readouterr().err
    assert 'depth_grid.npy' in err and 'aux_depth_weight' in err


def test_nyu_frames_with_tiny_depth_anything(tmp_path):
    if not NYU.is_dir():
        pytest.skip(f'shared NYU frames not found at {NYU} (developer data folder absent)')
    from adaptive_depth.testing import make_untrained_depth_anything

    model = make_untrained_depth_anything(tmp_path / 'da2_tiny', size='tiny')
    rc = generate_oracle.main(['--data', f'nyu-folder:{NYU}', '--model', str(model),
                               '--device', 'cpu', '--input-size', '140', '--no-filter',
                               '--out', str(tmp_path / 'oracle'), '--no-progress'])
    assert rc == 0
    rc = train_scale_net.main(['--oracle', str(tmp_path / 'oracle'), '--out',
                               str(tmp_path / 'net'), '--epochs', '2', '--val-fraction', '0.2']
                              + SMALL_NET)
    assert rc == 0
    rc = evaluate.main(['--checkpoint', str(tmp_path / 'net' / 'best'), '--split',
                        f'test={tmp_path / "oracle"}', '--out', str(tmp_path / 'eval'),
                        '--max-depth', '10', '--overlay-samples', '1', '--overlay-stride', '16',
                        '--quiet'])
    assert rc == 0
    t2 = json.loads((tmp_path / 'eval' / 'table2.json').read_text())
    assert t2['simulated_base_model'] is False
    assert t2['splits']['test']['n'] == 10
    per = _rows(tmp_path / 'eval' / 'per_sample.csv')
    assert len({r['name'] for r in per}) == 10
    assert all(0.1 <= float(r['learned_scale']) <= 2.0 for r in per)
    for r in per:
        assert float(r['oracle_w1']) <= float(r['none_w1']) + 1e-6
    assert 'SIMULATED' not in (tmp_path / 'eval' / 'table2.md').read_text()


def test_training_on_two_recordings_holds_out_a_whole_one(tmp_path, capsys):
    real = SHARED / 'data' / 'real_rgbd'
    if not real.is_dir():
        pytest.skip(f'shared real recordings not found at {real} (developer data folder absent)')
    oracles = []
    for spec in ('sevenscenes:sun3d_office', 'tum:tum_fr3_cabinet'):
        kind, folder = spec.split(':')
        out = tmp_path / folder
        assert generate_oracle.main(['--data', f'{kind}:{real / folder}', '--simulated',
                                     '--no-filter', '--limit', '6', '--out', str(out),
                                     '--no-progress']) == 0
        oracles += ['--oracle', str(out)]
    assert train_scale_net.main(oracles + ['--out', str(tmp_path / 'net'), '--epochs', '1',
                                           '--val-split', 'recording', '--val-fraction', '0.4']
                                + SMALL_NET) == 0
    split = json.loads((tmp_path / 'net' / 'split.json').read_text())
    assert len(split['train']) + len(split['val']) == 12
    assert split['val_recordings'] and all(
        name.rsplit('/', 1)[0] in split['val_recordings'] for name in split['val'])
    assert not any(name.rsplit('/', 1)[0] in split['val_recordings'] for name in split['train'])
    config = json.loads((tmp_path / 'net' / 'best' / 'config.json').read_text())
    assert ' + ' in config['metadata']['dataset']['spec']
