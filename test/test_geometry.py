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

"""Tests for adaptive_depth.geometry and adaptive_depth.sample."""

from adaptive_depth.geometry import (backproject, CloudBuffer, decimate, Intrinsics,
                                     NYU_INTRINSICS, pack_organized_cloud, pack_rgb,
                                     PRIMESENSE_INTRINSICS, project)
from adaptive_depth.sample import RGBDSample
import cv2
import numpy as np
import pytest


def _random_depth(rng, h=48, w=64):
    depth = rng.uniform(0.5, 8.0, size=(h, w)).astype(np.float32)
    depth[rng.random((h, w)) < 0.1] = np.nan
    depth[0, 0] = 0.0
    depth[0, 1] = -1.0
    depth[0, 2] = np.inf
    return depth


def test_constants_match_contract():
    assert (NYU_INTRINSICS.fx, NYU_INTRINSICS.fy) == (518.8579, 519.4696)
    assert (NYU_INTRINSICS.cx, NYU_INTRINSICS.cy) == (325.5824, 253.7362)
    assert (PRIMESENSE_INTRINSICS.width, PRIMESENSE_INTRINSICS.height) == (640, 480)
    assert PRIMESENSE_INTRINSICS.cx == 319.5


def test_matrix_round_trip_and_camera_info_k():
    k = NYU_INTRINSICS.matrix
    assert k.shape == (3, 3) and k.dtype == np.float64
    assert Intrinsics.from_matrix(k, 640, 480) == NYU_INTRINSICS
    assert Intrinsics.from_camera_info_k(list(k.reshape(-1)), 640, 480) == NYU_INTRINSICS
    with pytest.raises(ValueError, match='9 elements'):
        Intrinsics.from_camera_info_k([1.0, 2.0], 640, 480)
    with pytest.raises(ValueError, match='3x3'):
        Intrinsics.from_matrix(np.eye(4), 640, 480)


@pytest.mark.parametrize('bad', [{'fx': 0.0}, {'fy': -1.0}, {'fx': float('nan')},
                                 {'cy': float('inf')}, {'width': 0},
                                 # finite in float64, but 0 / inf in float32
                                 {'fx': 1e-300}, {'fy': 1e-50}, {'fx': 1e300},
                                 {'cx': 1e300}, {'cy': -1e39}, {'cx': 2e7}])
def test_validate_rejects(bad):
    params = {'fx': 500.0, 'fy': 500.0, 'cx': 320.0, 'cy': 240.0, 'width': 640, 'height': 480}
    params.update(bad)
    with pytest.raises(ValueError, match='intrinsics'):
        Intrinsics(**params).validate()


def test_no_inf_in_points_or_cloud():
    # Extreme but valid float32 intrinsics and huge depth: x/y overflow float32.
    intr = Intrinsics(1e-6, 1e-6, -1e7, 1e7, 64, 48)
    intr.validate()
    depth = np.full((48, 64), 3e38, np.float32)
    depth[0, 0] = 1.0
    points = backproject(depth, intr)
    assert not np.isinf(points).any()
    assert np.isfinite(points[0, 0]).all() and np.isnan(points[1:]).all()
    raw = np.full((2, 3, 3), np.inf, np.float32)
    raw[0, 0] = (1.0, 2.0, 3.0)
    raw[1, 1] = (1.0, -np.inf, 2.0)
    data = pack_organized_cloud(raw).data.view('<f4').reshape(2, 3, 4)
    assert not np.isinf(data).any()
    np.testing.assert_array_equal(data[0, 0, :3], [1.0, 2.0, 3.0])
    assert np.isnan(data[1, 1, :3]).all() and np.isnan(data[0, 1, :3]).all()


def test_backproject_shape_nan_and_reprojection():
    rng = np.random.default_rng(0)
    intr = NYU_INTRINSICS.scaled(64, 48)
    depth = _random_depth(rng)
    pts = backproject(depth, intr)
    assert pts.shape == (48, 64, 3) and pts.dtype == np.float32
    valid = np.isfinite(depth) & (depth > 0)
    assert np.all(np.isnan(pts[~valid]))
    assert np.all(np.isfinite(pts[valid]))
    np.testing.assert_allclose(pts[..., 2][valid], depth[valid])
    vv, uu = np.nonzero(valid)
    uv = project(pts[valid], intr)
    np.testing.assert_allclose(uv[:, 0], uu, atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], vv, atol=1e-3)


def test_backproject_axes_convention():
    intr = Intrinsics(100.0, 100.0, 10.0, 5.0, 21, 11)
    pts = backproject(np.full((11, 21), 2.0, np.float32), intr)
    np.testing.assert_allclose(pts[5, 10], [0, 0, 2])
    assert pts[5, 20, 0] > 0 and pts[10, 10, 1] > 0   # x right, y down


def test_backproject_rejects_mismatched_shape():
    with pytest.raises(ValueError, match='does not match'):
        backproject(np.ones((10, 10), np.float32), NYU_INTRINSICS)


def test_project_behind_camera_is_nan():
    uv = project(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]), NYU_INTRINSICS)
    assert np.all(np.isnan(uv[0]))
    np.testing.assert_allclose(uv[1], [NYU_INTRINSICS.cx, NYU_INTRINSICS.cy])


