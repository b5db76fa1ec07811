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
The shared tool conventions: exit codes, one-line user errors, the --out policy, resumable runs.

docs/tools.md documents the convention these tests hold every tool to: 0 ok, 1 internal error,
2 user error (one line naming the file or option), 3 check failed, 130 interrupted; a used
--out is refused unless --overwrite (or --resume where a run can be continued).
"""

import json
from pathlib import Path
import shutil

from adaptive_depth import oracle_dataset
from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.oracle_dataset import (INCOMPLETE_MARKER, ORACLE_FILES, OracleFormatError,
                                           read_oracle_dir, write_oracle_dir)
from adaptive_depth.scale_net import ScaleNet
from adaptive_depth.tools import (convert_da2_pth, evaluate, generate_oracle, train_scale_net)
from adaptive_depth.tools.common import (check_out, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK,
                                         EXIT_USER, spec_paths, tool_main, UserError)
import numpy as np
import pytest

SIM = ['--data', 'synthetic:8', '--synthetic-size', '60x80', '--simulated', '--no-progress']
NET = ['--recipe', 'paper', '--input-size', '16', '--channels', '4', '--fc', '4',
       '--batch-size', '4', '--val-every', '5', '--device', 'cpu', '--quiet', '--threads', '1']


def _one_error_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'{prog}: error: '), err
    assert '\n' not in err and 'Traceback' not in err, err
    return err


def _files(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob('*')) if p.is_file()}


def test_tool_main_maps_exceptions_to_the_documented_exit_codes(capsys):
    def tool(exc):
        @tool_main('demo_tool', interrupted='stopped; rerun with --resume')
        def main():
            if exc is not None:
                raise exc
            return EXIT_OK
        return main

    assert tool(None)() == 0
    for exc in (UserError('bad --x'), ValueError('line one\n  line two'),
                FileNotFoundError(2, 'No such file or directory', '/a/b')):
        assert tool(exc)() == EXIT_USER == 2
        err = _one_error_line(capsys, 'demo_tool')
    assert err.endswith("No such file or directory: '/a/b'")
    assert tool(ValueError('line one\n  line two'))() == 2
    assert _one_error_line(capsys, 'demo_tool') == 'demo_tool: error: line one line two'
    assert tool(KeyboardInterrupt())() == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == 'demo_tool: stopped; rerun with --resume'
    assert tool(RuntimeError('oops'))() == EXIT_INTERNAL == 1
    err = capsys.readouterr().err
    assert 'Traceback' in err and 'internal error' in err


def test_check_out_policy(tmp_path):
    assert check_out(tmp_path / 'new') == tmp_path / 'new'
    (tmp_path / 'empty').mkdir()
    check_out(tmp_path / 'empty')
    used = tmp_path / 'used'
    used.mkdir()
    (used / 'x').write_text('x')
    with pytest.raises(UserError, match=r'--out .*used already holds files; pass --overwrite'):
        check_out(used)
    with pytest.raises(UserError, match='--resume to continue'):
        check_out(used, resume=False)
    assert check_out(used, overwrite=True) == used and check_out(used, resume=True) == used
    with pytest.raises(UserError, match='not a directory'):
        check_out(used / 'x', overwrite=True)


def _interrupt_after(monkeypatch, calls: int) -> None:
    original = SimulatedBaseModel.predict
    count = {'n': 0}

    def predict(self, sample):
        count['n'] += 1
        if count['n'] > calls:
            raise KeyboardInterrupt
        return original(self, sample)

    monkeypatch.setattr(SimulatedBaseModel, 'predict', predict)


def _same_oracle(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    for name in fa:
        if not name.endswith(('oracle.json', 'manifest.json')):   # these hold times
            assert fa[name] == fb[name], name
    ja, jb = (json.loads(fa['oracle.json']), json.loads(fb['oracle.json']))
    for volatile in ('created', 'elapsed_s', 'command'):
        ja.pop(volatile), jb.pop(volatile)
    assert ja == jb


def test_generate_oracle_interrupted_resumed_equals_clean_and_never_corrupts(
        tmp_path, monkeypatch, capsys):
    clean, run = tmp_path / 'clean', tmp_path / 'run'
    assert generate_oracle.main(SIM + ['--out', str(clean)]) == 0
    # Interrupted at 3 of 8: nothing but cached predictions and the staging folder remain.
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        assert generate_oracle.main(SIM + ['--out', str(run)]) == 130
    assert '--resume' in capsys.readouterr().err
    assert not (run / 'oracle.csv').exists()
    assert generate_oracle.main(SIM + ['--out', str(run)]) == 2          # used --out
    assert '--resume' in _one_error_line(capsys, 'generate_oracle')
    assert generate_oracle.main(SIM + ['--out', str(run), '--resume']) == 0
    assert '3 from the cache' in capsys.readouterr().out
    _same_oracle(clean, run)                                             # byte for byte
    # A finished directory: --resume has nothing to do, and an interrupted --overwrite run
    # leaves it exactly as it was.
    finished = _files(run)
    assert generate_oracle.main(SIM + ['--out', str(run), '--resume']) == 2
    assert 'finished' in _one_error_line(capsys, 'generate_oracle')
    with monkeypatch.context() as m:
        _interrupt_after(m, 0)
        assert generate_oracle.main(['--data', 'synthetic:12'] + SIM[2:]
                                    + ['--out', str(run), '--overwrite']) == 130
    after = _files(run)
    for name in ORACLE_FILES:                        # the cache may have grown; these did not
        assert after[name] == finished[name], name
    assert len(read_oracle_dir(run)) == 8
    assert generate_oracle.main(['--data', 'synthetic:10'] + SIM[2:]
                                + ['--out', str(run), '--overwrite']) == 0
    assert len(read_oracle_dir(run)) == 10 and not (run / '.oracle.partial').exists()


def _toy_oracle_dir(directory: Path, n: int = 8, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 240, 320, 3), dtype=np.uint8)
    scales = np.exp(rng.normal(0, 0.3, n))
    grids = np.full((n, 24, 32), 2.0, np.float32)
    return write_oracle_dir(directory, [f's{i}' for i in range(n)], scales, np.zeros(n),
                            np.full(n, 100), np.ones(n, bool), images, histogram=False,
                            meta={'base_model': {'name': 'toy', 'simulated': True}},
                            depth_grids=grids)


def test_reader_detects_a_directory_whose_parts_disagree(tmp_path, monkeypatch, capsys):
    good = _toy_oracle_dir(tmp_path / 'good')
    assert len(read_oracle_dir(good)) == 8

    def broken(name, edit):
        d = tmp_path / name
        shutil.copytree(good, d)
        edit(d)
        return d

    five_rows = np.zeros((5, 240, 320, 3), np.uint8)
    fewer = broken('rows', lambda d: np.save(d / 'images.npy', five_rows))
    for load in (True, False):
        with pytest.raises(OracleFormatError, match=r'images.npy.*5.*8'):
            read_oracle_dir(fewer, load_images=load)

    def recount(d):
        record = json.loads((d / 'oracle.json').read_text())
        record['counts']['total'] = 9
        (d / 'oracle.json').write_text(json.dumps(record))
    with pytest.raises(OracleFormatError, match='records 9 samples but oracle.csv has 8'):
        read_oracle_dir(broken('counts', recount), load_images=False)
    with pytest.raises(OracleFormatError, match='depth_grid.npy is missing'):
        read_oracle_dir(broken('grid', lambda d: (d / 'depth_grid.npy').unlink()))
    latin = broken('latin', lambda d: (d / 'oracle.csv').write_bytes(
        (d / 'oracle.csv').read_bytes().replace(b's1', b's\xff')))
    with pytest.raises(OracleFormatError, match=r'oracle.csv: not UTF-8 text'):
        read_oracle_dir(latin, load_images=False)
    marked = broken('marker', lambda d: (d / INCOMPLETE_MARKER).write_text('x'))
    with pytest.raises(OracleFormatError, match='incomplete'):
        read_oracle_dir(marked, load_images=False)
    # train_scale_net refuses such a directory with one line and exit 2 (it trained on it).
    assert train_scale_net.main(['--oracle', str(fewer), '--out', str(tmp_path / 't'),
                                 '--epochs', '1'] + NET) == 2
    assert 'images.npy' in _one_error_line(capsys, 'train_scale_net')
    # A writer killed while swapping the new files in leaves the marker behind.
    staging = _toy_oracle_dir(tmp_path / 'staging', n=6)
    real_replace = oracle_dataset.os.replace
    calls = []

    def dying_replace(src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(oracle_dataset.os, 'replace', dying_replace)
    with pytest.raises(KeyboardInterrupt):
        oracle_dataset.commit_oracle_dir(staging, good)
    monkeypatch.undo()
    with pytest.raises(OracleFormatError, match='incomplete'):
        read_oracle_dir(good)


def test_train_scale_net_out_policy_resume_errors_and_interrupts(tmp_path, monkeypatch, capsys):
    oracle = _toy_oracle_dir(tmp_path / 'oracle')
    out = tmp_path / 'net'
    base = ['--oracle', str(oracle), '--out', str(out)] + NET
    # Ctrl-C inside epoch 1: nothing to resume, and the tool says so.
    with monkeypatch.context() as m:
        m.setattr(ScaleNet, 'forward_raw', _raise_keyboard_interrupt)
        assert train_scale_net.main(base + ['--epochs', '3']) == 130
    assert 'nothing can be resumed' in capsys.readouterr().err
    assert train_scale_net.main(base + ['--epochs', '3']) == 2            # used --out
    _one_error_line(capsys, 'train_scale_net')
    # Ctrl-C in epoch 2 (2 batches an epoch): --resume continues from epoch 1.
    original = ScaleNet.forward_raw
    count = {'n': 0}

    def forward(self, x):
        count['n'] += 1
        if count['n'] == 3:
            raise KeyboardInterrupt
        return original(self, x)

    with monkeypatch.context() as m:
        m.setattr(ScaleNet, 'forward_raw', forward)
        assert train_scale_net.main(base + ['--epochs', '3', '--overwrite']) == 130
    assert 'continue with --resume' in capsys.readouterr().err
    assert train_scale_net.main(base + ['--epochs', '3', '--resume']) == 0
    history = json.loads((out / 'history.json').read_text())
    assert [e['epoch'] for e in history['epochs']] == [1, 2, 3]
    # a negative thread count is an argument error, not a crash
    with pytest.raises(SystemExit) as info:
        train_scale_net.main(base + ['--epochs', '3', '--threads', '-2'])
    assert info.value.code == 2
    assert 'expected an integer >= 0, got -2' in capsys.readouterr().err
    # --resume with other network options, other oracle data, and a truncated state file.
    assert train_scale_net.main(base + ['--epochs', '4', '--resume', '--fc', '8']) == 2
    assert 'network options differ' in _one_error_line(capsys, 'train_scale_net')
    other = _toy_oracle_dir(tmp_path / 'other', seed=1)  # as many samples, other scales
    swapped = ['--oracle', str(other), '--out', str(out)] + NET
    assert train_scale_net.main(swapped + ['--epochs', '4', '--resume']) == 2
    assert 'oracle data differ' in _one_error_line(capsys, 'train_scale_net')
    state = out / 'last' / 'training_state.pt'
    state.write_bytes(state.read_bytes()[:100])
    assert train_scale_net.main(base + ['--epochs', '4', '--resume']) == 2
    err = _one_error_line(capsys, 'train_scale_net')
    assert 'training_state.pt' in err and 'truncated or corrupt' in err
    # --overwrite starts from scratch: nothing of the old run is left beside the new one.
    (out / 'checkpoints' / 'epoch_0099').mkdir(parents=True)
    assert train_scale_net.main(base + ['--epochs', '1', '--overwrite']) == 0
    assert not (out / 'checkpoints' / 'epoch_0099').exists()


def _raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_evaluate_refuses_a_used_out(tmp_path, capsys):
    oracle = tmp_path / 'oracle'
    assert generate_oracle.main(SIM + ['--out', str(oracle)]) == 0
    out = tmp_path / 'eval'
    argv = ['--split', f'test={oracle}', '--out', str(out), '--overlay-samples', '0', '--quiet']
    assert evaluate.main(argv) == 0
    (out / 'stale.txt').write_text('from an earlier run')
    assert evaluate.main(argv) == 2
    assert '--overwrite' in _one_error_line(capsys, 'evaluate')
    assert evaluate.main(argv + ['--overwrite']) == 0
    assert not (out / 'stale.txt').exists() and (out / 'table2.json').is_file()


def test_an_out_that_is_or_holds_an_input_is_refused_even_with_overwrite(tmp_path, capsys):
    oracle = _toy_oracle_dir(tmp_path / 'runs' / 'oracle')
    before = _files(oracle)
    for out in (oracle, tmp_path / 'runs'):  # the input itself, and a folder that holds it
        argv = ['--oracle', str(oracle), '--out', str(out), '--overwrite'] + NET
        assert train_scale_net.main(argv + ['--epochs', '1']) == 2
        assert 'is or holds the input' in _one_error_line(capsys, 'train_scale_net')
        argv = ['--split', f'test={oracle}', '--out', str(out), '--overwrite', '--quiet']
        assert evaluate.main(argv) == 2
        assert 'is or holds the input' in _one_error_line(capsys, 'evaluate')
    assert _files(oracle) == before  # nothing was deleted
    folder = tmp_path / 'frames'
    folder.mkdir()
    assert generate_oracle.main(['--data', f'folder:{folder}', '--simulated', '--out',
                                 str(tmp_path), '--overwrite']) == 2
    assert 'is or holds the input' in _one_error_line(capsys, 'generate_oracle')
    with pytest.raises(UserError, match='--metrics-dir .* is or holds the input'):
        check_out(tmp_path, option='--metrics-dir', inputs=[None, folder])
    assert check_out(tmp_path / 'elsewhere', inputs=[folder]) == tmp_path / 'elsewhere'
    assert spec_paths([f'folder:{folder}?depth_scale=1000', 'synthetic:4',
                       f'tum:{tmp_path / "missing"}']) == [folder]


def test_convert_da2_pth_user_errors(tmp_path, capsys):
    pth = tmp_path / 'vits.pth'
    pth.write_bytes(b'')
    existing = tmp_path / 'existing_file'
    existing.write_text('keep me')
    cases = [
        ([str(pth), str(tmp_path / 'o')], 'is empty'),
        ([str(tmp_path), str(tmp_path / 'o')], 'is a directory'),
        ([str(pth), str(existing)], 'not a directory'),
        ([str(pth), str(existing), '--overwrite'], 'not a directory'),
        ([str(pth), str(tmp_path)], 'already holds files'),
        ([str(pth), str(existing / 'model')], str(existing)),          # unwritable output
    ]
    for argv, message in cases:
        assert convert_da2_pth.main(argv) == 2, argv
        assert message in _one_error_line(capsys, 'convert_da2_pth')
    assert existing.read_text() == 'keep me'
    pth.write_bytes(b'garbage, not a zip or pickle')
    assert convert_da2_pth.main([str(pth), str(tmp_path / 'o')]) == 2
    assert 'weights_only' in _one_error_line(capsys, 'convert_da2_pth')
    assert not (tmp_path / 'o').exists()


def test_corrupt_or_mistyped_da2_checkpoints_are_one_line_errors(
        tmp_path, tiny_da2_dir, capsys):
    garbage = tmp_path / 'garbage'
    shutil.copytree(tiny_da2_dir, garbage)
    (garbage / 'model.safetensors').write_bytes(b'\x00garbage' * 64)
    mistyped = tmp_path / 'mistyped'
    shutil.copytree(tiny_da2_dir, mistyped)
    config = json.loads((mistyped / 'config.json').read_text())
    config['fusion_hidden_size'] = 'sixty-four'
    (mistyped / 'config.json').write_text(json.dumps(config))
    for model in (garbage, mistyped):
        argv = ['--data', 'synthetic:2', '--synthetic-size', '60x80', '--model', str(model),
                '--device', 'cpu', '--input-size', '28', '--no-progress',
                '--out', str(tmp_path / f'o_{model.name}')]
        assert generate_oracle.main(argv) == 2
        assert str(model) in _one_error_line(capsys, 'generate_oracle')
