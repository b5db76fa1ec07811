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

r"""
Lens distortion in the terms of ``sensor_msgs/CameraInfo``: the forward model and its inverse.

Everything works on *normalised* image coordinates (x, y) = (X/Z, Y/Z) of a camera-frame point,
so a :class:`Distortion` does not change when the image is resized (the intrinsics do).

Models (the names and coefficient orders of ROS ``distortion_model`` / ``d``; OpenCV's maths):

* ``plumb_bob``: d = (k1, k2, p1, p2[, k3]); ``rational_polynomial``: d = (k1, k2, p1, p2, k3,
  k4, k5, k6). With r² = x² + y²::

      radial = (1 + k1 r² + k2 r⁴ + k3 r⁶) / (1 + k4 r² + k5 r⁴ + k6 r⁶)
      x_d = x·radial + 2 p1 x y + p2 (r² + 2 x²)
      y_d = y·radial + p1 (r² + 2 y²) + 2 p2 x y

* ``equidistant`` (OpenCV's fisheye): d = (k1, k2, k3, k4). With θ = atan(r)::

      θ_d = θ (1 + k1 θ² + k2 θ⁴ + k3 θ⁶ + k4 θ⁸),   (x_d, y_d) = (θ_d / r) (x, y)

The inverse (:func:`undistort`, what back-projection needs: the ray of a pixel) has no closed
form. It is found by Newton's method from (x, y) = (x_d, y_d): on the 2×2 Jacobian for the
pinhole models (OpenCV's fixed-point iteration converges only linearly), on θ_d(θ) = |(x_d, y_d)|
for the fisheye model. A result is kept only where the lens is locally one-to-one and keeps the
ray on its side of the axis (positive Jacobian determinant and radial factor, dθ_d/dθ > 0;
beyond that fold two rays land on one pixel) and the forward
model maps it back onto the input within ``tol``: where a strong lens model has no inverse
(outside the region its calibration covered), the ray is NaN rather than wrong.
"""

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

import numpy as np

DISTORTION_COEFFICIENTS = {
    'plumb_bob': (4, 5),
    'rational_polynomial': (8,),
    'equidistant': (4,),
}
"""Supported ``distortion_model`` names and the lengths of ``d`` each accepts."""

UNDISTORT_ITERATIONS = 50
"""Most iterations of the inverse (pinhole: fixed point; fisheye: Newton)."""

UNDISTORT_BLOCK = 16384
"""Points per block of the inverse (its float64 temporaries then fit in a core's cache)."""

_CONVERGED = 1e-9
"""The iteration stops early once no coordinate moves by more than this (normalised units)."""

UNDISTORT_TOLERANCE = 1e-6
"""Largest forward-model residual (normalised units; 5e-4 px at f = 500 px) of a kept ray."""


@dataclass(frozen=True)
class Distortion:
    """
    A lens distortion: ``model`` (a key of :data:`DISTORTION_COEFFICIENTS`) and ``d``.

    Build it with :func:`make_distortion`, which checks both and pads plumb_bob's k3.
    """

    model: str
    d: Tuple[float, ...]

    def __str__(self) -> str:
        return f'{self.model}({", ".join(f"{c:g}" for c in self.d)})'


def make_distortion(model: str, d: Sequence[float]) -> Optional[Distortion]:
    """
    Return the :class:`Distortion` of a CameraInfo ``distortion_model`` and ``d``.

    ``None`` when every coefficient is zero (or ``d`` is empty): an undistorted pinhole camera,
    whatever the model is called. Raises ``ValueError`` for an unknown model, a length of ``d``
    the model does not take, or a non-finite coefficient.
    """
    coefficients = tuple(float(c) for c in d)
    if not any(coefficients):
        return None
    if model not in DISTORTION_COEFFICIENTS:
        raise ValueError(f'distortion model {model!r} is not supported (supported: '
                         f'{", ".join(DISTORTION_COEFFICIENTS)})')
    lengths = DISTORTION_COEFFICIENTS[model]
    if len(coefficients) not in lengths:
        raise ValueError(f'distortion model {model!r} takes '
                         f'{" or ".join(str(n) for n in lengths)} coefficients, got '
                         f'{len(coefficients)}')
    if not all(math.isfinite(c) for c in coefficients):
        raise ValueError(f'distortion coefficients must be finite, got {coefficients}')
    if model == 'plumb_bob' and len(coefficients) == 4:
        coefficients += (0.0,)
    return Distortion(model, coefficients)


def _pinhole_coefficients(dist: Distortion) -> Tuple[float, ...]:
    """Return (k1, k2, p1, p2, k3, k4, k5, k6) of a pinhole model (plumb_bob: k4..k6 = 0)."""
    return (dist.d + (0.0,) * 8)[:8]


