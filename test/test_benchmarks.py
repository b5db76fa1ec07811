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
The benchmark tools start, refuse bad arguments in one line, and measure what they claim.

No timing is asserted here (speed lives in benchmarks/): the relay floor is checked to answer
with messages of exactly the node's output sizes, and gpu_check.sh's plan is checked by --dry-run.
"""

import importlib
import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH = REPO_ROOT / 'benchmarks'


def _import_bench(name):
    """Import ``benchmarks/<name>.py`` as a module (the folder is not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def _run(args, **kwargs):
    return subprocess.run(args, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.mark.parametrize('args, code, words', [
    ([str(BENCH / 'bench_node.py'), '--fastdds-profile', 'no/such.xml'], 2, 'does not exist'),
    ([str(BENCH / 'bench_node.py'), '--model', 'no/such/dir'], 2, 'not a directory'),
    ([str(BENCH / 'bench_transport.py'), '--settings', 'default,bogus'], 2, 'bogus'),
    ([str(BENCH / 'bench_transport.py'), '--profile', 'no/such.xml'], 2, 'does not exist'),
])
def test_bad_arguments_stop_with_one_line(args, code, words):
    proc = _run([sys.executable] + args)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0]


def test_gpu_check_dry_run_plans_every_step():
    bad = _run(['bash', str(BENCH / 'gpu_check.sh'), '--device', 'tpu'])
    assert bad.returncode == 2 and 'tpu' in bad.stderr
    proc = _run(['bash', str(BENCH / 'gpu_check.sh'), '--dry-run', '--device', 'cpu'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert '[tests]' in out and 'test/test_cuda.py' in out and '-m cuda' in out
    assert '[bench_pipeline]' in out and '--device cpu' in out and '--json' in out
    assert '[bench_node]' in out or 'node benchmark SKIPPED' in out


@pytest.mark.ros
def test_relay_floor_answers_with_the_node_output_sizes(tmp_path, monkeypatch):
    rb = _import_bench('ros_bench')
    env = rb.ros_env(rb.pick_domain_id())
    for name in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE'):
        monkeypatch.setenv(name, env[name])
    relay = rb.Subprocess(rb.relay_command(640, 480, 'full', 'reliable'), env,
                          tmp_path / 'relay.log')
    prober = rb.Prober(640, 480, reliable_input=True, topics=('depth', 'points'))
    sizes = {}

    def on_msg(msg, topic):
        sizes[topic] = (msg.height, msg.width, len(msg.data))
    from sensor_msgs.msg import Image, PointCloud2
    prober.node.create_subscription(Image, 'depth', lambda m: on_msg(m, 'depth'), 10)
    prober.node.create_subscription(PointCloud2, 'points', lambda m: on_msg(m, 'points'), 10)
    try:
        prober.wait_for_peer(relay, 60.0)
        got = prober.lockstep(3, ('depth', 'points'), timeout=20.0)
    finally:
        prober.close()
        code = relay.stop()
    assert got['lost'] == [0.0] and len(got['points']) == 3, relay.log()
    assert all(a > 0 for a in got['depth'] + got['points'])
    assert sizes['depth'] == (480, 640, 480 * 640 * 4)      # 32FC1
    assert sizes['points'] == (480, 640, 480 * 640 * 16)    # x, y, z, rgb float32
    assert code == 0


def test_gpu_check_cuda_tests_collect_without_a_gpu():
    """The GPU run must not die at collection (it did once: a removed module was imported)."""
    proc = _run([sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider',
                 '-m', 'cuda', 'test/test_cuda.py'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'error' not in proc.stdout.lower()
    assert int(proc.stdout.split(' tests collected')[0].split()[-1]) >= 8


def test_bench_node_model_timer_runs_the_frame_processor(tiny_da2_dir):
    ModelTimer = _import_bench('bench_node').ModelTimer
    import torch
    threads = torch.get_num_threads()
    try:
        timer = ModelTimer(str(tiny_da2_dir), 'cpu', 70, 1, 64, 48)
        total, forward = timer.once()
    finally:
        torch.set_num_threads(threads)
    assert timer.pipe.settings.point_decimation == 1 and timer.pipe.scale_source.k == 0.8
    assert 0 < forward <= total


def _gpu_sweep():
    return _import_bench('gpu_sweep')


def test_gpu_sweep_jobs_are_valid_recording_experiment_commands(tmp_path):
    from adaptive_depth.recipes import recipe_config
    from adaptive_depth.tools.recording_experiment import build_parser

    g = _gpu_sweep()
    specs = g._specs(Path('gpu_data'), smoke=False)
    assert specs['dev']['test'] == ['synthetic:100:200000']  # development rooms, not test rooms
    assert specs['test']['test'] == ['synthetic:100:100000']
    # Runs 3 and 4 used pretrained_aux at 20 epochs; a variant's own setting wins.
    then = g.BASE_AT_THE_TIME
    assert g._base('base', then)['epochs'] == 20 and g._base('epochs40', then)['epochs'] == 40
    assert g._base('base', {}) == {}   # today's recipe
    for variant in g.VARIANTS:
        job = g.Job(f'dev_{variant}', 'dev', g.BASE, '0', g._base(variant, then))
        cmd = job.command(specs, tmp_path, 'cpu', smoke=False)
        assert cmd[1:3] == ['-m', 'adaptive_depth.tools.recording_experiment']
        args = build_parser().parse_args(cmd[3:])
        assert args.train_data == ['synthetic:400'] and args.test_data == ['synthetic:100:200000']
        overrides = {}
        for recipe, key, value in args.override:
            assert recipe == g.BASE
            overrides[key] = value
        assert overrides == json.loads(json.dumps(g._base(variant, then)))
        recipe_config(g.BASE, **overrides).validate()
    smoke = g.Job('x', 'real_a', 'pretrained', '0,1', g.REAL_VARIANTS['pre_small'])
    cmd = smoke.command(g._specs(Path('d'), smoke=True), tmp_path, 'cpu', smoke=True)
    assert 'pretrained:epochs=1' in cmd and 'pretrained:input_size=[128, 160]' in cmd


def test_gpu_sweep_chooses_on_development_rooms_only():
    g = _gpu_sweep()
    rows = [{'name': 'dev_base', 'split': 'dev', 'gap_closure_mean': 0.80},
            {'name': 'dev_lite2', 'split': 'dev', 'gap_closure_mean': 0.85},
            {'name': 'dev_combo', 'split': 'dev', 'gap_closure_mean': None},
            {'name': 'test_base_seed2', 'split': 'test', 'gap_closure_mean': 0.99},
            {'name': 'real_a_scratch', 'split': 'real_a', 'gap_closure_mean': 0.95}]
    assert g.choose_variant(rows) == 'lite2'
    assert g.choose_variant(rows[2:]) == 'base'


def test_gpu_sweep_leave_one_out_folds_match_recording_experiment(tmp_path):
    from adaptive_depth.tools.recording_experiment import build_parser

    g = _gpu_sweep()
    specs = g._specs(Path('gpu_data'), smoke=False)
    folds = [k for k in specs if k.startswith('loo_')]
    assert folds == ['loo_office', 'loo_nyu', 'loo_kitchen', 'loo_cabinet']
    every = [spec.format('gpu_data') for _, spec in g.LOO_DATA]
    for fold in folds:
        held = specs[fold]['test']
        assert len(held) == 1 and held[0] in every
        # the other three train, in recording_experiment --data order; the test never trains
        assert specs[fold]['train'] == [s for s in every if s != held[0]]
    job = g.Job('loo_kitchen_pretrained_depth_seed2', 'loo_kitchen', 'pretrained_depth', '2')
    args = build_parser().parse_args(job.command(specs, tmp_path, 'cpu', smoke=False)[3:])
    assert args.test_data == ['sevenscenes:gpu_data/sevenscenes_redkitchen']
    assert len(args.train_data) == 3 and args.recipes == 'pretrained_depth' and args.seeds == '2'
    rows = [{'split': 'loo_office', 'recipe': 'scratch', 'train_mean_baseline': 0.5,
             'runs': [{'gap_closure': 0.9}, {'gap_closure': 0.8}]},
            {'split': 'loo_nyu', 'recipe': 'scratch', 'train_mean_baseline': 0.4,
             'runs': [{'gap_closure': 0.5}]},
            {'split': 'loo_office', 'recipe': 'pretrained', 'train_mean_baseline': 0.5,
             'runs': [{'gap_closure': 0.7}]},
            {'split': 'loo_nyu', 'recipe': 'pretrained', 'train_mean_baseline': 0.4, 'runs': []}]
    table = '\n'.join(g.loo_table(rows))
    assert '| scratch | 85.0 (2) | 50.0 (1) | 67.5 % |' in table
    assert '| pretrained | 70.0 (1) | – | – |' in table  # no mean over an unfinished fold
    assert '| training-mean scale | 50.0 (1) | 40.0 (1) | 45.0 % |' in table
    bad = _run([sys.executable, str(BENCH / 'gpu_sweep.py'), '--out', str(tmp_path / 'o'),
                '--plan', 'loo', '--loo-recipes', 'scratch,bogus'])
    assert bad.returncode == 2 and 'bogus' in bad.stderr.strip().splitlines()[-1]


def test_gpu_sweep_refuses_unknown_variants_and_used_out(tmp_path):
    bad = _run([sys.executable, str(BENCH / 'gpu_sweep.py'), '--out', str(tmp_path / 'o'),
                '--variants', 'base,bogus'])
    assert bad.returncode == 2 and 'bogus' in bad.stderr.strip().splitlines()[-1]
    used = _run([sys.executable, str(BENCH / 'gpu_sweep.py'), '--out', str(tmp_path)])
    assert used.returncode == 2 and 'exists' in used.stderr.strip().splitlines()[-1]


def test_gpu_sweep_wrapper_names_missing_data_and_leaves_no_scratch(tmp_path):
    scratch = tmp_path / 'tmp'
    scratch.mkdir()
    proc = _run(['bash', str(BENCH / 'gpu_sweep.sh'), '--smoke'],
                env={**os.environ, 'GPU_DATA': str(tmp_path / 'none'), 'OUT': str(tmp_path),
                     'TMPDIR': str(scratch)})
    assert proc.returncode == 1
    assert f'no {tmp_path / "none"}/' in proc.stderr and 'prepare_gpu_data.sh' in proc.stderr
    assert list(scratch.iterdir()) == []


def test_bench_forward_modes_times_the_cpu_modes_against_fp32(tmp_path):
    bench_forward_modes = _import_bench('bench_forward_modes')
    out = tmp_path / 'modes.json'
    assert bench_forward_modes.main(['--device', 'cpu', '--input-size', '28', '--repeats', '2',
                                     '--warmup', '0', '--json', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['device'] == 'cpu' and result['network_input'] == '42x28'
    # On the CPU only the eager modes run (graphs and compile need CUDA / are opt-in).
    assert set(result['modes']) == {'autocast', 'half'}
    for row in result['modes'].values():
        assert row['p95_ms'] >= row['p50_ms'] > 0 and row['fps'] > 0
        assert row['rel_diff_max'] == 0.0  # fp32 on the CPU: the same forward as the reference


def test_bench_lens_times_both_clouds_and_each_lens_inverse(tmp_path):
    bench_lens = _import_bench('bench_lens')
    out = tmp_path / 'lens.json'
    assert bench_lens.main(['--repeats', '2', '--size', '64x48', '--json', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['size'] == '64x48' and result['device'] == 'cpu'
    assert set(result['per_frame_p50_ms']) == {'pinhole', 'plumb_bob'}
    assert set(result['rays_once_ms']) == {'plumb_bob', 'rational_polynomial', 'equidistant'}
    assert result['lens_over_pinhole'] > 0 and min(result['rays_once_ms'].values()) > 0
    with pytest.raises(SystemExit):
        bench_lens.main(['--size', '64'])


def test_ground_plane_accuracy_scores_synthetic_rooms_with_their_mount():
    bench = _import_bench('ground_plane_accuracy')
    from adaptive_depth.base_models import SimulatedBaseModel

    rows = bench.synthetic_rows(3, SimulatedBaseModel())
    assert len(rows) == 3 and all(r['oracle'] < r['none'] for r in rows)
    summary = bench.summarise(rows, 'known')
    assert summary['frames'] == 3 and summary['found'] > 0
    assert summary['gap'] > 90.0 and summary['median'] < 0.05  # the known mount, simulated


def test_ground_plane_accuracy_drives_a_robot_through_rooms(capsys):
    bench = _import_bench('ground_plane_accuracy')
    from adaptive_depth.base_models import SimulatedBaseModel

    results = bench.robot_rows(4, SimulatedBaseModel(), (0.8, 10.0, 2.0))
    assert set(results) == {'searched', 'calibrated', 'known'}
    known = results['known']['rows']
    assert len(known) == 4 and any(r['floor'] for r in known)
    assert bench._gap([r for r in known if r['floor']]) > 90.0  # SIMULATED, the mount known
    assert results['calibrated']['mount'] is None  # 4 rooms: fewer than 50 floors
    bench.print_robot(results, (0.8, 10.0, 2.0))
    assert '| calibrated |' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(['--robot-mount', '0.8,10'])


def test_floor_and_network_corrects_a_biased_network_where_no_floor_is_seen(tmp_path, capsys):
    """A network off by +0.4 in ln s everywhere: the floors seen give the offset back."""
    real = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'real_rgbd'
    if not (real / 'tum_fr3_cabinet').is_dir():
        pytest.skip(f'the TUM cabinet recording is not at {real}')
    bench = _import_bench('floor_and_network')
    from adaptive_depth.datasets import open_dataset

    spec = f'tum:{real / "tum_fr3_cabinet"}'
    dataset = open_dataset(spec)
    names = [dataset.sample_name(i) for i in range(0, len(dataset), 3)]
    frames = bench.prepare(spec, names)
    order = bench.recording_order(names, frames['frame'])
    star = np.asarray(frames['log_s_star'])
    got = bench.run_sources(frames, order, star + 0.4, (0.1, 2.0), float(star.mean()), 0.0)
    found = got['found']
    assert 0 < found.sum() < len(names)  # some frames show the floor, some do not
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))  # each frame's position in the replay
    floorless = np.flatnonzero(~found)
    after_a_floor = floorless[rank[floorless] > rank[found].min()]
    q = np.stack(frames['q'])
    assert np.abs(got['floor, network'][after_a_floor] - star[after_a_floor]).max() < 0.1
    assert bench.gaps(q, star, got['floor, network'], floorless) > \
        bench.gaps(q, star, got['network'], floorless) + 20.0
    results = {'test': {'names': names}, 'train_mean_baseline': {'log_scale': -0.7},
               'recipes': {'scratch': {'runs': [{'seed': 0}]}},
               'per_frame': {'scratch_seed0': {'log_scale': (star + 0.4).tolist()}}}
    (tmp_path / 'results.json').write_text(json.dumps(results))
    assert bench.main([str(tmp_path / 'results.json'), spec]) == 0
    out = capsys.readouterr().out
    assert '| scratch seed 0 |' in out and 'mount estimate' in out
    results['test']['names'] = ['elsewhere/000001']
    (tmp_path / 'results.json').write_text(json.dumps(results))
    with pytest.raises(SystemExit, match='has no frame'):
        bench.main([str(tmp_path / 'results.json'), spec])