def test_scaled_pixel_centre_convention():
    s = NYU_INTRINSICS.scaled(320, 240)
    assert s.fx == pytest.approx(NYU_INTRINSICS.fx / 2)
    assert s.cx == pytest.approx((NYU_INTRINSICS.cx + 0.5) / 2 - 0.5)
    assert (s.width, s.height) == (320, 240)
    back = s.scaled(640, 480)
    assert back.cx == pytest.approx(NYU_INTRINSICS.cx) and back.fy == pytest.approx(519.4696)
    with pytest.raises(ValueError):
        NYU_INTRINSICS.scaled(0, 10)


def test_scaled_intrinsics_consistent_with_cv2_resize():
    # A plane z = a + b*u_norm: its depth image resized with cv2 must back-project to the same
    # plane with the scaled intrinsics (i.e. resized pixels keep their rays).
    intr = NYU_INTRINSICS
    u = np.arange(640, dtype=np.float64)
    v = np.arange(480, dtype=np.float64)
    xn = (u[None, :] - intr.cx) / intr.fx
    yn = (v[:, None] - intr.cy) / intr.fy
    n = np.array([0.3, -0.2, 1.0])
    depth = (4.0 / (n[0] * xn + n[1] * yn + n[2])).astype(np.float32)   # plane n·X = 4
    for w, h in [(320, 240), (224, 168), (160, 120)]:
        small = cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR)
        pts = backproject(small, intr.scaled(w, h)).reshape(-1, 3).astype(np.float64)
        np.testing.assert_allclose(pts @ n, 4.0, rtol=1e-5)
        # Scaling cx by sx alone (ignoring the half-pixel shift) tilts the plane measurably.
        sx, sy = w / intr.width, h / intr.height
        naive = Intrinsics(intr.fx * sx, intr.fy * sy, intr.cx * sx, intr.cy * sy, w, h)
        bad = backproject(small, naive).reshape(-1, 3).astype(np.float64)
        assert np.abs(bad @ n / 4.0 - 1.0).max() > 1e-4


def test_decimate():
    rng = np.random.default_rng(1)
    intr = NYU_INTRINSICS.scaled(64, 48)
    depth = _random_depth(rng)
    small, si = decimate(depth, intr, 4)
    assert small.shape == (12, 16) and (si.width, si.height) == (16, 12)
    np.testing.assert_array_equal(small, depth[::4, ::4])
    full = backproject(depth, intr)[::4, ::4]
    np.testing.assert_allclose(backproject(small, si), full, rtol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match='factor'):
        decimate(depth, intr, 0)


def test_pack_rgb_bits():
    rgb = np.array([[[0x12, 0x34, 0x56], [255, 0, 1]]], np.uint8)
    packed = pack_rgb(rgb)
    assert packed.dtype == np.float32 and packed.shape == (1, 2)
    assert packed.view(np.uint32)[0, 0] == 0x123456
    assert packed.view(np.uint32)[0, 1] == 0xFF0001
    with pytest.raises(ValueError):
        pack_rgb(rgb.astype(np.float32))


def test_pack_organized_cloud_layout():
    rng = np.random.default_rng(2)
    intr = NYU_INTRINSICS.scaled(32, 24)
    depth = _random_depth(rng, 24, 32)
    pts = backproject(depth, intr)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    buf = pack_organized_cloud(pts, rgb)
    assert isinstance(buf, CloudBuffer)
    assert (buf.height, buf.width, buf.point_step, buf.row_step) == (24, 32, 16, 32 * 16)
    assert buf.data.dtype == np.uint8 and buf.data.shape == (24, 32 * 16)
    assert [(f.name, f.offset, f.datatype, f.count) for f in buf.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]
    rec = np.frombuffer(buf.data.tobytes(), dtype=np.dtype(
        {'names': ['x', 'y', 'z', 'rgb'], 'formats': ['<f4', '<f4', '<f4', '<u4'],
         'offsets': [0, 4, 8, 12], 'itemsize': 16})).reshape(24, 32)
    np.testing.assert_array_equal(rec['z'], pts[..., 2])   # z equals the depth at each pixel
    np.testing.assert_array_equal(rec['x'], pts[..., 0])
    np.testing.assert_array_equal(rec['y'], pts[..., 1])
    expected_rgb = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) \
        | rgb[..., 2]
    np.testing.assert_array_equal(rec['rgb'], expected_rgb)
    no_rgb = pack_organized_cloud(pts)
    assert [f.name for f in no_rgb.fields] == ['x', 'y', 'z'] and no_rgb.point_step == 16


def test_rgbd_sample_valid_mask():
    depth = np.array([[1.0, np.nan], [0.0, 2.0]], np.float32)
    s = RGBDSample('t/0', np.zeros((2, 2, 3), np.uint8), depth, NYU_INTRINSICS.scaled(2, 2))
    np.testing.assert_array_equal(s.valid_mask(), [[True, False], [False, True]])
    s.valid = np.array([[False, True], [True, True]])
    np.testing.assert_array_equal(s.valid_mask(), [[False, False], [False, True]])
    assert s.meta == {}
