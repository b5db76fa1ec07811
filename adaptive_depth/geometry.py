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
Camera geometry: intrinsics, pixel rays, back-projection, projection and point-cloud packing.

Conventions: images are H×W (rows × columns); pixel (u, v) = (column, row) with integer
coordinates at pixel centres; camera frame x right, y down, z forward (optical frame, REP 103);
depth is z-depth along the optical axis in metres and NaN marks invalid depth (REP 117).
"""

from dataclasses import dataclass, field
import functools
import math
from typing import List, Optional, Sequence, Tuple

from adaptive_depth.lens import distort, Distortion, undistort
import numpy as np
from numpy.typing import ArrayLike

FLOAT32 = 7
"""``sensor_msgs/PointField`` datatype code for FLOAT32."""

MIN_FOCAL_PX = 1e-6
"""Smallest accepted focal length (pixels): below it 1/f is not a safe float32 value."""

MAX_PRINCIPAL_PX = 1e7
"""Largest accepted |cx|, |cy| (pixels); float32 has 24 bits of mantissa."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_FOCAL_PX = _FLOAT32_MAX
"""Largest accepted focal length (pixels): it must stay a finite float32."""
MAX_DECIMATION = 1000
"""Largest accepted point-cloud decimation (every N-th row and column; N > 1000 keeps nothing
of any camera image, and f / N must stay a usable focal length)."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``height`` × ``width`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_matrix(cls, K: ArrayLike, width: int, height: int) -> 'Intrinsics':
        """Build intrinsics from a 3×3 camera matrix ``K`` (pixels)."""
        k = np.asarray(K, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f'camera matrix must be 3x3, got shape {k.shape}')
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                   int(width), int(height))

    @classmethod
    def from_camera_info_k(cls, k: Sequence[float], width: int, height: int) -> 'Intrinsics':
        """Build intrinsics from a row-major 9-element ``CameraInfo.k`` array (pixels)."""
        arr = np.asarray(k, dtype=np.float64).reshape(-1)
        if arr.size != 9:
            raise ValueError(f'camera_info k must have 9 elements, got {arr.size}')
        return cls.from_matrix(arr.reshape(3, 3), width, height)

    @property
    def matrix(self) -> np.ndarray:
        """Return the 3×3 float64 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx],
                         [0.0, self.fy, self.cy],
                         [0.0, 0.0, 1.0]], dtype=np.float64)

    def scaled(self, width: int, height: int) -> 'Intrinsics':
        """
        Return the intrinsics of this camera after resizing the image to ``height`` × ``width``.

        Uses the pixel-centre convention of ``cv2.resize``: a pixel centre at u maps to
        ``(u + 0.5) * sx - 0.5`` with ``sx = width / self.width`` (likewise for v), so
        ``fx' = fx * sx`` and ``cx' = (cx + 0.5) * sx - 0.5``.
        """
        width = int(width)
        height = int(height)
        if width <= 0 or height <= 0:
            raise ValueError(f'target size must be positive, got {width}x{height}')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f'cannot scale intrinsics of size {self.width}x{self.height}')
        sx = width / self.width
        sy = height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                          (self.cy + 0.5) * sy - 0.5, width, height)

    def validate(self) -> None:
        """
        Raise ``ValueError`` unless the intrinsics are usable in float32 arithmetic.

        fx, fy must be finite in float32 and >= :data:`MIN_FOCAL_PX` (1e-300 passes a float64
        check but is 0 in float32, and back-projection would divide by it); |cx|, |cy|
        <= :data:`MAX_PRINCIPAL_PX`; width and height > 0.
        """
        for name in ('fx', 'fy'):
            value = getattr(self, name)
            if not (math.isfinite(value) and MIN_FOCAL_PX <= value <= MAX_FOCAL_PX):
                raise ValueError(f'intrinsics {name} must be finite and > 0 (in float32, at '
                                 f'least {MIN_FOCAL_PX:g} px), got {value}')
        for name in ('cx', 'cy'):
            value = getattr(self, name)
            if not (math.isfinite(value) and abs(value) <= MAX_PRINCIPAL_PX):
                raise ValueError(f'intrinsics {name} must be finite with |{name}| <= '
                                 f'{MAX_PRINCIPAL_PX:g} px, got {value}')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(
                f'intrinsics image size must be positive, got {self.width}x{self.height}')