def _radial_tangential(dist: Distortion, x: np.ndarray, y: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (radial, dx, dy) of a pinhole model at (x, y): x_d = x·radial + dx."""
    k1, k2, p1, p2, k3, k4, k5, k6 = _pinhole_coefficients(dist)
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return radial, dx, dy


def _pinhole_step(dist: Distortion, x: np.ndarray, y: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """
    Return a pinhole model's forward map at (x, y), its Jacobian and radial factor, in one pass.

    (x_d, y_d, (∂x_d/∂x, ∂x_d/∂y, ∂y_d/∂x, ∂y_d/∂y), radial) share r² and the radial
    polynomials, which is most of the work of a Newton step over every pixel.
    """
    k1, k2, p1, p2, k3, k4, k5, k6 = _pinhole_coefficients(dist)
    xy = x * y
    x2, y2 = x * x, y * y
    r2 = x2 + y2
    num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    radial = num / den
    dradial = 2 * ((k1 + r2 * (2 * k2 + r2 * 3 * k3)) * den -
                   num * (k4 + r2 * (2 * k5 + r2 * 3 * k6))) / (den * den)  # d radial/dx = x ·
    xd = x * radial + 2 * p1 * xy + p2 * (r2 + 2 * x2)
    yd = y * radial + p1 * (r2 + 2 * y2) + 2 * p2 * xy
    cross = xy * dradial + 2 * p1 * x + 2 * p2 * y  # ∂x_d/∂y = ∂y_d/∂x
    jac = (radial + x2 * dradial + 2 * p1 * y + 6 * p2 * x, cross, cross,
           radial + y2 * dradial + 6 * p1 * y + 2 * p2 * x)
    return xd, yd, jac, radial


def _theta_d(dist: Distortion, theta: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Return θ_d(θ) of the fisheye model and its derivative dθ_d/dθ."""
    k1, k2, k3, k4 = dist.d
    t2 = theta * theta
    poly = 1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
    slope = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta * poly, slope


def distort(dist: Distortion, x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Map undistorted normalised coordinates (x, y) to distorted ones (x_d, y_d), float64.

    Any array shape (broadcast). For ``equidistant`` the point must lie in front of the camera
    (it is given by x = X/Z, y = Y/Z with Z > 0).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if dist.model == 'equidistant':
        r = np.hypot(x, y)
        theta_d, _ = _theta_d(dist, np.arctan(r))
        with np.errstate(invalid='ignore', divide='ignore'):
            ratio = np.where(r > 0, theta_d / np.where(r > 0, r, 1.0), 1.0)
        return x * ratio, y * ratio
    radial, dx, dy = _radial_tangential(dist, x, y)
    return x * radial + dx, y * radial + dy


def _undistort_fisheye(dist: Distortion, xd: np.ndarray, yd: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray]:
    theta_d = np.hypot(xd, yd)
    theta = theta_d.copy()
    with np.errstate(all='ignore'):
        for _ in range(UNDISTORT_ITERATIONS):
            value, slope = _theta_d(dist, theta)
            step = (value - theta_d) / slope
            theta = theta - step
            if not np.nanmax(np.abs(step), initial=0.0) > _CONVERGED:
                break
        ratio = np.where(theta_d > 0, np.tan(theta) / np.where(theta_d > 0, theta_d, 1.0), 1.0)
        # no ray in front of the camera, or beyond the fold (θ_d no longer grows with θ)
        behind = ~((theta >= 0) & (theta < math.pi / 2) & (_theta_d(dist, theta)[1] > 0))
    x, y = xd * ratio, yd * ratio
    x[behind] = np.nan
    y[behind] = np.nan
    return x, y


def _undistort_pinhole(dist: Distortion, xd: np.ndarray, yd: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray]:
    x, y = xd.copy(), yd.copy()
    with np.errstate(all='ignore'):
        for _ in range(UNDISTORT_ITERATIONS):
            bx, by, (a, b, c, d), _ = _pinhole_step(dist, x, y)
            det = a * d - b * c
            ex, ey = bx - xd, by - yd
            step_x = (d * ex - b * ey) / det
            step_y = (a * ey - c * ex) / det
            x -= step_x
            y -= step_y
            if not max(np.nanmax(np.abs(step_x), initial=0.0),
                       np.nanmax(np.abs(step_y), initial=0.0)) > _CONVERGED:
                break
        _, _, (a, b, c, d), radial = _pinhole_step(dist, x, y)
        # beyond the fold the lens maps two rays onto one pixel; radial < 0 mirrors the ray
        folded = ~((a * d - b * c > 0) & (radial > 0))
    x[folded] = np.nan
    y[folded] = np.nan
    return x, y


def undistort(dist: Distortion, xd: np.ndarray, yd: np.ndarray,
              tol: float = UNDISTORT_TOLERANCE) -> Tuple[np.ndarray, np.ndarray]:
    """
    Invert :func:`distort`: distorted normalised coordinates → undistorted (x, y), float64.

    Any array shape. Where the iteration does not reach a point that :func:`distort` maps back
    within ``tol`` of (x_d, y_d), both outputs are NaN (no ray; see the module docstring).
    Works through the points in blocks of :data:`UNDISTORT_BLOCK`, so that the iteration's
    temporaries stay in the CPU cache (a 1920×1080 image is 2 M points).
    """
    xd, yd = np.broadcast_arrays(np.asarray(xd, dtype=np.float64),
                                 np.asarray(yd, dtype=np.float64))
    shape = xd.shape
    xd, yd = xd.ravel(), yd.ravel()
    x, y = np.empty_like(xd), np.empty_like(yd)
    inverse = _undistort_fisheye if dist.model == 'equidistant' else _undistort_pinhole
    for start in range(0, xd.size, UNDISTORT_BLOCK):
        part = slice(start, start + UNDISTORT_BLOCK)
        x[part], y[part] = inverse(dist, xd[part], yd[part])  # neither inverse writes its input
    with np.errstate(all='ignore'):
        bx, by = distort(dist, x, y)
        bad = ~(np.abs(bx - xd) <= tol) | ~(np.abs(by - yd) <= tol)
    x[bad] = np.nan
    y[bad] = np.nan
    return x.reshape(shape), y.reshape(shape)
