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

"""Tests of the replay_bag tool: offline output bag, metrics, live mode through a real node."""

import contextlib
import csv
import json
import os
from pathlib import Path
import random
import shutil
import time

from adaptive_depth import bagio
from adaptive_depth.bagio import BagReader
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.lens import make_distortion
from adaptive_depth.metrics import depth_metrics
from adaptive_depth.oracle import optimal_scale
from adaptive_depth.ros import conversions
from adaptive_depth.scale_net import save_scale_net, ScaleNet, ScaleNetConfig
from adaptive_depth.synthetic import render_scene
from adaptive_depth.testing import write_rgbd_bag
from adaptive_depth.tools import replay_bag
import numpy as np
import pytest
import torch

W, H = 160, 120
N_FRAMES = 5
FIXED = 0.6
COLOR = '/camera/color/image_raw'
INFO = '/camera/color/camera_info'
DEPTH = '/camera/aligned_depth_to_color/image_raw'
NS = '/adaptive_depth'
LENS = make_distortion('plumb_bob', [-0.25, 0.07, 0.001, -0.0005, 0.0])
OUT_TOPICS = {f'{NS}/depth': bagio.IMAGE, f'{NS}/depth/camera_info': bagio.CAMERA_INFO,
              f'{NS}/points': bagio.POINT_CLOUD2, f'{NS}/scale': bagio.VECTOR3_STAMPED}


@contextlib.contextmanager
def _ros_env_restored():
    """Put back the ROS variables that a live replay sets in this process's environment."""
    keys = ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')
    old = {k: os.environ.get(k) for k in keys}
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope='module')
def scenes():
    return [render_scene(seed, width=W, height=H) for seed in range(N_FRAMES)]


@pytest.fixture(scope='module')
def ros1_bag(tmp_path_factory, scenes):
    return write_rgbd_bag(tmp_path_factory.mktemp('in') / 'rec.bag', scenes, storage='ros1',
                          depth_offset_ns=4_000_000)


def _params(**values):
    out = []
    for name, value in values.items():
        out += ['--param', f'{name}:={value}']
    return out


def _args(bag, out, model, *extra):
    return [str(bag), '--out', str(out), *_params(model=model, device='cpu', input_size=70,
                                                  scale_source='fixed', fixed_scale=FIXED,
                                                  max_depth=50.0), *extra]


@pytest.fixture(scope='module')
def offline_out(tmp_path_factory, ros1_bag, tiny_da2_dir):
    out = tmp_path_factory.mktemp('offline') / 'replayed'
    assert replay_bag.main(_args(ros1_bag, out, tiny_da2_dir)) == 0
    return out


def _read(bag_path, topics):
    """Return {topic: [(log_time, msg), ...]} for the given topics."""
    got = {t: [] for t in topics}
    with BagReader(bag_path) as reader:
        for topic, log_time, msg in reader._iter_messages(list(topics)):
            got[topic].append((log_time, msg))
    return got


def _stamp(msg):
    return bagio.stamp_to_ns(msg.header)


