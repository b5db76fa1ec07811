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

"""Tests for the RGB-D file decoders, against the real files in ../shared/data."""

import hashlib
from pathlib import Path

from adaptive_depth import depth_io
import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
DATA = SHARED / 'data'
NYU = DATA / 'nyu_test_sample'
RGBD = DATA / 'rgbd_samples'
NYU_IDS = ('00000', '00001', '00008', '00013', '00014', '00015', '00016', '00017', '00020',
           '00027')

needs_shared = pytest.mark.skipif(not DATA.is_dir(),
                                  reason=f'shared data folder {DATA} is absent')


def _check_sums(folder: Path):
    lines = (folder / 'SHA256SUMS.txt').read_text().split('\n')
    entries = [line.split(None, 1) for line in lines if line.strip()]
    assert entries
    for digest, name in entries:
        path = folder / name.strip().lstrip('*')
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


@needs_shared
@pytest.mark.parametrize('folder', [NYU, RGBD])
def test_checksums(folder):
    _check_sums(folder)


@needs_shared
def test_nyu_test_sample_pairs():
    for frame in NYU_IDS:
        rgb, depth = depth_io.read_rgbd_pair(NYU / f'{frame}_colors.png',
                                             NYU / f'{frame}_depth.png')
        assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
        assert depth.shape == (480, 640) and depth.dtype == np.float32
        inner = depth[45:471, 41:601]
        assert np.isfinite(inner).mean() > 0.99
        assert np.nanmin(inner) >= 0.5 and np.nanmax(inner) <= 10.5
        assert 0.7 < np.nanmedian(inner) < 8.0


@needs_shared
def test_read_rgb_matches_cv2_and_is_rgb_order():
    path = NYU / '00000_colors.png'
    rgb = depth_io.read_rgb(path)
    np.testing.assert_array_equal(rgb, cv2.imread(str(path))[:, :, ::-1])


@needs_shared
@pytest.mark.parametrize('frame', range(5))
def test_redwood(frame):
    rgb = depth_io.read_rgb(RGBD / 'color' / f'{frame:05d}.jpg')
    depth = depth_io.read_depth_png(RGBD / 'depth' / f'{frame:05d}.png')
    assert rgb.shape == (480, 640, 3) and depth.shape == (480, 640)
    valid = np.isfinite(depth)
    assert 0.5 < valid.mean() < 1.0   # holes present, decoded as NaN
    assert np.nanmin(depth) > 0.2 and np.nanmax(depth) < 8.0


@needs_shared
def test_tum():
    raw = depth_io.read_depth_raw(RGBD / 'other_formats' / 'TUM_depth.png')
    depth = depth_io.read_depth_png(RGBD / 'other_formats' / 'TUM_depth.png', scale=5000.0)
    np.testing.assert_allclose(depth[raw > 0], raw[raw > 0] / 5000.0, rtol=1e-6)
    assert np.all(np.isnan(depth[raw == 0]))
    assert 0.3 < np.nanmedian(depth) < 6.0 and np.nanmax(depth) < 12.0
    assert depth_io.read_rgb(RGBD / 'other_formats' / 'TUM_color.png').shape == (480, 640, 3)


@needs_shared
def test_sun_bit_rotation():
    path = RGBD / 'other_formats' / 'SUN_depth.png'
    raw = depth_io.read_depth_raw(path)
    depth = depth_io.read_sun_depth(path)
    assert 0.3 < np.nanmedian(depth) < 8.0 and np.nanmax(depth) < 12.0
    naive = depth_io.depth_units_to_metres(raw, 1000.0)
    assert np.nanmedian(naive) > 3 * np.nanmedian(depth)   # undecoded values are far off
    assert depth_io.read_rgb(RGBD / 'other_formats' / 'SUN_color.jpg').shape[2] == 3


def test_decode_sun_depth_synthetic_values():
    mm = np.array([[0, 1, 1234, 8191]], np.uint16)
    stored = (mm << np.uint16(3)) | (mm >> np.uint16(13))
    depth = depth_io.decode_sun_depth(stored)
    assert np.isnan(depth[0, 0])
    np.testing.assert_allclose(depth[0, 1:], [0.001, 1.234, 8.191], rtol=1e-6)
    with pytest.raises(ValueError, match='uint16'):
        depth_io.decode_sun_depth(mm.astype(np.int32))


@needs_shared
def test_nyu_raw_kinect_pgm():
    path = RGBD / 'other_formats' / 'NYU_depth.pgm'
    disp = depth_io.read_pgm_u16(path)
    assert disp.shape == (480, 640) and disp.max() <= 2047
    depth = depth_io.read_nyu_raw_kinect_pgm(path)
    assert np.all(np.isnan(depth[disp == 2047]))
    assert 0.5 < np.isfinite(depth).mean() < 1.0
    assert 0.4 < np.nanmin(depth) and np.nanmax(depth) < 12.0 and 1.0 < np.nanmedian(depth) < 6
    # The header says big-endian but the data are little-endian: swapped reading is nonsense.
    assert depth_io.read_pgm_u16(path, byteorder='>').max() > 2047
    rgb = depth_io.read_rgb(RGBD / 'other_formats' / 'NYU_color.ppm')
    assert rgb.shape == (480, 640, 3) and rgb.std() > 10


def test_kinect_disparity_formula():
    d = np.array([0, 500, 1000, 2047], np.uint16)
    depth = depth_io.kinect_disparity_to_depth(d)
    np.testing.assert_allclose(depth[:3], 351.3 / (1092.5 - d[:3].astype(np.float64)), rtol=1e-6)
    assert np.isnan(depth[3])


def test_round_trip_and_errors(tmp_path):
    mm = np.array([[0, 700], [1500, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / 'd.png'), mm)
    depth = depth_io.read_depth_png(tmp_path / 'd.png')
    assert np.isnan(depth[0, 0]) and np.isnan(depth[1, 1])  # 0 and 65535: no measurement
    assert depth[1, 0] == pytest.approx(1.5)
    kept = depth_io.read_depth_png(tmp_path / 'd.png', invalid=())  # 65535 taken as a value
    assert kept[1, 1] == pytest.approx(65.535) and np.isnan(kept[0, 0])
    with pytest.raises(ValueError, match='scale'):
        depth_io.read_depth_png(tmp_path / 'd.png', scale=0.0)
    cv2.imwrite(str(tmp_path / 'c.png'), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match='16-bit'):
        depth_io.read_depth_png(tmp_path / 'c.png')
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    cv2.imwrite(str(tmp_path / 'g.png'), gray)
    np.testing.assert_array_equal(depth_io.read_rgb(tmp_path / 'g.png')[..., 1], gray)
    with pytest.raises(FileNotFoundError, match='missing.png'):
        depth_io.read_rgb(tmp_path / 'missing.png')
    (tmp_path / 'junk.png').write_bytes(b'not an image')
    with pytest.raises(ValueError, match='junk.png'):
        depth_io.read_rgb(tmp_path / 'junk.png')
    (tmp_path / 'bad.pgm').write_bytes(b'P5 4 4 65535\n' + b'\x00' * 10)
    with pytest.raises(ValueError, match='truncated'):
        depth_io.read_pgm_u16(tmp_path / 'bad.pgm')
    with pytest.raises(ValueError, match='P5'):
        depth_io.read_pgm_u16(tmp_path / 'junk.png')
