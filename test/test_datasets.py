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

"""Tests of the dataset sources behind ``open_dataset``."""

import json
from pathlib import Path
import warnings

from adaptive_depth.datasets import (DatasetError, DatasetFileNotFoundError, fit_intrinsics,
                                     open_dataset, parse_intrinsics_option, spec_options, Subset)
from adaptive_depth.geometry import NYU_INTRINSICS, PRIMESENSE_INTRINSICS
import cv2
import numpy as np
import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / 'shared'
RGBD_DIR = SHARED_DIR / 'data' / 'rgbd_samples'


@pytest.fixture(scope='module')
def rgbd_dir() -> Path:
    if not RGBD_DIR.is_dir():
        pytest.skip(f'shared RGB-D samples not found at {RGBD_DIR}')
    return RGBD_DIR


# ---------------------------------------------------------------- nyu-mat (v7.3 layout)

def _write_nyu_mat(path: Path, n: int = 5, h: int = 48, w: int = 64):
    """Write a file with the NYU labelled .mat's HDF5 layout; return the H×W×3 / H×W truth."""
    import h5py

    rng = np.random.default_rng(3)
    rgbs = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    depths = rng.uniform(0.7, 9.0, size=(n, h, w))
    depths[1, :5, :7] = 0.0  # invalid pixels
    with h5py.File(path, 'w') as fh:
        # MATLAB is column-major: h5py sees images as N×3×W×H and depths as N×W×H.
        fh.create_dataset('images', data=rgbs.transpose(0, 3, 2, 1))
        fh.create_dataset('depths', data=depths.transpose(0, 2, 1))
    return rgbs, depths


def _write_splits_h5(path: Path, train, test):
    import h5py

    with h5py.File(path, 'w') as fh:  # v7.3 style: 1×K double arrays
        fh.create_dataset('trainNdxs', data=np.asarray(train, np.float64)[None, :])
        fh.create_dataset('testNdxs', data=np.asarray(test, np.float64)[None, :])


def test_nyu_mat_reads_transposed_frames(tmp_path):
    mat = tmp_path / 'nyu_depth_v2_labeled.mat'
    rgbs, depths = _write_nyu_mat(mat)
    ds = open_dataset(f'nyu-mat:{mat}')
    assert len(ds) == 5
    s = ds[1]
    assert s.name == 'nyu-mat/00002'
    assert s.rgb.shape == (48, 64, 3) and s.rgb.dtype == np.uint8
    np.testing.assert_array_equal(s.rgb, rgbs[1])
    assert s.depth.shape == (48, 64) and s.depth.dtype == np.float32
    assert np.isnan(s.depth[:5, :7]).all()
    np.testing.assert_allclose(s.depth[5:], depths[1, 5:].astype(np.float32))
    assert s.valid_mask().sum() == 48 * 64 - 35
    assert s.meta['eval_crop'] == 'eigen'
    assert s.intrinsics == NYU_INTRINSICS.scaled(64, 48)
    np.testing.assert_array_equal(ds[-1].rgb, rgbs[4])
    assert ds.names() == [f'nyu-mat/{i:05d}' for i in range(1, 6)]


def test_nyu_mat_split_file_h5_and_v5(tmp_path):
    from scipy.io import savemat

    mat = tmp_path / 'nyu.mat'
    rgbs, _ = _write_nyu_mat(mat)
    with pytest.raises(DatasetError, match='splits.mat'):
        open_dataset(f'nyu-mat:{mat}', split='train')
    h5 = tmp_path / 'splits73.mat'
    _write_splits_h5(h5, [1, 3, 5], [2, 4])
    v5 = tmp_path / 'splits5.mat'
    savemat(v5, {'trainNdxs': np.array([[1], [3], [5]], float),
                 'testNdxs': np.array([[2], [4]], float)})
    for split_file in (h5, v5):
        train = open_dataset(f'nyu-mat:{mat}', split='train', split_file=str(split_file))
        test = open_dataset(f'nyu-mat:{mat}', split='test', split_file=split_file)
        assert train.names() == ['nyu-mat/00001', 'nyu-mat/00003', 'nyu-mat/00005']
        assert test.names() == ['nyu-mat/00002', 'nyu-mat/00004']
        np.testing.assert_array_equal(test[1].rgb, rgbs[3])
        assert test[0].meta['split'] == 'test'
    everything = open_dataset(f'nyu-mat:{mat}', split='all', split_file=h5)
    assert [everything[i].meta['split'] for i in range(5)] == ['train', 'test'] * 2 + ['train']