def test_offline_output_bag(offline_out, ros1_bag, scenes):
    with BagReader(offline_out) as out, BagReader(ros1_bag) as inp:
        out_topics = out.topics
        in_topics = inp.topics
        assert not out.is_ros1
    assert list(offline_out.glob('*.mcap'))
    # inputs copied with their counts, outputs under the node's names, one per frame
    for name, info in in_topics.items():
        assert out_topics[name].count == info.count and out_topics[name].msgtype == info.msgtype
    for name, msgtype in OUT_TOPICS.items():
        assert out_topics[name].msgtype == msgtype
        assert out_topics[name].count == N_FRAMES
    got = _read(offline_out, [COLOR, INFO] + list(OUT_TOPICS))
    in_stamps = [_stamp(m) for _, m in got[COLOR]]
    in_logs = [lt for lt, _ in got[COLOR]]
    for name in OUT_TOPICS:
        msgs = got[name]
        assert [_stamp(m) for _, m in msgs] == in_stamps
        assert {m.header.frame_id for _, m in msgs} == {'camera_color_optical_frame'}
        # recorded after the input image (log time = input log time + latency)
        assert all(lt >= lt_in for (lt, _), lt_in in zip(msgs, in_logs))
    depth_msg = got[f'{NS}/depth'][0][1]
    assert (depth_msg.encoding, depth_msg.height, depth_msg.width) == ('32FC1', H, W)
    info = got[f'{NS}/depth/camera_info'][0][1]
    np.testing.assert_allclose(np.asarray(info.k).reshape(3, 3), scenes[0].intrinsics.matrix)
    cloud = got[f'{NS}/points'][0][1]
    assert (cloud.height, cloud.width, cloud.point_step) == (H, W, 16)
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb']
    # the cloud's z equals the published depth
    pts = np.frombuffer(cloud.data.tobytes(), '<f4').reshape(H, W, 4)
    depth = conversions.image_msg_to_depth(depth_msg)
    np.testing.assert_array_equal(pts[..., 2], depth)
    scales = [m.vector.x for _, m in got[f'{NS}/scale']]
    assert scales == [pytest.approx(FIXED)] * N_FRAMES
    assert np.isfinite(depth).mean() > 0.9


def _raw_depths(model, scenes):
    """Return the raw (unscaled) DA2 depth of every scene, as the replay's processor makes it."""
    probe = FrameProcessor.from_paths(str(model), scale_source='none', device='cpu',
                                      input_size=70)
    return [probe.process(sc.rgb, return_raw=True).raw_depth for sc in scenes]


def _protocol_metrics(raw, s, gt, max_depth, min_depth=1e-3):
    """Return the protocol's metrics, written out: GT pixels in (min, max], clipped."""
    mask = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
    return depth_metrics(np.clip(raw * np.float32(s), min_depth, max_depth), gt, mask), mask


def _rows(mdir):
    with open(mdir / 'frames.csv', newline='') as fh:
        return list(csv.DictReader(fh))


