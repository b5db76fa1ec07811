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
Decoders for the depth and colour file formats of real RGB-D datasets.

All depth readers return H×W float32 metres with NaN where the sensor gave no reading (0 or the
format's invalid code). Supported: 16-bit PNG depth with a units-per-metre ``scale`` (NYU / Redwood
millimetres: 1000, TUM: 5000), SUN RGB-D PNG depth (bit-rotated millimetres) and raw NYU Kinect
PGM disparity.
"""

import os
from pathlib import Path
import re
from typing import Sequence, Tuple, Union

import cv2
import numpy as np

PathLike = Union[str, os.PathLike]

INVALID_RAW_DEPTH: Tuple[int, ...] = (0, 65535)
"""Raw uint16 depth values that mean "no measurement" (Kinect holes; 7-Scenes' 65535)."""
NYU_KINECT_INVALID_DISPARITY = 2047
"""Raw Kinect v1 disparity value that marks a pixel without a reading."""


def _existing(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f'no such file: {p}')
    return p


def _imread(path: PathLike, flags: int) -> np.ndarray:
    p = _existing(path)
    # np.fromfile + imdecode also handles non-ASCII paths.
    img = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), flags)
    if img is None:
        raise ValueError(f'could not decode image file {p} (unsupported or corrupt format)')
    return img


def read_rgb(path: PathLike) -> np.ndarray:
    """
    Read a colour image file (PNG, JPEG, PPM, ...) as H×W×3 uint8 in RGB order.

    Grey images are replicated to three channels, alpha is dropped and 16-bit images are reduced
    to 8 bits. Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that
    cannot be decoded.
    """
    img = _imread(path, cv2.IMREAD_UNCHANGED)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f'{path}: unsupported colour image dtype {img.dtype}')
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    raise ValueError(f'{path}: unsupported number of channels {img.shape[2]}')


def read_depth_raw(path: PathLike) -> np.ndarray:
    """Read a single-channel 16-bit depth PNG as its raw H×W uint16 values (no unit change)."""
    raw = _imread(path, cv2.IMREAD_UNCHANGED)
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise ValueError(
            f'{path}: expected a single-channel 16-bit depth image, got dtype {raw.dtype} '
            f'and shape {raw.shape}')
    return raw


def depth_units_to_metres(raw: np.ndarray, scale: float = 1000.0,
                          invalid: Sequence[int] = INVALID_RAW_DEPTH) -> np.ndarray:
    """
    Convert H×W integer depth in 1/``scale`` metre units to float32 metres.

    Raw values ≤ 0 or in ``invalid`` (default 0 and 65535, "no measurement") become NaN.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f'depth scale must be finite and > 0, got {scale}')
    raw = np.asarray(raw)
    depth = raw.astype(np.float32) / np.float32(scale)
    depth[(raw <= 0) | np.isin(raw, list(invalid))] = np.nan
    return depth


def read_depth_png(path: PathLike, scale: float = 1000.0,
                   invalid: Sequence[int] = INVALID_RAW_DEPTH) -> np.ndarray:
    """
    Read a 16-bit depth PNG as H×W float32 metres (value / ``scale``; 0 and 65535 → NaN).

    ``scale`` is the number of stored units per metre: 1000 for millimetres (NYU, Redwood, most
    ROS drivers), 5000 for TUM RGB-D; ``invalid``: the raw values that mean no measurement.
    """
    return depth_units_to_metres(read_depth_raw(path), scale, invalid)


def decode_sun_depth(raw: np.ndarray) -> np.ndarray:
    """
    Decode SUN RGB-D depth: rotate the 16 bits right by 3, then millimetres → metres.

    ``raw`` is H×W uint16 as stored in the PNG; returns H×W float32 metres, NaN where 0.
    """
    raw = np.asarray(raw)
    if raw.dtype != np.uint16:
        raise ValueError(f'SUN depth must be uint16, got {raw.dtype}')
    mm = (raw >> np.uint16(3)) | (raw << np.uint16(13))
    return depth_units_to_metres(mm, 1000.0)


def read_sun_depth(path: PathLike) -> np.ndarray:
    """Read a SUN RGB-D depth PNG as H×W float32 metres (NaN invalid)."""
    return decode_sun_depth(read_depth_raw(path))


_PNM_HEADER = re.compile(rb'^(P[25])\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+'
                         rb'(?:#[^\n]*\n\s*)*(\d+)\s')


def read_pgm_u16(path: PathLike, byteorder: str = '<') -> np.ndarray:
    """
    Read a binary 16-bit PGM (P5, maxval > 255) as H×W uint16 with the given byte order.

    The PGM standard says big-endian (``'>'``), but raw NYU Kinect dumps store little-endian
    data (``'<'``, the default here) under a standard header.
    """
    p = _existing(path)
    blob = p.read_bytes()
    m = _PNM_HEADER.match(blob)
    if m is None or m.group(1) != b'P5':
        raise ValueError(f'{p}: not a binary greyscale PGM (P5) file')
    width, height, maxval = (int(g) for g in m.group(2, 3, 4))
    if maxval < 256:
        raise ValueError(f'{p}: PGM maxval {maxval} means 8-bit data, expected 16-bit')
    if byteorder not in ('<', '>'):
        raise ValueError(f"byteorder must be '<' or '>', got {byteorder!r}")
    n = width * height
    body = blob[m.end():]
    if len(body) < 2 * n:
        raise ValueError(
            f'{p}: truncated PGM, need {2 * n} data bytes for {width}x{height}, got {len(body)}')
    data = np.frombuffer(body, dtype=np.dtype(byteorder + 'u2'), count=n)
    return data.reshape(height, width).astype(np.uint16)


def kinect_disparity_to_depth(disparity: np.ndarray) -> np.ndarray:
    """
    Convert raw Kinect v1 disparity (H×W) to float32 depth in metres (NYU toolbox model).

    depth = 351.3 / (1092.5 − d); 2047 and any value giving a non-positive depth become NaN.
    """
    d = np.asarray(disparity).astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.float32(351.3) / (np.float32(1092.5) - d)
    bad = (np.asarray(disparity) >= NYU_KINECT_INVALID_DISPARITY) | ~np.isfinite(depth) | \
        (depth <= 0)
    depth[bad] = np.nan
    return depth


def read_nyu_raw_kinect_pgm(path: PathLike) -> np.ndarray:
    """
    Read a raw NYU Depth V2 Kinect depth PGM as H×W float32 metres (NaN invalid).

    The file holds little-endian uint16 disparity despite its (big-endian) PGM header. The depth
    is in the raw depth camera's frame, i.e. not registered to the colour image.
    """
    return kinect_disparity_to_depth(read_pgm_u16(path, byteorder='<'))


def read_rgbd_pair(rgb_path: PathLike, depth_path: PathLike,
                   scale: float = 1000.0) -> Tuple[np.ndarray, np.ndarray]:
    """Read an RGB file and a 16-bit depth PNG: (H×W×3 uint8, H×W float32 metres)."""
    rgb = read_rgb(rgb_path)
    depth = read_depth_png(depth_path, scale)
    if rgb.shape[:2] != depth.shape:
        raise ValueError(
            f'{rgb_path} is {rgb.shape[1]}x{rgb.shape[0]} but {depth_path} is '
            f'{depth.shape[1]}x{depth.shape[0]}')
    return rgb, depth
