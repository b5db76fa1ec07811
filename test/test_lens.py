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

"""Tests for adaptive_depth.lens and the distorted rays of adaptive_depth.geometry."""

from adaptive_depth.geometry import backproject, Intrinsics, pixel_rays, project
from adaptive_depth.lens import distort, make_distortion, undistort, UNDISTORT_TOLERANCE
import cv2
import numpy as np
import pytest

# Calibrations of the kind camera_calibration writes (a webcam, a wide lens, a fisheye).
PLUMB_BOB = make_distortion('plumb_bob', [-0.28, 0.09, 0.0012, -0.0008, -0.012])
RATIONAL = make_distortion('rational_polynomial',
                           [0.42, -0.05, 0.0007, 0.0011, 0.002, 0.75, 0.01, 0.004])
FISHEYE = make_distortion('equidistant', [0.04, -0.012, 0.003, -0.0006])
INTR = Intrinsics(455.0, 452.0, 322.4, 241.7, 640, 480)


def _points_in_front(n=500, seed=0, spread=0.8):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.3, 9.0, n)
    return np.stack([rng.uniform(-spread, spread, n) * z,
                     rng.uniform(-spread, spread, n) * z, z], axis=1)


@pytest.mark.parametrize('dist', [PLUMB_BOB, RATIONAL], ids=['plumb_bob', 'rational'])
def test_pinhole_models_project_as_opencv(dist):
    pts = _points_in_front()
    ours = project(pts, INTR, dist)
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), INTR.matrix, np.array(dist.d))
    np.testing.assert_allclose(ours, ref.reshape(-1, 2), atol=1e-9)


def test_equidistant_projects_as_opencv_fisheye():
    pts = _points_in_front(spread=2.0)  # up to ~70 degrees off axis
    ours = project(pts, INTR, FISHEYE)
    ref, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                                       INTR.matrix, np.array(FISHEYE.d))
    np.testing.assert_allclose(ours, ref.reshape(-1, 2), atol=1e-9)


@pytest.mark.parametrize('dist', [PLUMB_BOB, RATIONAL, FISHEYE],
                         ids=['plumb_bob', 'rational', 'equidistant'])
def test_every_pixel_ray_projects_back_onto_its_pixel(dist):
    rx, ry = pixel_rays(INTR, dist)
    assert rx.shape == ry.shape == (480, 640) and rx.dtype == np.float32
    assert np.isfinite(rx).all() and np.isfinite(ry).all()  # these lenses invert everywhere
    rays = np.stack([rx.ravel(), ry.ravel(), np.ones(rx.size)], axis=1).astype(np.float64)
    uv = project(rays * 2.5, INTR, dist)
    v, u = np.mgrid[0:480, 0:640]
    # float32 rays: about 1e-7 relative, a few thousandths of a pixel at the border
    np.testing.assert_allclose(uv[:, 0], u.ravel(), atol=5e-3)
    np.testing.assert_allclose(uv[:, 1], v.ravel(), atol=5e-3)


def test_undistort_agrees_with_opencv():
    rng = np.random.default_rng(1)
    uv = np.stack([rng.uniform(0, 640, 300), rng.uniform(0, 480, 300)], axis=1)
    ref = cv2.undistortPoints(uv.reshape(-1, 1, 2), INTR.matrix, np.array(PLUMB_BOB.d),
                              criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS,
                                        100, 1e-14)).reshape(-1, 2)
    x, y = undistort(PLUMB_BOB, (uv[:, 0] - INTR.cx) / INTR.fx, (uv[:, 1] - INTR.cy) / INTR.fy)
    np.testing.assert_allclose(np.stack([x, y], axis=1), ref, atol=1e-7)


def test_rays_a_lens_model_cannot_invert_are_nan_never_wrong():
    # Strong barrel distortion folds over beyond r ~ 0.58: the image corners have no ray.
    strong = make_distortion('plumb_bob', [-1.0, 0.0, 0.0, 0.0, 0.0])
    rx, ry = pixel_rays(INTR, strong)
    lost = np.isnan(rx)
    assert lost[0, 0] and lost[-1, -1] and not lost[240, 320]
    assert np.array_equal(lost, np.isnan(ry))
    # every kept ray is the one inside the fold (r < 1/sqrt(3)), not the mirrored one beyond it
    assert (np.hypot(rx[~lost], ry[~lost]) < 1 / np.sqrt(3) + 1e-6).all()
    xd, yd = distort(strong, rx[~lost].astype(np.float64), ry[~lost].astype(np.float64))
    v, u = np.mgrid[0:480, 0:640]
    np.testing.assert_allclose(xd, (u[~lost] - INTR.cx) / INTR.fx, atol=1e-5)
    np.testing.assert_allclose(yd, (v[~lost] - INTR.cy) / INTR.fy, atol=1e-5)
    depth = np.full((480, 640), 2.0, np.float32)
    points = backproject(depth, INTR, strong)
    assert np.isnan(points[lost]).all() and np.isfinite(points[~lost]).all()


def test_fisheye_beyond_ninety_degrees_has_no_ray():
    x, y = undistort(FISHEYE, np.array([0.3, 2.5]), np.array([0.0, 0.0]))  # θ_d 0.3 and 2.5 rad
    assert np.isfinite(x[0]) and np.isnan(x[1]) and np.isnan(y[1])


def test_undistort_tolerance_is_checked_on_the_forward_model():
    xd, yd = np.array([0.4]), np.array([-0.3])
    x, y = undistort(PLUMB_BOB, xd, yd)
    bx, by = distort(PLUMB_BOB, x, y)
    assert abs(bx[0] - xd[0]) <= UNDISTORT_TOLERANCE and abs(by[0] - yd[0]) <= UNDISTORT_TOLERANCE
    assert abs(x[0] - xd[0]) > 0.01  # and the lens really moved the point


def test_pinhole_rays_are_separable_and_match_the_formula():
    rx, ry = pixel_rays(INTR)
    assert rx.shape == (1, 640) and ry.shape == (480, 1) and not rx.flags.writeable
    expected = (np.arange(640, dtype=np.float32) - np.float32(INTR.cx)) / np.float32(INTR.fx)
    np.testing.assert_array_equal(rx[0], expected)


def test_rays_scale_with_the_image_but_the_distortion_does_not():
    small = INTR.scaled(320, 240)
    rx, ry = pixel_rays(small, PLUMB_BOB)
    # pixel (i, j) of the half-size image looks along the ray of full-size pixel (2i+0.5, 2j+0.5)
    full_u = (np.arange(320) + 0.5) * 2 - 0.5
    xd = (full_u - INTR.cx) / INTR.fx
    yd = np.full_like(xd, (100.5 * 2 - 0.5 - INTR.cy) / INTR.fy)
    x, _ = undistort(PLUMB_BOB, xd, yd)
    np.testing.assert_allclose(rx[100], x, atol=1e-6)


def test_make_distortion_checks_model_and_coefficients():
    assert make_distortion('plumb_bob', [0.0] * 5) is None
    assert make_distortion('anything', []) is None       # all zero: a pinhole, whatever its name
    assert make_distortion('plumb_bob', [0.1, 0, 0, 0]).d == (0.1, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="'kannala_brandt' is not supported"):
        make_distortion('kannala_brandt', [0.1, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match='takes 8 coefficients, got 5'):
        make_distortion('rational_polynomial', [0.1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match='finite'):
        make_distortion('equidistant', [0.1, float('nan'), 0, 0])
    assert str(FISHEYE) == 'equidistant(0.04, -0.012, 0.003, -0.0006)'
