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
The floor under a camera at a known height: a geometric per-image scale, with no training.

A ground robot's camera is mounted at a known height H (metres) above a flat floor (its URDF).
If the base model's depth is right up to one global factor, D_pred = D / s, every point it
back-projects is the true point divided by s, so the floor plane fitted to those points lies at
distance h = H / s from the camera, and::

    s = H / h,    log s = log H − log h.

Unlike a learned scale this measures the scale of *this* prediction: it needs no training data,
does not depend on which room the camera is in, and follows the per-image part of the error that
no image predictor can know. It needs the floor in view and a base model whose floor is planar
up to the global scale (a relative error field tilts or bends it).

The fit works on the H×W depth (metres of the prediction) back-projected along each pixel's ray
(``geometry.backproject``: lens distortion included), subsampled to about ``points`` points, in
the optical frame (x right, y down, z forward). Every tolerance is *relative* to the plane's
distance, so the fit is the same at any scale of the input.

1. **Floor normal.** ``down`` is the expected direction of gravity in the optical frame
   (:func:`down_vector` from the camera's pitch and roll; (0, 1, 0) for a level camera). With
   ``max_tilt_deg`` = 0 it is the floor normal (a robot whose mount is known). Otherwise plane
   hypotheses come from local point triples (three points a few grid cells apart, which mostly lie
   on one surface: a random triple over the whole image almost never does), their normals oriented
   downward; those within ``max_tilt_deg`` of ``down`` with a positive distance are scored by their
   inliers (``|n·p − d| < tolerance · d``), all hypotheses against a random subset of the points in
   one matrix product, and the best one's normal is refined by a least-squares fit (SVD) to its
   inliers.
2. **Which parallel plane.** Table tops, seats and counters are parallel to the floor and above
   it. Along the normal, the offsets t = n·p of the points are counted in windows of relative
   width ``tolerance``; the floor is the *farthest* window (largest t) holding at least
   ``min_fraction`` of the points and at least ``LOWER_FRACTION`` of the fullest window's.
3. **Refine.** The normal (unless fixed) and the distance are refitted to that window's points
   in bands narrowing to a quarter of ``tolerance``; the distance h is their median offset.

No floor (:func:`fit_floor` returns None) when fewer than ``min_fraction`` of the points (or than
``MIN_SUPPORT`` points) support any plane within the tilt (the floor is out of view, or the depth
is not planar there), or when more than ``BEYOND_FRACTION`` of them lie beyond the chosen plane
(nothing lies below a floor, so such a plane is a table top or a seat whose floor holds too few
points to be found), or when its points form a strip rather than an area (``MIN_EXTENT_RATIO``:
with the normal fixed, the band at the foot of a wall would otherwise pass for a floor). A wrong
scale is worse than none.

**A rigid mount calibrates itself.** A searched fit's refined normal scatters by about a degree
(noise, and the prediction's smooth error field bends its floor), and along a normal a degree off
the floor's offsets spread by a few per cent. The normal of a rigid mount is the same in every
frame, so :func:`mount_normal` takes the robust mean of many searched floors' normals (0.35°
median error from 20 floors in the synthetic rooms) and the fit along it, with the normal fixed,
is as accurate as with a known mount (``scale_source.GroundPlaneScale``; docs/scale_net.md).

Vectorised numpy; deterministic (a fixed ``seed``). About 5 ms per 640×480 frame on one CPU core
with the normal searched, about 1 ms with it fixed (the sample does not grow with the image).
"""

from dataclasses import dataclass
import math
from typing import Optional, Sequence

from adaptive_depth.geometry import backproject, decimate, Intrinsics
from adaptive_depth.lens import Distortion
import numpy as np

DEFAULT_TOLERANCE = 0.03
"""Inlier band, relative to the plane's distance (3 %: about 4 cm at 1.3 m)."""
DEFAULT_MIN_FRACTION = 0.03
"""Least share of the sampled points on the floor for a fit."""
DEFAULT_MAX_TILT_DEG = 30.0
"""How far the floor normal may lie from ``down`` (degrees); 0 = ``down`` is the normal."""
LOWER_FRACTION = 0.5
"""A plane below the best one is the floor if it holds at least this share of the best's points."""
MIN_SUPPORT = 30
"""Least number of points on the floor, whatever the share (a tiny image proves nothing)."""
BEYOND_FRACTION = 0.05
"""Nothing lies below the floor: a plane with more of the points beyond it is a table or a seat."""
MIN_EXTENT_RATIO = 0.1
"""A floor spreads across *and* along the view (:func:`extent_ratio`); a strip, such as the foot
of a wall cut by a fixed normal's band, does not."""
HYPOTHESES = 384
"""Plane hypotheses drawn per frame when the normal is searched."""
POINTS = 4800
"""About this many pixels are sampled (every k-th row and column), whatever the image size."""
SCORE_POINTS = 1200
"""Points each hypothesis is scored against (a random subset of the ``POINTS``)."""
TRIPLE_SPAN = (3, 10)
"""Grid cells between the points of a hypothesis triple (the local surface they sample)."""
DEFAULT_CALIBRATION_FLOORS = 50
"""Searched floors whose normals give a rigid mount's floor normal (:func:`mount_normal`)."""
MOUNT_KEEP_DEG = 2.0
"""A normal this close to the median (or within twice the median angle) joins the mount's mean."""


@dataclass(frozen=True)
class FloorPlane:
    """
    A floor plane in the optical frame: points p with ``normal · p = height``.

    ``normal``: unit 3-vector pointing from the camera towards the floor (down); ``height``:
    the camera's distance to the plane, in the units of the input depth (metres of the
    prediction); ``support``: the share of the sampled points within the inlier band;
    ``points``: how many valid points were sampled.
    """

    normal: np.ndarray
    height: float
    support: float
    points: int


def down_vector(pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """
    Return gravity's direction in the optical frame of a camera pitched and rolled (degrees).

    ``pitch_deg`` > 0 tilts the optical axis down towards the floor; ``roll_deg`` > 0 then
    turns the camera clockwise about its optical axis as seen from behind it (its x axis
    towards its y axis). Returns the unit 3-vector (cos p sin r, cos p cos r, sin p); a level
    camera gives (0, 1, 0).
    """
    if not (math.isfinite(float(pitch_deg)) and math.isfinite(float(roll_deg))):
        raise ValueError(f'camera pitch and roll must be finite degrees, got {pitch_deg}, '
                         f'{roll_deg}')
    p, r = math.radians(float(pitch_deg)), math.radians(float(roll_deg))
    return np.array([math.cos(p) * math.sin(r), math.cos(p) * math.cos(r), math.sin(p)])


def pitch_roll(normal: Sequence[float]) -> tuple:
    """
    Return (pitch_deg, roll_deg) of a floor normal: the inverse of :func:`down_vector`.

    ``normal``: a 3-vector in the optical frame, pointing down (any length > 0).
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    return (math.degrees(math.asin(float(np.clip(n[2], -1.0, 1.0)))),
            math.degrees(math.atan2(float(n[0]), float(n[1]))))


def mount_normal(normals: Sequence) -> np.ndarray:
    """
    Return the floor normal of a rigid mount from N ≥ 1 searched floors' unit normals (N×3).

    Each searched fit's normal scatters by a degree or so (noise and the prediction's smooth
    error field bend its floor) and now and then belongs to a tilted plane (a ramp, a seat): the
    component-wise median is normalised, the normals within ``MOUNT_KEEP_DEG`` (or twice their
    median angle) of it are averaged, and the unit mean is returned.
    """
    n = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    if len(n) == 0:
        raise ValueError('mount_normal needs at least one floor normal')
    centre = np.median(n, axis=0)
    centre /= np.linalg.norm(centre)
    angle = np.degrees(np.arccos(np.clip(n @ centre, -1.0, 1.0)))
    mean = n[angle <= max(MOUNT_KEEP_DEG, 2.0 * float(np.median(angle)))].mean(axis=0)
    return mean / np.linalg.norm(mean)


def sample_points(depth: np.ndarray, intr: Intrinsics, distortion: Optional[Distortion] = None,
                  points: int = POINTS) -> np.ndarray:
    """
    Return the h×w×3 grid of about ``points`` back-projected pixels (every k-th row and column).

    ``depth``: H×W (metres; NaN or ≤ 0 invalid) with ``intr`` its intrinsics; the grid is
    float64 in the optical frame, NaN where a pixel has no valid depth or no ray.
    """
    h, w = np.shape(depth)
    step = max(1, int(round(math.sqrt(h * w / max(int(points), 1)))))
    grid_depth, grid_intr = decimate(np.asarray(depth), intr, step)
    return backproject(grid_depth, grid_intr, distortion).astype(np.float64)


def _hypotheses(grid: np.ndarray, down: np.ndarray, count: int, rng: np.random.Generator
                ) -> tuple:
    """Return N×3 unit normals (on ``down``'s side) and N distances of local triples."""
    gh, gw = grid.shape[:2]
    i = rng.integers(0, gh, count)
    j = rng.integers(0, gw, count)
    di = rng.integers(TRIPLE_SPAN[0], TRIPLE_SPAN[1] + 1, count)
    dj = rng.integers(TRIPLE_SPAN[0], TRIPLE_SPAN[1] + 1, count)
    i2 = np.where(i + di < gh, i + di, i - di)
    j2 = np.where(j + dj < gw, j + dj, j - dj)
    keep = (i2 >= 0) & (j2 >= 0)
    i, j, i2, j2 = i[keep], j[keep], i2[keep], j2[keep]
    a = grid[i, j]
    normal = np.cross(grid[i2, j] - a, grid[i, j2] - a)
    with np.errstate(invalid='ignore', divide='ignore'):
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        normal *= np.where(normal @ down < 0, -1.0, 1.0)[:, None]
    return normal, np.einsum('ij,ij->i', normal, a)


def _refit(pts: np.ndarray, normal: np.ndarray, height: float, tolerance: float,
           fixed_normal: bool) -> tuple:
    """
    Refit the plane (normal unless fixed, then the median offset) to its inliers.

    The band narrows from ``tolerance`` to a quarter of it, so that the points of a wall just
    above the floor's edge, inside the first band, stop tilting the normal.
    """
    for band in (tolerance, tolerance / 2, tolerance / 4):
        inl = pts[np.abs(pts @ normal - height) < band * height]
        if len(inl) < 3:
            break
        if not fixed_normal:
            centre = inl.mean(axis=0)
            n = np.linalg.svd(inl - centre, full_matrices=False)[2][-1]
            normal = n if n @ normal >= 0 else -n
        height = float(np.median(inl @ normal))
    return normal, height


def fit_floor(depth: np.ndarray, intr: Intrinsics, distortion: Optional[Distortion] = None,
              down: Sequence[float] = (0.0, 1.0, 0.0), max_tilt_deg: float = DEFAULT_MAX_TILT_DEG,
              tolerance: float = DEFAULT_TOLERANCE, min_fraction: float = DEFAULT_MIN_FRACTION,
              points: int = POINTS, seed: int = 0) -> Optional[FloorPlane]:
    """
    Fit the floor plane to an H×W depth map (any units; see the module doc), or return None.

    ``intr``: the intrinsics of this H×W image; ``distortion``: its lens (None: pinhole or
    rectified); ``down``: gravity in the optical frame (:func:`down_vector`); ``max_tilt_deg``:
    how far the floor normal may deviate from ``down`` (0: exactly ``down``).
    """
    max_tilt_deg = check_max_tilt(max_tilt_deg)
    if not (0.0 < float(tolerance) < 0.5):
        raise ValueError(f'tolerance must be in (0, 0.5), got {tolerance}')
    if not (0.0 < float(min_fraction) <= 1.0):
        raise ValueError(f'min_fraction must be in (0, 1], got {min_fraction}')
    down_v = np.asarray(down, dtype=np.float64)
    norm = float(np.linalg.norm(down_v))
    if down_v.shape != (3,) or not (math.isfinite(norm) and norm > 0):
        raise ValueError(f'down must be a non-zero 3-vector, got {down}')
    down_v = down_v / norm
    grid = sample_points(np.asarray(depth), intr, distortion, points)
    pts = grid.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 3:
        return None
    cos_tilt = math.cos(math.radians(max_tilt_deg))
    fixed_normal = max_tilt_deg == 0.0
    normal = down_v if fixed_normal else _search_normal(
        grid, pts, down_v, cos_tilt, tolerance, min_fraction, np.random.default_rng(seed))
    if normal is None:
        return None
    height = _farthest_plane(np.sort(pts @ normal), tolerance, min_fraction * len(pts))
    if height is None:
        return None
    normal, height = _refit(pts, normal, height, tolerance, fixed_normal)
    offsets = pts @ normal
    on_plane = np.abs(offsets - height) < tolerance * height
    share = float(np.mean(on_plane))
    beyond = float(np.mean(offsets > (1 + 2 * tolerance) * height))
    if not (math.isfinite(height) and height > 0) or share < min_fraction \
            or share * len(pts) < MIN_SUPPORT or beyond > BEYOND_FRACTION \
            or float(normal @ down_v) < cos_tilt - 1e-9 \
            or extent_ratio(pts[on_plane], normal) < MIN_EXTENT_RATIO:
        return None
    return FloorPlane(normal=normal, height=height, support=share, points=len(pts))


def extent_ratio(points: np.ndarray, normal: np.ndarray) -> float:
    """
    Return how two-dimensional N×3 ``points`` are within the plane of ``normal`` (0 to 1).

    The ratio of the smaller to the larger standard deviation of the points projected onto the
    plane: about 0.5 for a floor seen ahead, near 0 for a strip (a line of points).
    """
    centred = points - points.mean(axis=0)
    centred -= np.outer(centred @ normal, normal)
    spread = np.linalg.eigvalsh(centred.T @ centred)  # ascending: ~0 (along the normal), two more
    return float(math.sqrt(max(spread[1], 0.0) / spread[2])) if spread[2] > 0 else 0.0


def _search_normal(grid: np.ndarray, pts: np.ndarray, down: np.ndarray, cos_tilt: float,
                   tolerance: float, min_fraction: float, rng: np.random.Generator
                   ) -> Optional[np.ndarray]:
    """
    Return the refined normal of the best-supported plane hypothesis within the tilt, or None.

    Hypotheses (:func:`_hypotheses` on the h×w×3 ``grid``) are scored against a random subset of
    the N×3 ``pts``: the share of inliers, not their number, decides.
    """
    normals, heights = _hypotheses(grid, down, HYPOTHESES, rng)
    with np.errstate(invalid='ignore'):
        ok = (normals @ down >= cos_tilt) & (heights > 0)
    if not ok.any():
        return None
    normals, heights = normals[ok].astype(np.float32), heights[ok].astype(np.float32)
    judges = pts if len(pts) <= SCORE_POINTS else \
        pts[rng.choice(len(pts), SCORE_POINTS, replace=False)]
    offsets = judges.astype(np.float32) @ normals.T
    support = (np.abs(offsets - heights) < np.float32(tolerance) * heights).sum(axis=0)
    best = int(np.argmax(support))
    if support[best] < min_fraction * len(judges):
        return None
    return _refit(pts, normals[best].astype(np.float64), float(heights[best]), tolerance,
                  False)[0]


def _farthest_plane(offsets: np.ndarray, tolerance: float, min_count: float) -> Optional[float]:
    """
    Return the centre of the farthest well-supported window of sorted ``offsets`` (or None).

    Windows [t(1 − tol), t(1 + tol)] at centres t spaced by a factor (1 + tol / 2); a window
    qualifies with at least ``min_count`` offsets and ``LOWER_FRACTION`` of the best window's.
    """
    positive = offsets[offsets > 0]
    if positive.size == 0:
        return None
    lo, hi = float(positive[0]), float(positive[-1])
    step = math.log1p(tolerance / 2)
    centres = lo * np.exp(step * np.arange(int(math.log(hi / lo) / step) + 2))
    counts = (np.searchsorted(offsets, centres * (1 + tolerance))
              - np.searchsorted(offsets, centres * (1 - tolerance)))
    good = np.flatnonzero(counts >= max(min_count, LOWER_FRACTION * counts.max()))
    if good.size == 0:
        return None
    # the farthest qualifying window, moved to its local peak (a window straddling the plane's
    # edge qualifies before the one centred on it)
    last = int(good[-1])
    first = max(0, last - 4)
    return float(centres[first + int(np.argmax(counts[first:last + 1]))])


def floor_log_scale(plane: FloorPlane, camera_height: float) -> float:
    """Return log s = log(camera_height / plane.height) (``camera_height`` in metres, > 0)."""
    return math.log(check_camera_height(camera_height)) - math.log(plane.height)


def check_camera_height(camera_height: float) -> float:
    """Return ``camera_height`` (metres) as a float, or raise ValueError unless finite and > 0."""
    value = float(camera_height)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f'camera_height must be finite and > 0 metres, got {camera_height}')
    return value


def check_calibration_floors(floors: int, name: str = 'calibration floors') -> int:
    """
    Return ``floors`` (how many floors calibrate the mount) as an int, or raise unless >= 0.

    ``name`` is what the message calls the value (the node: its parameter's name).
    """
    value = int(floors)
    if value != floors or value < 0:
        raise ValueError(f'{name} must be >= 0 (an integer), got {floors}')
    return value


def check_max_tilt(max_tilt_deg: float, name: str = 'max_tilt_deg') -> float:
    """
    Return ``max_tilt_deg`` as a float, or raise ValueError unless in [0, 90) degrees.

    ``name`` is what the message calls the value (the node: its parameter's name).
    """
    value = float(max_tilt_deg)
    if not 0.0 <= value < 90.0:
        raise ValueError(f'{name} must be in [0, 90) degrees, got {max_tilt_deg}')
    return value