def test_nyu_mat_bad_files(tmp_path):
    mat = tmp_path / 'nyu.mat'
    _write_nyu_mat(mat)
    with pytest.raises(FileNotFoundError, match='missing.mat'):
        open_dataset(f'nyu-mat:{tmp_path / "missing.mat"}')
    junk = tmp_path / 'junk.mat'
    junk.write_bytes(b'MATLAB 5.0 MAT-file, not HDF5 at all' * 10)
    with pytest.raises(DatasetError, match='junk.mat'):
        open_dataset(f'nyu-mat:{junk}')
    bad_split = tmp_path / 'bad_splits.mat'
    _write_splits_h5(bad_split, [1, 2, 9], [3])
    with pytest.raises(DatasetError, match='exceeds'):
        open_dataset(f'nyu-mat:{mat}', split='train', split_file=bad_split)
    overlap = tmp_path / 'overlap.mat'
    _write_splits_h5(overlap, [1, 2], [2, 3])
    with pytest.raises(DatasetError, match='overlap'):
        open_dataset(f'nyu-mat:{mat}', split='test', split_file=overlap)
    with pytest.raises(ValueError, match='split'):
        open_dataset(f'nyu-mat:{mat}', split='val')


# ---------------------------------------------------------------- nyu-folder (real frames)

