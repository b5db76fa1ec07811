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

"""Tests of the TUM RGB-D and 7-Scenes / SUN3D recording sources (``tum:``, ``sevenscenes:``)."""

from pathlib import Path

from adaptive_depth.datasets import DatasetError, DatasetFileNotFoundError, open_dataset
from adaptive_depth.datasets.recordings import associate_by_time, TUM_INTRINSICS
import cv2
import numpy as np
import pytest

REAL_DIR = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'real_rgbd'


def _frame(h=24, w=32, value=1000, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = np.full((h, w), value, np.uint16)
    depth[0, 0] = 0
    depth[0, 1] = 65535
    return rgb, depth


def _write_sevenscenes(folder: Path, frames, intr='100 0 16\n0 100 12\n0 0 1\n', ext='png'):
    folder.mkdir(parents=True, exist_ok=True)
    for n in frames:
        rgb, depth = _frame(value=1000 + n, seed=n)
        cv2.imwrite(str(folder / f'frame-{n:06d}.color.{ext}'), rgb[..., ::-1])
        cv2.imwrite(str(folder / f'frame-{n:06d}.depth.png'), depth)
    if intr is not None:
        (folder / 'camera-intrinsics.txt').write_text(intr)


def test_sevenscenes_single_sequence_reads_frames_in_order(tmp_path):
    _write_sevenscenes(tmp_path / 'kitchen', [4, 0, 2], ext='jpg')
    (tmp_path / 'kitchen' / 'frame-000009.color.jpg').write_bytes(b'')  # no depth: ignored
    ds = open_dataset(f'sevenscenes:{tmp_path / "kitchen"}')
    assert len(ds) == 3
    assert [ds.sample_name(i) for i in range(3)] == [
        'kitchen/frame-000000', 'kitchen/frame-000002', 'kitchen/frame-000004']
    s = ds[1]
    assert s.meta['recording'] == 'kitchen' and s.meta['frame'] == 2
    assert s.rgb.shape == (24, 32, 3)
    assert np.isnan(s.depth[0, 0]) and np.isnan(s.depth[0, 1])   # 0 and 65535 invalid
    assert s.depth[5, 5] == pytest.approx(1.002)
    assert (s.intrinsics.fx, s.intrinsics.cx, s.intrinsics.width) == (100.0, 16.0, 32)


def test_sevenscenes_fragments_are_separate_recordings(tmp_path):
    root = tmp_path / 'office'
    _write_sevenscenes(root / 'fragment-1', [10, 11], intr=None)
    _write_sevenscenes(root / 'fragment-2', [50], intr=None)
    (root / 'camera-intrinsics.txt').write_text('50 0 16\n0 50 12\n0 0 1\n')
    ds = open_dataset(f'sevenscenes:{root}', depth_scale=500)
    assert ds.recordings() == ['office/fragment-1'] * 2 + ['office/fragment-2']
    s = ds[2]
    assert s.name == 'office/fragment-2/frame-000050'
    assert s.intrinsics.fx == 50.0
    assert s.depth[3, 3] == pytest.approx(1050 / 500)


def test_sevenscenes_errors(tmp_path):
    with pytest.raises(DatasetFileNotFoundError):
        open_dataset(f'sevenscenes:{tmp_path / "missing"}')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DatasetError, match='no frame-NNNNNN'):
        open_dataset(f'sevenscenes:{tmp_path / "empty"}')
    _write_sevenscenes(tmp_path / 'noint', [0], intr=None)
    with pytest.raises(DatasetError, match='camera-intrinsics'):
        open_dataset(f'sevenscenes:{tmp_path / "noint"}')
    _write_sevenscenes(tmp_path / 'badint', [0], intr='1 2 3\n')
    with pytest.raises(DatasetError, match='9 numbers'):
        open_dataset(f'sevenscenes:{tmp_path / "badint"}')
    with pytest.raises(ValueError, match='does not take'):
        open_dataset(f'sevenscenes:{tmp_path / "badint"}', association='x.txt')


def _write_tum(root: Path, rgb_ts, depth_ts, name='rgbd_dataset_freiburg1_desk'):
    seq = root / name
    (seq / 'rgb').mkdir(parents=True)
    (seq / 'depth').mkdir()
    lines_r, lines_d = ['# color images', '# timestamp filename'], ['# depth']
    for i, t in enumerate(rgb_ts):
        rgb, _ = _frame(seed=i)
        cv2.imwrite(str(seq / 'rgb' / f'{t:.6f}.png'), rgb[..., ::-1])
        lines_r.append(f'{t:.6f} rgb/{t:.6f}.png')
    for i, t in enumerate(depth_ts):
        _, depth = _frame(value=5000 + i)
        cv2.imwrite(str(seq / 'depth' / f'{t:.6f}.png'), depth)
        lines_d.append(f'{t:.6f} depth/{t:.6f}.png')
    (seq / 'rgb.txt').write_text('\n'.join(lines_r) + '\n')
    (seq / 'depth.txt').write_text('\n'.join(lines_d) + '\n')
    return seq


def test_tum_timestamp_association_scale_and_named_intrinsics(tmp_path):
    # depth frame 1 is 0.1 s away from every colour frame: unmatched; colour 2 has no partner
    seq = _write_tum(tmp_path, [1.0, 1.033, 1.5], [1.005, 1.2, 1.04])
    ds = open_dataset(f'tum:{seq}')
    assert len(ds) == 2
    assert ds.recordings() == [seq.name] * 2
    first, second = ds[0], ds[1]
    assert first.depth[4, 4] == pytest.approx(5000 / 5000)
    assert second.depth[4, 4] == pytest.approx(5002 / 5000)
    assert np.isnan(first.depth[0, 0]) and np.isnan(first.depth[0, 1])
    assert first.intrinsics.fx == TUM_INTRINSICS['freiburg1'].fx * 32 / 640
    assert [first.meta['frame'], second.meta['frame']] == [0, 1]
    # frames of one second keep apart: TUM names its files by timestamp (1305031102.175304.png)
    assert [first.name, second.name] == [f'{seq.name}/1.000000', f'{seq.name}/1.033000']
    # the depth scale option overrides the default
    assert open_dataset(f'tum:{seq}', depth_scale=1000)[0].depth[4, 4] == pytest.approx(5.0)