def test_offline_metrics_match_depth_metrics(offline_out, ros1_bag, tiny_da2_dir, scenes):
    mdir = offline_out / 'metrics'
    assert {p.name for p in mdir.iterdir()} >= {'frames.csv', 'summary.json', 'summary.md',
                                                'timeline.png'}
    assert (mdir / 'timeline.png').stat().st_size > 1000
    rows = _rows(mdir)
    assert len(rows) == 3 * N_FRAMES
    assert {r['label'] for r in rows} == {'UNTRAINED DA2 weights'}   # tiny DA2: random weights
    raws = _raw_depths(tiny_da2_dir, scenes)
    by = {(int(r['stamp_ns']), r['method']): r for r in rows}
    got = _read(offline_out, [f'{NS}/depth', DEPTH])
    gts = {_stamp(m): conversions.image_msg_to_depth(m) for _, m in got[DEPTH]}
    gt_stamps = sorted(gts)
    fixed_abs_rel = []
    for i, (_, msg) in enumerate(got[f'{NS}/depth']):
        stamp = _stamp(msg)
        pred = conversions.image_msg_to_depth(msg)
        gt = gts[gt_stamps[i]]  # depth is 4 ms after its colour frame
        raw = raws[i]
        np.testing.assert_allclose(pred, raw * np.float32(FIXED), rtol=1e-5)
        mask = np.isfinite(gt) & (gt > 1e-3) & (gt <= 50.0)
        expected = {'fixed': FIXED, 'none': 1.0, 'oracle': optimal_scale(raw, gt, mask)}
        for method, s in expected.items():
            row = by[(stamp, method)]
            m = _protocol_metrics(raw, s, gt, 50.0)[0]
            assert float(row['coverage']) == 1.0   # max_depth 50 m cuts nothing here
            assert float(row['abs_rel']) == pytest.approx(m['abs_rel'], rel=1e-5)
            assert float(row['rmse']) == pytest.approx(m['rmse'], rel=1e-5)
            assert float(row['delta1']) == pytest.approx(m['delta1'], abs=1e-9)
            assert float(row['scale']) == pytest.approx(s, rel=1e-6)
            assert float(row['latency_ms']) > 0
        fixed_abs_rel.append(float(by[(stamp, 'fixed')]['abs_rel']))
    summary = json.loads((mdir / 'summary.json').read_text())
    assert summary['frames_with_ground_truth'] == N_FRAMES
    assert set(summary['methods']) == {'fixed', 'none', 'oracle'}
    assert summary['methods']['fixed']['abs_rel'] == pytest.approx(np.mean(fixed_abs_rel))
    assert summary['methods']['fixed']['jitter_std_dlog_s'] == pytest.approx(0.0, abs=1e-12)
    oracle_s = [float(by[(_stamp(m), 'oracle')]['scale']) for _, m in got[f'{NS}/depth']]
    assert summary['methods']['oracle']['jitter_std_dlog_s'] == pytest.approx(
        np.std(np.diff(np.log(oracle_s))))
    assert summary['methods']['oracle']['jitter_max_abs_ds'] == pytest.approx(
        np.max(np.abs(np.diff(oracle_s))))
    # the oracle scale is never worse than no scaling in W1, so its AbsRel should be far lower
    assert summary['methods']['oracle']['abs_rel'] < summary['methods']['none']['abs_rel']
    md = (mdir / 'summary.md').read_text()
    assert '| fixed |' in md and '| oracle |' in md and '| none |' in md
    assert 'UNTRAINED DA2 weights' in md and summary['label'] == 'UNTRAINED DA2 weights'
    assert summary['coverage'] == {'mean': 1.0, 'min': 1.0}
    assert summary['protocol'] == {'min_depth': 1e-3, 'max_depth': 50.0, 'crop': 'none'}


def test_cut_pixels_are_scored_and_baselines_ignore_the_scale_source(
        tmp_path, ros1_bag, tiny_da2_dir, scale_checkpoint, scenes):
    """Issue 12 item 11: NaN'd far pixels still count (clipped), coverage < 1 is reported."""
    cut = 4.5   # the tiny DA2 gives 6-10.5 m raw; x0.6 puts most pixels beyond 4.5 m
    runs = {}
    for name, params in (('fixed', {'scale_source': 'fixed', 'fixed_scale': FIXED}),
                         ('none', {'scale_source': 'none'}),
                         ('learned', {'scale_source': 'learned',
                                      'scale_checkpoint': scale_checkpoint})):
        out = tmp_path / name
        argv = [str(ros1_bag), '--out', str(out),
                *_params(model=tiny_da2_dir, device='cpu', input_size=70, max_depth=cut,
                         publish_points='false', **params)]
        assert replay_bag.main(argv) == 0
        runs[name] = (out, _rows(out / 'metrics'),
                      json.loads((out / 'metrics' / 'summary.json').read_text()))
    out, rows, summary = runs['fixed']
    raws = _raw_depths(tiny_da2_dir, scenes)
    got = _read(out, [f'{NS}/depth', DEPTH])
    coverages = []
    for i, ((_, dmsg), (_, gmsg)) in enumerate(zip(got[f'{NS}/depth'], got[DEPTH])):
        published = conversions.image_msg_to_depth(dmsg)
        gt = conversions.image_msg_to_depth(gmsg)
        m, mask = _protocol_metrics(raws[i], FIXED, gt, cut)
        cut_here = mask & ~np.isfinite(published)
        assert cut_here.sum() > 100   # the node NaN'd pixels that have ground truth ...
        row = next(r for r in rows if int(r['stamp_ns']) == _stamp(dmsg)
                   and r['method'] == 'fixed')
        # ... and they are in the score, clipped to the range (not dropped)
        assert float(row['abs_rel']) == pytest.approx(m['abs_rel'], rel=1e-5)
        only_published = depth_metrics(published, gt, mask)['abs_rel']
        assert float(row['abs_rel']) != pytest.approx(only_published, rel=1e-3)
        coverage = 1.0 - cut_here.sum() / mask.sum()
        assert float(row['coverage']) == pytest.approx(coverage)
        coverages.append(coverage)
    assert summary['coverage']['mean'] == pytest.approx(np.mean(coverages))
    assert summary['coverage']['mean'] < 0.9
    assert 'Coverage' in (out / 'metrics' / 'summary.md').read_text()
    # the baselines come from the raw DA2 depth: identical whatever the node's scale source
    for baseline in ('none', 'oracle'):
        per_run = {name: [(r['stamp_ns'], r['abs_rel'], r['rmse'], r['delta1'], r['scale'])
                          for r in rows_ if r['method'] == baseline]
                   for name, (_, rows_, _) in runs.items()}
        assert per_run['fixed'] == per_run['none'] == per_run['learned'], baseline
        assert len(per_run['none']) == N_FRAMES
        means = {name: s['methods'][baseline]['abs_rel'] for name, (_, _, s) in runs.items()}
        assert means['fixed'] == means['none'] == means['learned']
    assert runs['learned'][2]['methods']['learned']['abs_rel'] != \
        runs['fixed'][2]['methods']['fixed']['abs_rel']