def test_nyu_folder_real_frames(nyu_sample_dir):
    ds = open_dataset(f'nyu-folder:{nyu_sample_dir}')
    assert len(ds) == 10
    assert ds.names()[:3] == ['nyu-test/00000', 'nyu-test/00001', 'nyu-test/00008']
    s = ds[2]
    assert s.name == 'nyu-test/00008'
    assert s.rgb.shape == (480, 640, 3) and s.rgb.dtype == np.uint8
    raw = cv2.imread(str(nyu_sample_dir / '00008_depth.png'), cv2.IMREAD_UNCHANGED)
    expected = raw.astype(np.float32) / 1000.0
    expected[raw == 0] = np.nan
    np.testing.assert_array_equal(s.depth, expected)
    bgr = cv2.imread(str(nyu_sample_dir / '00008_colors.png'), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(s.rgb, bgr[:, :, ::-1])
    finite = s.depth[np.isfinite(s.depth)]
    assert 0.5 < finite.min() and finite.max() < 10.5
    assert s.intrinsics == NYU_INTRINSICS
    assert s.meta['eval_crop'] == 'eigen'


def test_nyu_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope'):
        open_dataset(f'nyu-folder:{tmp_path / "nope"}')
    with pytest.raises(DatasetError, match='colors.png'):
        open_dataset(f'nyu-folder:{tmp_path}')
    cv2.imwrite(str(tmp_path / '00003_colors.png'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match='00003_depth.png'):
        open_dataset(f'nyu-folder:{tmp_path}')
    (tmp_path / '00003_depth.png').write_bytes(b'not a png')
    ds = open_dataset(f'nyu-folder:{tmp_path}')  # lazy: nothing read yet
    with pytest.raises(ValueError, match='00003_depth.png'):
        ds[0]


# ---------------------------------------------------------------- folder (Redwood, TUM)

def test_folder_pairs_by_stem(rgbd_dir):
    with pytest.warns(UserWarning, match='PrimeSense'):
        ds = open_dataset(f'folder:{rgbd_dir}')
    assert len(ds) == 5
    assert ds.names() == [f'rgbd_samples/{i:05d}' for i in range(5)]
    s = ds[3]
    raw = cv2.imread(str(rgbd_dir / 'depth' / '00003.png'), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    valid = raw > 0
    np.testing.assert_array_equal(np.isnan(s.depth), ~valid)
    np.testing.assert_allclose(s.depth[valid], raw[valid] / 1000.0, rtol=1e-6)
    assert s.rgb.shape == raw.shape + (3,)
    assert s.intrinsics == PRIMESENSE_INTRINSICS
    # A depth scale of 5000 divides the same raw values by 5000.
    with pytest.warns(UserWarning):
        tum_scaled = open_dataset(f'folder:{rgbd_dir}', depth_scale=5000)[3]
    np.testing.assert_allclose(tum_scaled.depth[valid], raw[valid] / 5000.0, rtol=1e-6)


def test_folder_association_and_intrinsics(rgbd_dir, tmp_path):
    # rgbd.match lists "depth/x.png color/x.jpg" (Open3D order), detected from the folder name.
    ds = open_dataset(f'folder:{rgbd_dir}', association='rgbd.match',
                      intrinsics='500,510,320,240')
    assert len(ds) == 5
    s = ds[1]
    assert s.name == 'rgbd_samples/00001'
    np.testing.assert_array_equal(s.rgb, cv2.imread(str(rgbd_dir / 'color' / '00001.jpg'))[
        :, :, ::-1])
    assert (s.intrinsics.fx, s.intrinsics.fy, s.intrinsics.cx) == (500, 510, 320)
    assert (s.intrinsics.width, s.intrinsics.height) == (640, 480)

    # TUM style: "rgb_ts rgb_path depth_ts depth_path"; intrinsics from a YAML at half size
    # are rescaled to the image.
    assoc = tmp_path / 'associations.txt'
    assoc.write_text('# timestamp rgb timestamp depth\n'
                     f'1.0 {rgbd_dir}/color/00004.jpg 1.01 {rgbd_dir}/depth/00004.png\n'
                     f'2.0 {rgbd_dir}/color/00002.jpg 2.01 {rgbd_dir}/depth/00002.png\n')
    yaml_file = tmp_path / 'cam.yaml'
    yaml_file.write_text('image_width: 320\nimage_height: 240\ncamera_matrix:\n  rows: 3\n'
                         '  cols: 3\n  data: [262.5, 0, 159.5, 0, 262.5, 119.5, 0, 0, 1]\n')
    ds = open_dataset(f'folder:{tmp_path}', association=str(assoc), intrinsics=str(yaml_file),
                      depth_scale=5000)
    assert ds.names() == [f'{tmp_path.name}/00004', f'{tmp_path.name}/00002']
    s = ds[0]
    assert s.intrinsics == PRIMESENSE_INTRINSICS  # half-size camera_info rescaled to 640×480
    raw = cv2.imread(str(rgbd_dir / 'depth' / '00004.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_allclose(np.nanmax(s.depth), raw.max() / 5000.0, rtol=1e-6)


def test_parse_intrinsics_option(tmp_path):
    assert parse_intrinsics_option(None) is None
    intr = parse_intrinsics_option('525 525 319.5 239.5', 640, 480)
    assert intr == PRIMESENSE_INTRINSICS
    js = tmp_path / 'k.json'
    js.write_text(json.dumps({'fx': 1.5, 'fy': 2.5, 'cx': 3, 'cy': 4, 'width': 8, 'height': 6}))
    assert parse_intrinsics_option(str(js)) == type(intr)(1.5, 2.5, 3.0, 4.0, 8, 6)
    with pytest.raises(DatasetFileNotFoundError, match='nofile.yaml'):
        parse_intrinsics_option(str(tmp_path / 'nofile.yaml'))
    with pytest.raises(DatasetError, match='fx'):
        parse_intrinsics_option('0,525,319.5,239.5')
    bad = tmp_path / 'bad.json'
    bad.write_text('{"fx": 1')
    with pytest.raises(DatasetError, match='bad.json'):
        parse_intrinsics_option(bad)
    # 640×480 values without a size, for images resized to 320×240: adopted, with a warning
    sizeless = parse_intrinsics_option('525 525 319.5 239.5')
    with pytest.warns(UserWarning, match='far from the centre of the 320×240 images'):
        assert fit_intrinsics(sizeless, 320, 240).cx == 319.5
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert fit_intrinsics(sizeless, 640, 480) == PRIMESENSE_INTRINSICS


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match='sub-folder'):
        open_dataset(f'folder:{tmp_path}', intrinsics='1,1,1,1')
    (tmp_path / 'color').mkdir()
    (tmp_path / 'depth').mkdir()
    cv2.imwrite(str(tmp_path / 'color' / 'a.png'), np.zeros((4, 6, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'depth' / 'a.png'), np.zeros((4, 6, 3), np.uint8))  # 8-bit RGB
    ds = open_dataset(f'folder:{tmp_path}', intrinsics='1,1,1,1')
    with pytest.raises(ValueError, match='a.png'):
        ds[0]
    assoc = tmp_path / 'assoc.txt'
    assoc.write_text('only_one_token\n')
    with pytest.raises(DatasetError, match='assoc.txt: line 1'):
        open_dataset(f'folder:{tmp_path}', association=assoc, intrinsics='1,1,1,1')
    assoc.write_text('color/missing.png depth/missing.png\n')
    ds = open_dataset(f'folder:{tmp_path}', association=assoc, intrinsics='1,1,1,1')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        ds[0]


# ---------------------------------------------------------------- synthetic and generic errors

def test_synthetic_source():
    ds = open_dataset('synthetic:3:10', width=80, height=60)
    assert len(ds) == 3
    assert ds.names() == ['synthetic/000010', 'synthetic/000011', 'synthetic/000012']
    s = ds[2]
    assert s.name == 'synthetic/000012'
    assert s.rgb.shape == (60, 80, 3) and s.depth.shape == (60, 80)
    assert s.meta['room_size_m'] > 0
    assert (s.intrinsics.width, s.intrinsics.height) == (80, 60)
    np.testing.assert_array_equal(open_dataset('synthetic:13', width=80, height=60)[12].depth,
                                  s.depth)
    sub = ds[1:]
    assert isinstance(sub, Subset) and sub.names() == ds.names()[1:]
    with pytest.raises(IndexError):
        ds[3]


@pytest.mark.parametrize('spec, error, pattern', [
    ('synthetic:abc', ValueError, 'synthetic:N'),
    ('synthetic:0', ValueError, 'N > 0'),
    ('mystery:/x', ValueError, 'unknown dataset kind'),
    ('no-colon', ValueError, 'KIND:ARG'),
    ('folder:', ValueError, 'lacks its argument'),
    ('bag:/does/not/exist.bag', FileNotFoundError, 'exist.bag'),
])
def test_bad_specs(spec, error, pattern):
    with pytest.raises(error, match=pattern):
        open_dataset(spec)


def test_options_written_into_the_spec_equal_keyword_options(rgbd_dir):
    spec, options = spec_options(f'folder:{rgbd_dir}?depth_scale=5000&intrinsics=500,510,320,240')
    assert spec == f'folder:{rgbd_dir}'
    assert options == {'depth_scale': 5000.0, 'intrinsics': '500,510,320,240'}
    written = open_dataset(f'folder:{rgbd_dir}?depth_scale=5000&intrinsics=500,510,320,240')[2]
    given = open_dataset(f'folder:{rgbd_dir}', depth_scale=5000, intrinsics='500,510,320,240')[2]
    np.testing.assert_array_equal(written.depth, given.depth)
    assert written.intrinsics == given.intrinsics and written.intrinsics.fx == 500
    assert written.name == given.name == 'rgbd_samples/00002'
    # Numbers are converted per option; a "?" not followed by key=value belongs to the path.
    assert spec_options('bag:/b.bag?every=3&tolerance_s=0.5') == (
        'bag:/b.bag', {'every': 3, 'tolerance_s': 0.5})
    assert spec_options('folder:/odd?name') == ('folder:/odd?name', {})


@pytest.mark.parametrize('spec, pattern', [
    ('folder:/d?depth_scale=5000&color_topic=/c', "does not take option 'color_topic'"),
    ('folder:/d?depth_scale=mm', "'depth_scale' must be a number, got 'mm'"),
    ('folder:/d?depth_scale=1&depth_scale=2', "option 'depth_scale' twice"),
    ('folder:/d?depth_scale=1&5000', 'must be key=value'),
    ('nope:/d?depth_scale=1', 'unknown dataset kind'),
])
def test_bad_options_in_a_spec_are_named(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        spec_options(spec)
    with pytest.raises(ValueError, match=pattern):
        open_dataset(spec)


def test_an_option_in_the_spec_and_as_argument_is_refused():
    with pytest.raises(ValueError, match='depth_scale given both'):
        open_dataset('folder:/d?depth_scale=5000', depth_scale=1000)


def test_option_not_taken_by_source():
    with pytest.raises(ValueError, match='split'):
        open_dataset('synthetic:2', split='train')
    # None options are ignored so CLIs can pass everything through.
    assert len(open_dataset('synthetic:2', split=None, width=16, height=12)) == 2