NYU_INTRINSICS = Intrinsics(518.8579, 519.4696, 325.5824, 253.7362, 640, 480)
"""NYU Depth V2 Kinect colour camera (640×480)."""

PRIMESENSE_INTRINSICS = Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
"""Default PrimeSense / Kinect v1 intrinsics (TUM, Redwood; 640×480)."""


def _check_depth(depth: np.ndarray, intr: Intrinsics) -> np.ndarray:
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f'depth must be an HxW array, got shape {depth.shape}')
    if depth.shape != (intr.height, intr.width):
        raise ValueError(
            f'depth shape {depth.shape} does not match intrinsics size '
            f'{intr.height}x{intr.width} (HxW)')
    return depth


def pixel_rays(intr: Intrinsics, distortion: Optional[Distortion] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return the ray (x/z, y/z) through every pixel centre of an H×W image, float32, read-only.

    Without distortion (``None``: a pinhole camera or a rectified image) the rays are separable:
    x/z = (u − cx) / fx as 1×W and y/z = (v − cy) / fy as H×1 (they broadcast to H×W), in float32
    arithmetic. With a :class:`~adaptive_depth.lens.Distortion` (the pixels of the raw image) each
    is H×W, from :func:`~adaptive_depth.lens.undistort` (float64, then rounded), and NaN where the
    lens model has no ray. The last few results are cached (cameras rarely change).
    """
    intr.validate()
    return _pixel_rays(intr, distortion)


@functools.lru_cache(maxsize=8)
def _pixel_rays(intr: Intrinsics, distortion: Optional[Distortion]
                ) -> Tuple[np.ndarray, np.ndarray]:
    if distortion is None:
        x = (np.arange(intr.width, dtype=np.float32) - np.float32(intr.cx)) / np.float32(intr.fx)
        y = (np.arange(intr.height, dtype=np.float32) - np.float32(intr.cy)) / np.float32(intr.fy)
        x, y = x[None, :], y[:, None]
    else:
        xd = (np.arange(intr.width, dtype=np.float64) - intr.cx) / intr.fx
        yd = (np.arange(intr.height, dtype=np.float64) - intr.cy) / intr.fy
        x, y = undistort(distortion, xd[None, :], yd[:, None])
        x, y = x.astype(np.float32), y.astype(np.float32)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def backproject(depth: np.ndarray, intr: Intrinsics,
                distortion: Optional[Distortion] = None) -> np.ndarray:
    """
    Back-project an H×W z-depth map (metres) to an H×W×3 float32 point map (metres).

    Points are in the optical frame (x right, y down, z forward), along :func:`pixel_rays`
    (``distortion``: the lens of the image's pixels; None for a pinhole or rectified image).
    Pixels with invalid depth (NaN, non-finite, zero or negative) or without a ray, and points
    whose x or y overflows float32 become NaN in all three coordinates (never ±inf).
    """
    depth = _check_depth(depth, intr)
    rx, ry = pixel_rays(intr, distortion)
    z = depth.astype(np.float32, copy=True)
    with np.errstate(invalid='ignore'):
        z[~(np.isfinite(z) & (z > 0))] = np.nan
    h, w = z.shape
    points = np.empty((h, w, 3), dtype=np.float32)
    with np.errstate(over='ignore', invalid='ignore'):
        np.multiply(z, rx, out=points[..., 0])
        np.multiply(z, ry, out=points[..., 1])
    points[..., 2] = z
    return nan_nonfinite_points(points)


def nan_nonfinite_points(points: np.ndarray) -> np.ndarray:
    """Set every H×W×3 (or N×3) point with a non-finite coordinate to NaN, in place; return it."""
    with np.errstate(invalid='ignore'):
        points[~np.isfinite(points).all(axis=-1)] = np.nan
    return points


def project(points: ArrayLike, intr: Intrinsics,
            distortion: Optional[Distortion] = None) -> np.ndarray:
    """
    Project N×3 camera-frame points (metres) to N×2 pixel coordinates (u, v), float64.

    ``distortion``: the lens of the target image (None: pinhole or rectified). Points with
    z <= 0 or non-finite coordinates project to NaN.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'points must be an Nx3 array, got shape {pts.shape}')
    intr.validate()
    z = pts[:, 2]
    with np.errstate(invalid='ignore', divide='ignore'):
        ok = np.isfinite(pts).all(axis=1) & (z > 0)
        zs = np.where(ok, z, np.nan)
        x, y = pts[:, 0] / zs, pts[:, 1] / zs
        if distortion is not None:
            x, y = distort(distortion, x, y)
        uv = np.empty((pts.shape[0], 2), dtype=np.float64)
        uv[:, 0] = intr.fx * x + intr.cx
        uv[:, 1] = intr.fy * y + intr.cy
    return uv


def decimate(depth: np.ndarray, intr: Intrinsics, factor: int) -> Tuple[np.ndarray, Intrinsics]:
    """
    Subsample an H×W depth map by taking every ``factor``-th pixel (nearest / stride).

    Returns the ceil(H/f)×ceil(W/f) depth map (same dtype, a copy) and the matching intrinsics:
    output pixel (i, j) is input pixel (i*f, j*f), so ``fx' = fx/f`` and ``cx' = cx/f``.
    """
    depth = _check_depth(depth, intr)
    factor = int(factor)
    if factor < 1:
        raise ValueError(f'decimation factor must be >= 1, got {factor}')
    out = np.ascontiguousarray(depth[::factor, ::factor])
    h, w = out.shape
    return out, Intrinsics(intr.fx / factor, intr.fy / factor, intr.cx / factor,
                           intr.cy / factor, w, h)


@dataclass
class PointField:
    """One ``sensor_msgs/PointField`` description (datatype 7 = FLOAT32)."""

    name: str
    offset: int
    datatype: int
    count: int = 1


@dataclass
class CloudBuffer:
    """A packed organised point cloud: ``data`` is uint8 of shape height × row_step."""

    data: np.ndarray
    height: int
    width: int
    point_step: int
    row_step: int
    fields: List[PointField] = field(default_factory=list)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """
    Pack an H×W×3 uint8 RGB image into H×W float32 whose bits are ``0x00RRGGBB``.

    This is the ``rgb`` field layout used by ``depth_image_proc`` and PCL: the uint32
    ``(r << 16) | (g << 8) | b`` reinterpreted as a float32.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'rgb must be an HxWx3 array, got shape {rgb.shape}')
    if rgb.dtype != np.uint8:
        raise ValueError(f'rgb must be uint8, got {rgb.dtype}')
    c = rgb.astype(np.uint32)
    packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return packed.astype('<u4').view('<f4')


def pack_organized_cloud(points: np.ndarray,
                         rgb: Optional[np.ndarray] = None) -> CloudBuffer:
    """
    Pack an H×W×3 point map (metres) into an organised little-endian point-cloud buffer.

    Fields x, y, z are float32 at offsets 0, 4, 8; when ``rgb`` (H×W×3 uint8) is given an ``rgb``
    float32 field (see :func:`pack_rgb`) sits at offset 12, otherwise bytes 12-15 are zero padding.
    ``point_step`` is 16 and ``row_step`` is 16·W; ``data`` is uint8 of shape H × row_step.
    A point with any non-finite (±inf or NaN) coordinate is written as NaN, NaN, NaN: the cloud
    never holds inf (REP 117).
    """
    pts = np.asarray(points)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise ValueError(f'points must be an HxWx3 array, got shape {pts.shape}')
    h, w = pts.shape[:2]
    if rgb is not None and np.asarray(rgb).shape[:2] != (h, w):
        raise ValueError(
            f'rgb shape {np.asarray(rgb).shape} does not match points shape {pts.shape}')
    buf = np.zeros((h, w, 4), dtype='<f4')
    buf[..., :3] = pts
    nan_nonfinite_points(buf[..., :3])
    fields = [PointField('x', 0, FLOAT32), PointField('y', 4, FLOAT32),
              PointField('z', 8, FLOAT32)]
    if rgb is not None:
        buf[..., 3] = pack_rgb(rgb)
        fields.append(PointField('rgb', 12, FLOAT32))
    point_step = 16
    data = buf.view(np.uint8).reshape(h, w * point_step)
    return CloudBuffer(data=data, height=h, width=w, point_step=point_step,
                       row_step=w * point_step, fields=fields)