def test_every_and_metrics_dir(tmp_path, ros1_bag, tiny_da2_dir):
    out = tmp_path / 'every2'
    mdir = tmp_path / 'm'
    assert replay_bag.main(_args(ros1_bag, out, tiny_da2_dir, '--every', '2',
                                 '--param', 'publish_points:=false',
                                 '--metrics-dir', str(mdir))) == 0
    with BagReader(out) as reader:
        topics = reader.topics
    assert topics[f'{NS}/depth'].count == 3 and f'{NS}/points' not in topics
    assert topics[COLOR].count == N_FRAMES  # inputs are copied whole
    assert not (out / 'metrics').exists()
    assert json.loads((mdir / 'summary.json').read_text())['frames_with_ground_truth'] == 3


def _leftovers(directory: Path):
    return sorted(p.name for p in directory.iterdir())


def test_user_errors_exit_cleanly(tmp_path, ros1_bag, tiny_da2_dir, capsys):
    out = tmp_path / 'out'
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir, '--image-topic', '/nope'))
    err = capsys.readouterr().err
    assert code == 2 and "'/nope' not found" in err and COLOR in err and DEPTH in err
    assert 'Traceback' not in err
    assert _leftovers(tmp_path) == []

    corrupt = tmp_path / 'broken.bag'
    data = ros1_bag.read_bytes()
    corrupt.write_bytes(data[:len(data) * 2 // 3])
    code = replay_bag.main(_args(corrupt, out, tiny_da2_dir))
    err = capsys.readouterr().err
    assert code == 2 and 'broken.bag' in err and 'Traceback' not in err
    assert _leftovers(tmp_path) == ['broken.bag']

    code = replay_bag.main(_args(ros1_bag, out, tmp_path / 'no_model'))
    assert code == 2 and 'model directory not found' in capsys.readouterr().err
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir, '--param',
                                 f'scale_checkpoint:={tmp_path / "nope"}'))
    assert code == 2 and 'scale checkpoint not found' in capsys.readouterr().err
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir, '--param', 'point_decimation:=0'))
    err = capsys.readouterr().err
    assert code == 2 and 'point_decimation must be in [1, 1000]' in err
    assert len(err.splitlines()) == 1
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir, '--params-file',
                                 str(tmp_path / 'none.yaml')))
    assert code == 2 and 'none.yaml' in capsys.readouterr().err
    bad_yaml = tmp_path / 'bad.yaml'
    bad_yaml.write_text('foo: [\n')
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir, '--params-file', str(bad_yaml)))
    err = capsys.readouterr().err
    assert code == 2 and 'bad.yaml' in err and len(err.splitlines()) == 1  # one line
    bad_yaml.unlink()
    assert _leftovers(tmp_path) == ['broken.bag']

    out.mkdir()
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir))
    assert code == 2 and 'already exists' in capsys.readouterr().err
    (out / 'old.mcap').write_bytes(b'x')       # the shared --out policy of every tool
    code = replay_bag.main(_args(ros1_bag, out, tiny_da2_dir))
    assert code == 2 and 'already holds files; pass --overwrite' in capsys.readouterr().err
    # an output over the input bag (or a folder holding it) is refused, --overwrite or not
    before = ros1_bag.read_bytes()
    code = replay_bag.main(_args(ros1_bag, ros1_bag.parent, tiny_da2_dir, '--overwrite'))
    assert code == 2 and 'is or holds the input' in capsys.readouterr().err
    code = replay_bag.main(_args(ros1_bag, tmp_path / 'o3', tiny_da2_dir, '--overwrite',
                                 '--metrics-dir', str(ros1_bag)))
    assert code == 2 and '--metrics-dir' in capsys.readouterr().err
    assert ros1_bag.read_bytes() == before and not (tmp_path / 'o3').exists()
    # Corrupt DA2 weights: one line naming the model directory, no traceback, nothing written.
    garbage = tmp_path / 'garbage_da2'
    shutil.copytree(tiny_da2_dir, garbage)
    (garbage / 'model.safetensors').write_bytes(b'\x00garbage' * 64)
    code = replay_bag.main(_args(ros1_bag, tmp_path / 'o2', garbage))
    err = capsys.readouterr().err
    assert code == 2 and str(garbage) in err and 'Traceback' not in err
    assert not (tmp_path / 'o2').exists()