def test_tum_associations_file_and_calibration_yaml(tmp_path):
    seq = _write_tum(tmp_path, [1.0, 2.0], [1.0, 2.0], name='keyframes')
    (seq / 'associations.txt').write_text('2.0 rgb/2.000000.png 2.0 depth/2.000000.png\n')
    (seq / 'CAM.yaml').write_text('%YAML:1.0\nCamera.fx: 20.0\nCamera.fy: 21.0\n'
                                  'Camera.cx: 16.0\nCamera.cy: 12.0\nDepthMapFactor: 1000.0\n')
    ds = open_dataset(f'tum:{seq}')
    assert len(ds) == 1
    s = ds[0]
    assert s.name == 'keyframes/2.000000'  # the file's stem: the whole timestamp
    assert s.depth[4, 4] == pytest.approx(5001 / 1000)   # DepthMapFactor from the YAML
    assert (s.intrinsics.fx, s.intrinsics.fy) == (20.0, 21.0)
    with pytest.raises(DatasetFileNotFoundError):
        open_dataset(f'tum:{seq}', association='nope.txt')
    # ORB-SLAM3's keys, with the calibrated size (the images are half of it: rescaled)
    (seq / 'CAM.yaml').write_text('%YAML:1.0\nCamera1.fx: 40.0\nCamera1.fy: 42.0\n'
                                  'Camera1.cx: 32.0\nCamera1.cy: 24.0\nCamera.width: 64\n'
                                  'Camera.height: 48\nRGBD.DepthMapFactor: 2000.0\n')
    s = open_dataset(f'tum:{seq}')[0]
    assert (s.intrinsics.fx, s.intrinsics.cx, s.intrinsics.width) == (20.0, 15.75, 32)
    assert s.depth[4, 4] == pytest.approx(5001 / 2000)


def test_tum_errors(tmp_path):
    seq = _write_tum(tmp_path, [1.0], [5.0])
    with pytest.raises(DatasetError, match='no colour frame has a depth frame'):
        open_dataset(f'tum:{seq}')
    (seq / 'rgb.txt').write_text('abc\n')
    with pytest.raises(DatasetError, match='line 1'):
        open_dataset(f'tum:{seq}')
    (seq / 'rgb.txt').unlink()
    with pytest.raises(DatasetFileNotFoundError, match='rgb.txt'):
        open_dataset(f'tum:{seq}')


def test_associate_by_time_uses_each_frame_once():
    pairs = associate_by_time([(0.0, 'a'), (0.01, 'b')], [(0.004, 'x')], 0.02)
    assert pairs == [(0.0, 'a', 0.004, 'x')]


def _associate_all_pairs(rgb, depth, max_dt):
    """Pair as TUM's associate.py does, over the full colour × depth table (the reference)."""
    candidates = sorted((abs(r - d), i, j) for i, (r, _) in enumerate(rgb)
                        for j, (d, _) in enumerate(depth) if abs(r - d) <= max_dt)
    used_r, used_d, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_r and j not in used_d:
            used_r.add(i)
            used_d.add(j)
            pairs.append((rgb[i][0], rgb[i][1], depth[j][0], depth[j][1]))
    return sorted(pairs)


def test_associate_by_time_matches_the_full_table_without_building_it():
    rng = np.random.default_rng(0)
    for trial in range(60):  # unsorted lists, ties (times on a 10 ms grid), empty lists
        n, m = rng.integers(0, 25, 2)
        rgb = [(float(t), f'r{i}') for i, t in enumerate(np.round(rng.uniform(0, 1, n), 2))]
        depth = [(float(t), f'd{i}') for i, t in enumerate(np.round(rng.uniform(0, 1, m), 2))]
        for max_dt in (0.0, 0.01, 0.02, 0.1):
            assert associate_by_time(rgb, depth, max_dt) == \
                _associate_all_pairs(rgb, depth, max_dt)
    # real TUM timestamps (1.3e9 s) at 30 Hz: one candidate per frame, each paired
    rgb = [(1305031102 + i / 30, f'r{i}') for i in range(3000)]
    depth = [(1305031102 + i / 30 + 0.004, f'd{i}') for i in range(3000)]
    assert len(associate_by_time(rgb, depth, 0.02)) == 3000


@pytest.mark.parametrize('spec,count,recordings', [
    ('sevenscenes:sevenscenes_redkitchen', 500, 1),
    ('sevenscenes:sun3d_office', 100, 2),
    ('tum:tum_fr3_cabinet', 58, 1),
])
def test_real_recordings_in_shared(spec, count, recordings):
    if not REAL_DIR.is_dir():
        pytest.skip(f'real recordings not found at {REAL_DIR}')
    kind, name = spec.split(':')
    ds = open_dataset(f'{kind}:{REAL_DIR / name}')
    assert len(ds) == count
    assert len(set(ds.recordings())) == recordings
    s = ds[len(ds) // 2]
    valid = np.isfinite(s.depth)
    assert s.rgb.shape == (480, 640, 3) and 0.3 < np.median(s.depth[valid]) < 10
    assert np.nanmax(s.depth) < 20   # 65535 never becomes 65 m