@pytest.fixture(scope='module')
def scale_checkpoint(tmp_path_factory):
    """Return a small random scale network whose log s varies from image to image."""
    torch.manual_seed(3)
    cfg = ScaleNetConfig(input_size=(64, 64), channels=(8, 8, 16, 16), fc=(8,))
    model = ScaleNet(cfg)
    with torch.no_grad():
        model.head[-1].weight.mul_(50.0)
        model.head[-1].bias.fill_(np.log(0.7))
    return save_scale_net(tmp_path_factory.mktemp('scale') / 'net', model, cfg)


def test_offline_and_live_outputs_are_identical(tmp_path, tiny_da2_dir, scale_checkpoint,
                                                scenes):
    """The node and offline replay run one frame processor: same bytes for a non-default set."""
    pytest.importorskip('rclpy')
    # a camera with lens distortion: both read camera_info by the same rules (k and d)
    ros1_bag = write_rgbd_bag(tmp_path / 'lens.bag', scenes, storage='ros1',
                              depth_offset_ns=4_000_000, distortion=LENS)
    # depth limits inside the tiny model's range, so both cut pixels
    probe = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='learned',
                                      scale_checkpoint=scale_checkpoint, device='cpu',
                                      input_size=70)
    sample = probe.process(scenes[0].rgb).depth
    lo, hi = (float(np.round(np.nanpercentile(sample, q), 3)) for q in (10, 85))
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(
        'adaptive_depth_node:\n  ros__parameters:\n'
        f'    model: {tiny_da2_dir}\n    device: cpu\n    input_size: 70\n'
        f'    scale_source: learned\n    scale_checkpoint: {scale_checkpoint}\n'
        '    scale_smoothing: 0.7\n    colorize_points: false\n')
    common = ['--params-file', str(params_file),
              *_params(min_depth=lo, max_depth=hi, point_decimation=2,
                       points_max_range=round(hi * 0.9, 3))]
    offline_dir, live_dir = tmp_path / 'offline', tmp_path / 'live'
    assert replay_bag.main([str(ros1_bag), '--out', str(offline_dir), *common]) == 0
    domain = random.SystemRandom().randint(201, 232)
    with _ros_env_restored():
        code = replay_bag.main([str(ros1_bag), '--out', str(live_dir), *common,
                                '--mode', 'live', '--lockstep', '--domain-id', str(domain),
                                '--startup-timeout', '90', '--frame-timeout', '20'])
    log = (live_dir / 'node.log').read_text() if (live_dir / 'node.log').exists() else ''
    assert code == 0, log
    topics = [f'{NS}/depth', f'{NS}/scale', f'{NS}/depth/camera_info', f'{NS}/points']
    live = _read(live_dir, topics)
    offline = _read(offline_dir, topics)
    for name in topics:
        assert len(live[name]) == len(offline[name]) == N_FRAMES, (name, log)
        assert [_stamp(m) for _, m in live[name]] == [_stamp(m) for _, m in offline[name]]
    depths = []
    for (_, a), (_, b) in zip(live[f'{NS}/depth'], offline[f'{NS}/depth']):
        assert (a.encoding, a.height, a.width, a.step) == (b.encoding, b.height, b.width, b.step)
        assert bytes(a.data) == bytes(b.data)
        depths.append(conversions.image_msg_to_depth(b))
    scales = []
    for (_, a), (_, b) in zip(live[f'{NS}/scale'], offline[f'{NS}/scale']):
        assert (a.vector.x, a.vector.y, a.vector.z) == (b.vector.x, b.vector.y, b.vector.z)
        scales.append((b.vector.x, b.vector.z))
    for (_, a), (_, b) in zip(live[f'{NS}/points'], offline[f'{NS}/points']):
        assert (a.height, a.width, a.point_step, a.row_step, a.is_dense) == \
            (b.height, b.width, b.point_step, b.row_step, b.is_dense)
        assert [f.name for f in a.fields] == [f.name for f in b.fields] == ['x', 'y', 'z']
        assert bytes(a.data) == bytes(b.data)
    infos = zip(live[f'{NS}/depth/camera_info'], offline[f'{NS}/depth/camera_info'])
    for (_, a), (_, b) in infos:
        assert list(a.k) == list(b.k) and (a.width, a.height) == (b.width, b.height)
        assert a.distortion_model == b.distortion_model == 'plumb_bob'
        assert list(a.d) == list(b.d) == list(LENS.d)
    # the parameters took effect: limits cut pixels, smoothing changed the scale, decimation
    stacked = np.stack(depths)
    finite = stacked[np.isfinite(stacked)]
    assert finite.min() >= lo and finite.max() <= hi and np.isnan(stacked).mean() > 0.1
    assert scales[0][0] == scales[0][1] and any(s != r for s, r in scales[1:])
    cloud = live[f'{NS}/points'][0][1]
    assert (cloud.height, cloud.width) == ((H + 1) // 2, (W + 1) // 2)
    # one scoring protocol: live (raw depth computed afterwards) scores as offline does
    summaries = [json.loads((d / 'metrics' / 'summary.json').read_text())
                 for d in (live_dir, offline_dir)]
    assert summaries[0]['coverage'] == pytest.approx(summaries[1]['coverage'], rel=1e-6)
    assert summaries[0]['coverage']['min'] < 1.0
    for method in ('learned', 'none', 'oracle'):
        for key in ('abs_rel', 'rmse', 'delta1', 'scale_mean'):
            assert summaries[0]['methods'][method][key] == pytest.approx(
                summaries[1]['methods'][method][key], rel=1e-5), (method, key)


def test_real_bag_without_camera_info(tmp_path, tiny_da2_dir):
    spot = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'bags' / \
        'spot_hand_color_raw.bag'
    if not spot.exists():
        pytest.skip(f'shared data folder not found: {spot}')
    out = tmp_path / 'spot'
    assert replay_bag.main(_args(spot, out, tiny_da2_dir)) == 0
    with BagReader(out) as reader:
        topics = reader.topics
        (_, msg), = [(lt, m) for _, lt, m in reader._iter_messages([f'{NS}/depth'])]
    # no camera_info → depth and scale only (like the node), no metrics without ground truth
    assert set(topics) == {'/spot/camera/hand_color/image', f'{NS}/depth', f'{NS}/scale'}
    assert (msg.height, msg.width, msg.header.frame_id) == (480, 640,
                                                            'gripper_color_camera_z_forward')
    assert _stamp(msg) == 1648052479 * 10**9 + 616566426
    assert not (out / 'metrics').exists()


def test_lockstep_resends_a_lost_frame_then_gives_up():
    """A frame whose outputs do not come is re-sent after a short wait, then counted lost."""
    from adaptive_depth.replay.live import lockstep_frame
    sends = []
    answer_at = {'n': 3}  # the first two sends are "lost"

    def answered():
        return len(sends) >= answer_at['n']
    n = lockstep_frame(done=answered, answered=answered, send=lambda: sends.append(1),
                       spin=time.sleep, attempt_timeout=0.05, retries=3)
    assert n == 3 and len(sends) == 3
    # never answered: 1 send + 3 re-sends, each waiting one attempt, then on to the next frame
    sends.clear()
    answer_at['n'] = 99
    start = time.monotonic()
    n = lockstep_frame(done=answered, answered=answered, send=lambda: sends.append(1),
                       spin=time.sleep, attempt_timeout=0.05, retries=3)
    elapsed = time.monotonic() - start
    assert n == 4 and 0.2 <= elapsed < 1.0
    # depth + scale in but camera_info/points never: accepted after the grace, no re-send
    sends.clear()
    n = lockstep_frame(done=lambda: False, answered=lambda: bool(sends),
                       send=lambda: sends.append(1), spin=time.sleep, attempt_timeout=0.05,
                       retries=3)
    assert n == 1


def test_live_replay_of_640x480_scores_every_frame(tmp_path, tiny_da2_dir):
    """Issue 11 item 8: large frames, default node settings, lockstep: every frame is scored."""
    pytest.importorskip('rclpy')
    frames = 10
    bag = write_rgbd_bag(tmp_path / 'vga.bag', [render_scene(s, width=640, height=480)
                                                for s in range(frames)], storage='ros1', fps=30.0)
    out = tmp_path / 'live'
    domain = random.SystemRandom().randint(201, 232)
    with _ros_env_restored():
        code = replay_bag.main([str(bag), '--out', str(out), '--mode', 'live', '--lockstep',
                                '--domain-id', str(domain), '--startup-timeout', '90',
                                *_params(model=tiny_da2_dir, device='cpu', input_size=70)])
    log = (out / 'node.log').read_text() if (out / 'node.log').exists() else ''
    assert code == 0, log
    summary = json.loads((out / 'metrics' / 'summary.json').read_text())
    assert summary['frames_processed'] == frames
    assert summary['frames_with_ground_truth'] == frames, summary
    with BagReader(out) as reader:
        depths = [m for _, _, m in reader._iter_messages([f'{NS}/depth'])]
    assert len(depths) == frames and (depths[0].width, depths[0].height) == (640, 480)


def test_live_hint_names_the_cause_and_the_fix():
    from adaptive_depth.replay.live import missing_hint
    args = replay_bag.build_parser().parse_args(['b', '--out', 'o', '--mode', 'live'])
    hint = missing_hint(args)
    assert '--lockstep' in hint and 'newest frame' in hint
    args.node_running = True
    hint = missing_hint(args)
    assert 'input_qos_reliability:=reliable' in hint and 'fastdds_profile:=true' in hint
    args.lockstep = True
    assert 're-sent up to 3 times' in missing_hint(args)
