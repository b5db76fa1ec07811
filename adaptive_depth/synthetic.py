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
Procedural indoor RGB-D scenes rendered by vectorised ray casting against axis-aligned boxes.

A scene is a box-shaped room (2.5-12 m wide and deep, 2.3-4 m high) with furniture of realistic
metric sizes standing on the floor, textures defined in world units (floor tiles / planks, skirting
boards, doors 2.0 m tall, windows, sockets, ceiling panels) and ambient + point-light Lambertian
shading with inverse-square falloff, seen by a pinhole camera 1-1.7 m above the floor. Depth is
z-depth along the optical axis in metres. Everything is deterministic per seed. See
``docs/synthetic_scenes.md``.
"""

import colorsys
from dataclasses import dataclass
import math
from typing import List, Optional, Sequence, Tuple, Union

from adaptive_depth.geometry import Intrinsics, NYU_INTRINSICS
from adaptive_depth.sample import RGBDSample
import cv2
import numpy as np

ROOM_WIDTH_RANGE_M = (2.5, 12.0)
ROOM_HEIGHT_RANGE_M = (2.3, 4.0)
CAMERA_HEIGHT_RANGE_M = (1.0, 1.7)

# Ids of the room surfaces in the per-pixel object map; furniture boxes start at _FIRST_BOX.
_FLOOR, _CEILING, _WALL_S, _WALL_N, _WALL_W, _WALL_E = range(6)
_FIRST_BOX = 6


@dataclass
class _Box:
    lo: np.ndarray           # (3,) world min corner, metres
    hi: np.ndarray           # (3,) world max corner, metres
    kind: str                # material kind
    color: np.ndarray        # (3,) linear albedo
    front: Tuple[int, int]   # (axis, sign) of the face that looks into the room
    key: int                 # hash key for per-box texture variation
    param: float = 0.0       # material parameter (e.g. drawer height)


@dataclass
class _Rect:
    s0: float
    s1: float
    z0: float
    z1: float
    color: np.ndarray
    emissive: bool = False
    frame: float = 0.0       # frame width (metres) drawn in frame_color
    frame_color: Optional[np.ndarray] = None


def _hash01(*ints: np.ndarray) -> np.ndarray:
    """Return a deterministic pseudo-random float32 in [0, 1) per element of the integer arrays."""
    h = np.uint32(0x9E3779B9)
    primes = (0x8DA6B343, 0xD8163841, 0xCB1AB31F, 0x165667B1)
    for i, a in enumerate(ints):
        h = h ^ (np.asarray(a).astype(np.int64).astype(np.uint32) * np.uint32(primes[i % 4]))
        h = (h ^ (h >> np.uint32(15))) * np.uint32(0x2C1B3C6D)
    h = (h ^ (h >> np.uint32(12))) * np.uint32(0x297A2D39)
    h = h ^ (h >> np.uint32(15))
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def _srgb_to_linear(c) -> np.ndarray:
    return np.asarray(c, dtype=np.float32) ** 2.2


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return _srgb_to_linear(colorsys.hsv_to_rgb(h % 1.0, s, v))


def _wood_color(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.8))


def _paint_color(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.75:
        return _hsv(rng.random(), rng.uniform(0.0, 0.18), rng.uniform(0.75, 0.95))
    return _hsv(rng.random(), rng.uniform(0.2, 0.5), rng.uniform(0.55, 0.9))


def _fabric_color(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.25, 0.85))


def _furniture_color(rng: np.random.Generator) -> Tuple[str, np.ndarray]:
    r = rng.random()
    if r < 0.55:
        return 'wood', _wood_color(rng)
    if r < 0.8:
        return 'plain', _hsv(0.0, 0.0, rng.uniform(0.85, 0.95))   # white laminate
    if r < 0.9:
        return 'plain', _hsv(0.0, 0.0, rng.uniform(0.1, 0.25))    # black
    return 'plain', _hsv(rng.random(), rng.uniform(0.2, 0.5), rng.uniform(0.4, 0.8))


# --------------------------------------------------------------------------------------------
# Furniture: each builder returns (width, depth, boxes) in a local frame where the object spans
# x in [0, width], y in [0, depth] with y = 0 against the wall and +y looking into the room.
# A local box is (x0, x1, y0, y1, z0, z1, kind, color, param).
# --------------------------------------------------------------------------------------------

def _table(rng, height=None):
    w, d = rng.uniform(1.0, 1.8), rng.uniform(0.7, 0.9)
    h = height if height is not None else rng.uniform(0.72, 0.76)
    kind, col = _furniture_color(rng)
    t, leg = 0.04, 0.05
    boxes = [(0, w, 0, d, h - t, h, kind, col, 0.0)]
    for x0 in (0.03, w - 0.03 - leg):
        for y0 in (0.03, d - 0.03 - leg):
            boxes.append((x0, x0 + leg, y0, y0 + leg, 0, h - t, kind, col, 0.0))
    return w, d, boxes


def _desk(rng):
    w, d, boxes = _table(rng)
    w_unit = 0.4
    col = boxes[0][7]
    boxes.append((w - 0.03 - w_unit, w - 0.03, 0.05, d - 0.05, 0.02, boxes[0][4], 'drawers',
                  col * 0.95, 0.18))
    if rng.random() < 0.6:   # monitor
        mw = rng.uniform(0.5, 0.65)
        x0 = rng.uniform(0.1, max(0.11, w - mw - 0.5))
        black = _hsv(0, 0, 0.08)
        boxes.append((x0 + mw / 2 - 0.1, x0 + mw / 2 + 0.1, 0.12, 0.3, boxes[0][5],
                      boxes[0][5] + 0.02, 'plain', black, 0.0))
        boxes.append((x0 + mw / 2 - 0.02, x0 + mw / 2 + 0.02, 0.15, 0.19, boxes[0][5],
                      boxes[0][5] + 0.12, 'plain', black, 0.0))
        boxes.append((x0, x0 + mw, 0.19, 0.22, boxes[0][5] + 0.1, boxes[0][5] + 0.1 + mw * 0.58,
                      'screen', black, 0.0))
    return w, d, boxes


def _chair(rng):
    w, d = 0.45, 0.45
    kind, col = _furniture_color(rng)
    seat, leg = rng.uniform(0.43, 0.47), 0.04
    boxes = [(0, w, 0, d, seat - 0.05, seat, 'fabric', _fabric_color(rng), 0.0)]
    for x0 in (0.02, w - 0.02 - leg):
        for y0 in (0.02, d - 0.02 - leg):
            boxes.append((x0, x0 + leg, y0, y0 + leg, 0, seat - 0.05, kind, col, 0.0))
    boxes.append((0.02, w - 0.02, 0.0, 0.04, seat, seat + 0.45, kind, col, 0.0))
    return w, d, boxes


def _cabinet(rng):
    w, d, h = rng.uniform(0.6, 1.8), rng.uniform(0.4, 0.55), rng.uniform(0.75, 1.0)
    kind, col = _furniture_color(rng)
    boxes = [(0, w, 0, d, 0.0, h, 'drawers', col, rng.choice([0.2, 0.25, 0.3]))]
    if rng.random() < 0.5:   # something on top
        bw = rng.uniform(0.15, 0.4)
        x0 = rng.uniform(0.05, w - bw - 0.02)
        boxes.append((x0, x0 + bw, 0.1, 0.1 + rng.uniform(0.1, 0.3), h, h + rng.uniform(0.1, 0.4),
                      'plain', _fabric_color(rng), 0.0))
    return w, d, boxes


def _wardrobe(rng):
    w, d, h = rng.uniform(1.0, 2.0), rng.uniform(0.55, 0.65), rng.uniform(1.9, 2.2)
    kind, col = _furniture_color(rng)
    return w, d, [(0, w, 0, d, 0.0, h, 'wardrobe', col, 0.0)]


def _bookshelf(rng):
    w, d, h = rng.choice([0.6, 0.8, 1.0]), 0.3, rng.uniform(1.75, 2.05)
    kind, col = _furniture_color(rng)
    return w, d, [(0, w, 0, d, 0.0, h, 'books', col, 0.35)]


def _bed(rng):
    w, d = rng.choice([0.9, 1.4, 1.6, 1.8]), 2.0
    h = rng.uniform(0.45, 0.55)
    kind, col = _furniture_color(rng)
    sheet = _fabric_color(rng)
    white = _hsv(0, 0, 0.92)
    boxes = [(0, w, 0.06, d, 0.0, 0.25, kind, col, 0.0),
             (0.02, w - 0.02, 0.08, d - 0.02, 0.25, h, 'fabric', sheet, 0.0),
             (0, w, 0.0, 0.06, 0.0, rng.uniform(0.9, 1.1), kind, col, 0.0)]
    n_pillow = 1 if w < 1.2 else 2
    pw = (w - 0.15) / n_pillow
    for i in range(n_pillow):
        x0 = 0.05 + i * (pw + 0.05)
        boxes.append((x0, x0 + pw - 0.05, 0.1, 0.45, h, h + 0.12, 'fabric', white, 0.0))
    return w, d, boxes


def _sofa(rng):
    w, d = rng.uniform(1.6, 2.4), rng.uniform(0.85, 0.95)
    col = _fabric_color(rng)
    seat = rng.uniform(0.42, 0.46)
    arm = 0.18
    return w, d, [(arm, w - arm, 0.2, d, 0.1, seat, 'fabric', col, 0.0),
                  (0, w, 0.0, 0.2, 0.1, rng.uniform(0.8, 0.9), 'fabric', col, 0.0),
                  (0, arm, 0.0, d, 0.1, 0.62, 'fabric', col, 0.0),
                  (w - arm, w, 0.0, d, 0.1, 0.62, 'fabric', col, 0.0),
                  (0.05, w - 0.05, 0.05, d - 0.05, 0.0, 0.1, 'plain', _hsv(0, 0, 0.1), 0.0)]


def _counter(rng):
    w = rng.uniform(1.8, 3.6)
    kind, col = _furniture_color(rng)
    top = _hsv(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.2, 0.9))
    boxes = [(0, w, 0, 0.58, 0.1, 0.87, 'drawers', col, 0.7),
             (0.05, w, 0.05, 0.53, 0.0, 0.1, 'plain', col * 0.5, 0.0),
             (0, w, 0, 0.6, 0.87, 0.91, 'plain', top, 0.0),
             (0, w, 0, 0.35, 1.45, 2.15, 'drawers', col, 0.7)]
    return w, 0.6, boxes


def _fridge(rng):
    white = _hsv(0, 0, rng.choice([0.9, 0.75]))
    return 0.6, 0.65, [(0, 0.6, 0, 0.65, 0.0, rng.uniform(1.75, 1.9), 'wardrobe', white, 0.0)]


def _tv_stand(rng):
    w, d, boxes = _cabinet(rng)
    boxes = boxes[:1]
    h = boxes[0][5]
    tw = min(w - 0.05, rng.choice([0.9, 1.1, 1.25, 1.45]))
    x0 = (w - tw) / 2
    black = _hsv(0, 0, 0.06)
    boxes.append((w / 2 - 0.15, w / 2 + 0.15, 0.1, 0.3, h, h + 0.02, 'plain', black, 0.0))
    boxes.append((x0, x0 + tw, 0.15, 0.2, h + 0.06, h + 0.06 + tw * 0.5625, 'screen', black, 0.0))
    return w, d, boxes


# (builder, weight, probability of standing against a wall)
_FURNITURE = [(_table, 1.0, 0.2), (_desk, 1.0, 0.9), (_chair, 1.5, 0.1), (_cabinet, 1.5, 1.0),
              (_wardrobe, 0.8, 1.0), (_bookshelf, 1.0, 1.0), (_bed, 0.6, 1.0), (_sofa, 0.7, 0.8),
              (_counter, 0.5, 1.0), (_fridge, 0.3, 1.0), (_tv_stand, 0.5, 1.0)]


def _to_world(o: int, ax: float, ay: float, x: np.ndarray, y: np.ndarray):
    """Map local (x, y) to world for orientation o (0: faces +y, 1: -y, 2: +x, 3: -x)."""
    if o == 0:
        return ax + x, ay + y
    if o == 1:
        return ax - x, ay - y
    if o == 2:
        return ax + y, ay + x
    return ax - y, ay + x


_FRONT = {0: (1, 1), 1: (1, -1), 2: (0, 1), 3: (0, -1)}


def _overlaps(fp, placed, margin) -> bool:
    x0, x1, y0, y1 = fp
    return any(x0 < b[1] + margin and b[0] < x1 + margin and y0 < b[3] + margin
               and b[2] < y1 + margin for b in placed)


def _place_furniture(rng, room_w, room_d, cam_xy, n_items) -> List[_Box]:
    weights = np.array([f[1] for f in _FURNITURE])
    weights /= weights.sum()
    cam_fp = (cam_xy[0] - 0.45, cam_xy[0] + 0.45, cam_xy[1] - 0.45, cam_xy[1] + 0.45)
    placed = [cam_fp]
    boxes: List[_Box] = []
    for _ in range(n_items):
        builder, _, p_wall = _FURNITURE[rng.choice(len(_FURNITURE), p=weights)]
        w, d, local = builder(rng)
        for _attempt in range(15):
            if rng.random() < p_wall:
                o = int(rng.integers(4))
                along = room_w if o < 2 else room_d
                if along < w + 0.1:
                    continue
                s = rng.uniform(0.02, along - w - 0.02)
                gap = 0.01
                ax, ay = {0: (s, gap), 1: (s + w, room_d - gap), 2: (gap, s),
                          3: (room_w - gap, s)}[o]
            else:
                o = int(rng.integers(4))
                ax, ay = rng.uniform(0.3, room_w - 0.3), rng.uniform(0.3, room_d - 0.3)
            xs, ys = _to_world(o, ax, ay, np.array([0.0, w]), np.array([0.0, d]))
            fp = (xs.min(), xs.max(), ys.min(), ys.max())
            if fp[0] < 0 or fp[2] < 0 or fp[1] > room_w or fp[3] > room_d:
                continue
            if _overlaps(fp, placed, 0.1):
                continue
            placed.append(fp)
            key = int(rng.integers(1 << 30))
            for i, (x0, x1, y0, y1, z0, z1, kind, col, param) in enumerate(local):
                bx, by = _to_world(o, ax, ay, np.array([x0, x1]), np.array([y0, y1]))
                boxes.append(_Box(np.array([bx.min(), by.min(), z0], np.float32),
                                  np.array([bx.max(), by.max(), z1], np.float32),
                                  kind, np.asarray(col, np.float32), _FRONT[o], key + i,
                                  float(param)))
            break
    return boxes


def _wall_decor(rng, room_w, room_d, room_h) -> Tuple[List[List[_Rect]], dict]:
    """Doors, windows, pictures, sockets and switches per wall (S, N, W, E) in (s, z) metres."""
    lengths = [room_w, room_w, room_d, room_d]
    decor: List[List[_Rect]] = [[] for _ in range(4)]
    occupied: List[List[Tuple[float, float]]] = [[] for _ in range(4)]

    def free_slot(wall, width, tries=10):
        for _ in range(tries):
            if lengths[wall] < width + 0.4:
                return None
            s = rng.uniform(0.2, lengths[wall] - width - 0.2)
            if all(s + width + 0.1 < a or s > b + 0.1 for a, b in occupied[wall]):
                occupied[wall].append((s, s + width))
                return s
        return None

    door_col = _wood_color(rng) if rng.random() < 0.6 else _hsv(0, 0, 0.9)
    frame_col = _hsv(0, 0, 0.95) if rng.random() < 0.5 else door_col * 0.8
    for _ in range(int(rng.integers(1, 3))):
        wall = int(rng.integers(4))
        dw = rng.choice([0.8, 0.85, 0.9])
        s = free_slot(wall, dw + 0.3)
        if s is None:
            continue
        s += 0.15
        dh = rng.uniform(2.0, 2.05)
        decor[wall].append(_Rect(s, s + dw, 0.0, dh, door_col, frame=0.06, frame_color=frame_col))
        hs = s + dw - 0.1 if rng.random() < 0.5 else s + 0.05
        decor[wall].append(_Rect(hs, hs + 0.05, 0.98, 1.02, _hsv(0, 0, 0.6)))
        sw = s + dw + 0.12
        decor[wall].append(_Rect(sw - 0.04, sw + 0.04, 1.06, 1.14, _hsv(0, 0, 0.95)))
    sky = _hsv(rng.uniform(0.55, 0.62), rng.uniform(0.05, 0.35), 1.0)
    win_frame = _hsv(0, 0, 0.95) if rng.random() < 0.7 else _hsv(0, 0, 0.3)
    for _ in range(int(rng.integers(0, 4))):
        wall = int(rng.integers(4))
        ww = rng.uniform(0.9, 2.0)
        s = free_slot(wall, ww)
        if s is None:
            continue
        sill = rng.uniform(0.8, 1.0)
        top = min(room_h - 0.25, sill + rng.uniform(1.1, 1.5))
        decor[wall].append(_Rect(s, s + ww, sill, top, sky, emissive=True, frame=0.06,
                                 frame_color=win_frame))
    for _ in range(int(rng.integers(0, 4))):
        wall = int(rng.integers(4))
        pw = rng.uniform(0.3, 1.0)
        ph = pw * rng.uniform(0.6, 1.4)
        s = free_slot(wall, pw)
        if s is None:
            continue
        zc = rng.uniform(1.45, 1.65)
        decor[wall].append(_Rect(s, s + pw, zc - ph / 2, zc + ph / 2, _fabric_color(rng),
                                 frame=0.03, frame_color=_hsv(0, 0, rng.choice([0.1, 0.9]))))
    for _ in range(int(rng.integers(2, 6))):
        wall = int(rng.integers(4))
        s = rng.uniform(0.2, lengths[wall] - 0.3)
        decor[wall].append(_Rect(s, s + 0.08, 0.26, 0.34, _hsv(0, 0, 0.93)))
    style = {
        'paint': _paint_color(rng),
        'skirting_h': rng.uniform(0.07, 0.12),
        'skirting': _hsv(0, 0, 0.93) if rng.random() < 0.6 else _wood_color(rng),
        'wainscot': rng.random() < 0.25,
        'wainscot_color': _paint_color(rng),
    }
    return decor, style


def _camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Columns are the camera x (right), y (down), z (forward) axes in the z-up world frame."""
    f = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                  math.sin(pitch)])
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    dn = np.cross(f, r)
    c, s = math.cos(roll), math.sin(roll)
    r, dn = c * r + s * dn, -s * r + c * dn
    return np.stack([r, dn, f], axis=1)


def _grid_lines(a: np.ndarray, period: float, width: float) -> np.ndarray:
    """Return a bool mask of points within width/2 (metres) of a multiple of ``period``."""
    f = np.mod(a, period)
    return (f < width / 2) | (f > period - width / 2)


def _floor_albedo(rng_style: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    st = rng_style
    kind, col, key = st['kind'], st['color'], st['key']
    if kind == 'tiles':
        size = st['size']
        var = _hash01(np.floor(x / size), np.floor(y / size), key)
        out = col[None, :] * (0.9 + 0.2 * var)[:, None]
        grout = _grid_lines(x, size, 0.012) | _grid_lines(y, size, 0.012)
        out[grout] = st['grout']
        return out
    if kind == 'planks':
        pw, pl = st['size'], st['length']
        a, b = (x, y) if st['axis'] == 0 else (y, x)
        row = np.floor(b / pw)
        shift = _hash01(row, key) * pl
        col_i = np.floor((a + shift) / pl)
        var = _hash01(row, col_i, key + 1)
        grain = _hash01(np.floor(b / 0.004), key + 2)
        out = col[None, :] * (0.8 + 0.35 * var + 0.08 * grain)[:, None]
        seam = _grid_lines(b, pw, 0.006) | _grid_lines(a + shift, pl, 0.006)
        out[seam] *= 0.45
        return out
    out = np.empty((x.size, 3), np.float32)
    out[:] = col
    return out


def _rect_albedo(out: np.ndarray, s: np.ndarray, z: np.ndarray, rects: Sequence[_Rect],
                 emissive: np.ndarray) -> None:
    for rc in rects:
        inside = (s >= rc.s0 - rc.frame) & (s <= rc.s1 + rc.frame) & (z >= rc.z0) & \
                 (z <= rc.z1 + rc.frame)
        if rc.frame > 0:
            if rc.z0 > 0:
                inside &= z >= rc.z0 - rc.frame
            inner = inside & (s >= rc.s0) & (s <= rc.s1) & (z >= rc.z0) & (z <= rc.z1)
            out[inside & ~inner] = rc.frame_color
            out[inner] = rc.color
            if rc.emissive:
                emissive[inner] = True
                mull = inner & (np.abs(s - 0.5 * (rc.s0 + rc.s1)) < 0.025)
                out[mull] = rc.frame_color
                emissive[mull] = False
        else:
            out[inside] = rc.color
            if rc.emissive:
                emissive[inside] = True


def _box_albedo(box: _Box, p: np.ndarray, nax: np.ndarray, nsign: np.ndarray) -> np.ndarray:
    """Albedo (N×3) of the points p (N×3) on the faces of box (world-unit textures)."""
    n = p.shape[0]
    out = np.empty((n, 3), np.float32)
    out[:] = box.color
    fa, fs = box.front
    other = 1 - fa   # horizontal axis along the front face
    u = p[:, other] - box.lo[other]
    w = p[:, 2] - box.lo[2]
    front = (nax == fa) & (nsign == fs)
    width = float(box.hi[other] - box.lo[other])
    height = float(box.hi[2] - box.lo[2])
    if box.kind == 'wood':
        along = np.where(nax == 2, p[:, other], p[:, 2])
        grain = _hash01(np.floor(along / 0.005), box.key)
        out *= (0.9 + 0.15 * grain)[:, None]
    elif box.kind == 'fabric':
        out *= (0.93 + 0.14 * _hash01(np.floor(p[:, 0] / 0.01), np.floor(p[:, 1] / 0.01),
                                      np.floor(p[:, 2] / 0.01)))[:, None]
    elif box.kind == 'drawers':
        dh = box.param
        ncol = max(1, int(round(width / 0.6)))
        cw = width / ncol
        seam = front & (_grid_lines(w, dh, 0.006) | _grid_lines(u, cw, 0.006))
        hz = np.mod(w, dh)
        hu = np.mod(u, cw)
        handle = front & (np.abs(hz - dh + 0.05) < 0.012) & (np.abs(hu - cw / 2) < 0.06)
        out[seam] *= 0.35
        out[handle] = _hsv(0, 0, 0.55)
    elif box.kind == 'wardrobe':
        seam = front & (np.abs(u - width / 2) < 0.004)
        handle = front & (np.abs(w - 1.05) < 0.1) & (np.abs(np.abs(u - width / 2) - 0.06) < 0.012)
        out[seam] *= 0.35
        out[handle] = _hsv(0, 0, 0.45)
    elif box.kind == 'books':
        shelf = box.param
        board, side = 0.02, 0.02
        inner = front & (u > side) & (u < width - side) & (w > board) & (w < height - board) & \
            ~_grid_lines(w, shelf, 2 * board)
        level = np.floor(w / shelf)
        bw = 0.035
        slot = np.floor(u / bw)
        book_h = shelf * (0.55 + 0.35 * _hash01(slot, level, box.key))
        has_book = _hash01(slot, level, box.key + 7) < 0.85
        books = inner & has_book & (np.mod(w, shelf) < book_h)
        hue = _hash01(slot, level, box.key + 3)
        val = 0.25 + 0.6 * _hash01(slot, level, box.key + 5)
        out[inner & ~books] = box.color * 0.35
        if books.any():
            hsv = np.stack([hue[books] * 180, np.full(int(books.sum()), 150, np.float32),
                            val[books] * 255], axis=1)
            book_rgb = cv2.cvtColor(hsv[None].astype(np.uint8), cv2.COLOR_HSV2RGB)[0]
            out[books] = _srgb_to_linear(book_rgb.astype(np.float32) / 255.0)
    elif box.kind == 'screen':
        border = 0.015
        scr = front & (u > border) & (u < width - border) & (w > border) & (w < height - border)
        out[scr] = _hsv(0.6, 0.3, 0.12)
    return out


def _scene_params(seed: int) -> dict:
    """Draw every random choice of a scene (independent of the output resolution)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.log(ROOM_WIDTH_RANGE_M[0]), np.log(ROOM_WIDTH_RANGE_M[1])
    while True:
        room_w, room_d = np.exp(rng.uniform(lo, hi, size=2))
        if max(room_w, room_d) / min(room_w, room_d) <= 3.0:
            break
    size = math.sqrt(room_w * room_d)
    h_hi = min(ROOM_HEIGHT_RANGE_M[1], 2.55 + 0.15 * size)
    room_h = rng.uniform(ROOM_HEIGHT_RANGE_M[0], h_hi)
    # Camera: inside the room, looking at a random point of the room at least 1.5 m away.
    margin = 0.4
    cam = np.array([rng.uniform(margin, room_w - margin), rng.uniform(margin, room_d - margin),
                    rng.uniform(*CAMERA_HEIGHT_RANGE_M)])
    for _ in range(50):
        target = np.array([rng.uniform(0, room_w), rng.uniform(0, room_d)])
        if np.linalg.norm(target - cam[:2]) >= min(1.5, 0.6 * size):
            break
    yaw = math.atan2(target[1] - cam[1], target[0] - cam[0]) + rng.normal(0.0, 0.35)
    pitch = math.radians(float(np.clip(rng.normal(-12.0, 7.0), -35.0, 10.0)))
    roll = math.radians(float(np.clip(rng.normal(0.0, 2.0), -6.0, 6.0)))
    n_items = int(np.clip(rng.poisson(2.0 + room_w * room_d / 8.0), 2, 14))
    boxes = _place_furniture(rng, room_w, room_d, cam[:2], n_items)
    decor, wall_style = _wall_decor(rng, room_w, room_d, room_h)
    r = rng.random()
    floor = {'key': int(rng.integers(1 << 30)), 'axis': int(rng.integers(2))}
    if r < 0.4:
        floor.update(kind='tiles', size=float(rng.choice([0.3, 0.4, 0.45, 0.6])),
                     color=_hsv(rng.random(), rng.uniform(0, 0.25), rng.uniform(0.45, 0.9)),
                     grout=_hsv(0, 0, rng.uniform(0.3, 0.8)))
    elif r < 0.8:
        floor.update(kind='planks', size=float(rng.uniform(0.12, 0.22)),
                     length=float(rng.uniform(0.9, 1.5)), color=_wood_color(rng))
    else:
        floor.update(kind='carpet', color=_hsv(rng.random(), rng.uniform(0.05, 0.45),
                                               rng.uniform(0.3, 0.7)))
    ceiling = {'color': _hsv(0, 0, rng.uniform(0.85, 0.97)), 'tiles': rng.random() < 0.35,
               'panel': float(rng.choice([0.3, 0.6]))}
    # Ceiling lights on a regular grid with about 2.5-3.5 m spacing.
    spacing = rng.uniform(2.5, 3.5)
    nx, ny = max(1, int(round(room_w / spacing))), max(1, int(round(room_d / spacing)))
    while nx * ny > 6:   # at most 6 lights (render time)
        nx, ny = (nx - 1, ny) if nx >= ny else (nx, ny - 1)
    lx = (np.arange(nx) + 0.5) * room_w / nx
    ly = (np.arange(ny) + 0.5) * room_d / ny
    lights = np.stack(np.meshgrid(lx, ly, indexing='ij'), -1).reshape(-1, 2)
    light_power = rng.uniform(2.0, 4.0)
    lighting = {'ambient': rng.uniform(0.12, 0.3), 'power': light_power,
                'warm': _hsv(rng.uniform(0.08, 0.15), rng.uniform(0.0, 0.25), 1.0),
                'exposure': rng.uniform(0.75, 0.95)}
    return {'room': (room_w, room_d, room_h), 'cam': cam, 'yaw': yaw, 'pitch': pitch,
            'roll': roll, 'boxes': boxes, 'decor': decor, 'wall_style': wall_style,
            'floor': floor, 'ceiling': ceiling, 'lights': lights, 'lighting': lighting,
            'size': size}


def _mounted(sp: dict, mount: Tuple[float, float, float]) -> dict:
    """Return the scene parameters with the camera at ``mount`` = (height m, pitch °, roll °)."""
    height_m, pitch_deg, roll_deg = (float(v) for v in mount)
    room_h = sp['room'][2]
    if not (0.0 < height_m < room_h and abs(pitch_deg) < 90 and abs(roll_deg) < 90):
        raise ValueError(f'mount must be (height in (0, {room_h:.2f}) m, |pitch| < 90°, '
                         f'|roll| < 90°), got {tuple(mount)}')
    cam = np.array([sp['cam'][0], sp['cam'][1], height_m])
    return {**sp, 'cam': cam, 'pitch': math.radians(pitch_deg), 'roll': math.radians(roll_deg)}


def _cast(origin: np.ndarray, dirs: np.ndarray, room, boxes: List[_Box], rot: np.ndarray,
          intr: Intrinsics):
    """Ray-cast 3×H×W ray directions; return z-depth t, object id, normal axis and sign (H×W)."""
    room_w, room_d, room_h = room
    hi = np.array([room_w, room_d, room_h], np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = np.float32(1.0) / dirs
        pos = dirs > 0
        # Inside of the room: nearest exit plane along each axis.
        ts = np.where(pos, hi[:, None, None] - origin[:, None, None],
                      -origin[:, None, None]) * inv
        # A ray with a zero component never reaches the walls of that axis (0 · inf is NaN).
        ts = np.where(dirs == 0, np.float32(np.inf), ts)
    nax = np.argmin(ts, axis=0).astype(np.int8)
    t = np.min(ts, axis=0)
    h, w = t.shape
    pos_hit = np.take_along_axis(pos, nax[None].astype(np.intp), 0)[0]
    # Object id of the room surfaces: 2 * axis_rank + (positive direction), see _FLOOR etc.
    face_id = np.array([[_WALL_W, _WALL_E], [_WALL_S, _WALL_N], [_FLOOR, _CEILING]], np.int16)
    obj = face_id[nax, pos_hit.astype(np.int8)]
    cam_to_world = rot.T
    for k, box in enumerate(boxes):
        # Cull: image rectangle covered by the box's projected corners (full image if behind).
        corners = np.stack(np.meshgrid(*[[box.lo[a], box.hi[a]] for a in range(3)],
                                       indexing='ij'), -1).reshape(-1, 3)
        pc = (corners - origin) @ cam_to_world.T
        if np.all(pc[:, 2] > 1e-3):
            u = intr.fx * pc[:, 0] / pc[:, 2] + intr.cx
            v = intr.fy * pc[:, 1] / pc[:, 2] + intr.cy
            u0, u1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, w)
            v0, v1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, h)
            if u0 >= u1 or v0 >= v1:
                continue
        elif np.all(pc[:, 2] <= 1e-3):
            continue
        else:
            u0, u1, v0, v1 = 0, w, 0, h
        sl = (slice(v0, v1), slice(u0, u1))
        with np.errstate(invalid='ignore'):
            t_in = t_out = ax_in = None
            for a in range(3):
                ia = inv[a][sl]
                t1 = (box.lo[a] - origin[a]) * ia
                t2 = (box.hi[a] - origin[a]) * ia
                tmin = np.minimum(t1, t2)
                tmax = np.maximum(t1, t2)
                if t_in is None:
                    t_in, t_out = tmin, tmax
                    ax_in = np.zeros(tmin.shape, np.int8)
                else:
                    b = tmin > t_in
                    t_in = np.where(b, tmin, t_in)
                    ax_in[b] = a
                    t_out = np.minimum(t_out, tmax)
            hit = (t_in <= t_out) & (t_in > 0) & (t_in < t[sl])
        if not hit.any():
            continue
        t[sl][hit] = t_in[hit]
        obj[sl][hit] = _FIRST_BOX + k
        nax[sl][hit] = ax_in[hit]
    # Surface normals point against the ray along the hit axis.
    d_n = np.take_along_axis(dirs, nax[None].astype(np.intp), 0)[0]
    sign = np.where(d_n > 0, -1, 1).astype(np.int8)
    return t, obj, nax, sign


def render_scene(seed: int, width: int = 640, height: int = 480,
                 intrinsics: Optional[Intrinsics] = None, noise: bool = True,
                 mount: Optional[Tuple[float, float, float]] = None) -> RGBDSample:
    """
    Render one procedural indoor RGB-D scene, deterministically for ``seed``.

    The scene (room, furniture, camera pose, materials, lights) depends only on ``seed``; the
    resolution only changes the sampling, so small renders (e.g. 160×120) are fast previews of
    the same scene. ``intrinsics`` default to ``NYU_INTRINSICS``; if their size differs from
    ``width`` × ``height`` they are rescaled with :meth:`Intrinsics.scaled`.

    Returns an :class:`RGBDSample` with H×W×3 uint8 RGB and H×W float32 z-depth in metres (all
    pixels valid), and ``meta`` with ``room_size_m`` (sqrt of floor width × depth, metres),
    ``room_dims_m`` (width, depth, height), ``seed``, ``synthetic`` (True), ``camera_height_m``,
    ``camera_pitch_deg``, ``n_boxes`` and ``T_world_camera`` (4×4 nested tuple: camera optical
    frame → room frame with the floor at z = 0, the room spanning [0, w] × [0, d] × [0, h]).
    With ``noise`` the RGB gets mild sensor noise and the depth Kinect-like axial noise
    (sigma = (1.2 mm + 1.9 mm/m² · (z − 0.4 m)²) / 2).

    ``mount`` = (height m, pitch °, roll °) replaces the seed's camera height and orientation (a
    robot's rigid mount; pitch < 0 looks down, as ``meta['camera_pitch_deg']``); the camera's
    place and heading stay the seed's, and the name gains ``@mount(h,p,r)``.
    """
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    intr = intrinsics if intrinsics is not None else NYU_INTRINSICS
    if (intr.width, intr.height) != (width, height):
        intr = intr.scaled(width, height)
    intr.validate()
    sp = _scene_params(int(seed))
    name = f'synthetic/{int(seed):06d}'
    if mount is not None:
        sp = _mounted(sp, mount)
        name += '@mount({:g},{:g},{:g})'.format(*mount)
    room_w, room_d, room_h = sp['room']
    origin = sp['cam'].astype(np.float32)
    rot = _camera_rotation(sp['yaw'], sp['pitch'], sp['roll']).astype(np.float32)

    # Ray directions (3×H×W, world frame) with unit z in the camera frame: t is the z-depth.
    u = (np.arange(width, dtype=np.float32) - np.float32(intr.cx)) / np.float32(intr.fx)
    v = (np.arange(height, dtype=np.float32) - np.float32(intr.cy)) / np.float32(intr.fy)
    dirs = (rot[:, 0, None, None] * u[None, None, :] + rot[:, 1, None, None] * v[None, :, None]
            + rot[:, 2, None, None])
    t, obj, nax, nsign = _cast(origin, dirs, sp['room'], sp['boxes'], rot, intr)

    n = width * height
    t_f = t.reshape(n)
    obj_f = obj.reshape(n)
    nax_f = nax.reshape(n)
    nsign_f = nsign.reshape(n)
    pts = [origin[a] + dirs[a].reshape(n) * t_f for a in range(3)]   # world x, y, z (metres)
    albedo = np.empty((3, n), np.float32)
    emissive = np.zeros(n, bool)

    order = np.argsort(obj_f, kind='stable')
    counts = np.bincount(obj_f, minlength=_FIRST_BOX + len(sp['boxes']))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    ws = sp['wall_style']
    for k in np.flatnonzero(counts):
        idx = order[bounds[k]:bounds[k + 1]]
        px, py, pz = (c[idx] for c in pts)
        e = None
        if k == _FLOOR:
            a = _floor_albedo(sp['floor'], px, py)
        elif k == _CEILING:
            cs = sp['ceiling']
            a = np.empty((idx.size, 3), np.float32)
            a[:] = cs['color']
            if cs['tiles']:
                a[_grid_lines(px, 0.6, 0.02) | _grid_lines(py, 0.6, 0.02)] *= 0.8
            e = np.zeros(idx.size, bool)
            half = cs['panel'] / 2
            for lx, ly in sp['lights']:
                e |= (np.abs(px - lx) < half) & (np.abs(py - ly) < half)
            a[e] = sp['lighting']['warm']
        elif k < _FIRST_BOX:
            wall = k - _WALL_S
            s = px if wall < 2 else py
            a = np.empty((idx.size, 3), np.float32)
            a[:] = ws['paint']
            if ws['wainscot']:
                a[pz < 0.9] = ws['wainscot_color']
                a[np.abs(pz - 0.9) < 0.025] = ws['skirting']
            a[pz < ws['skirting_h']] = ws['skirting']
            e = np.zeros(idx.size, bool)
            _rect_albedo(a, s, pz, sp['decor'][wall], e)
        else:
            box = sp['boxes'][k - _FIRST_BOX]
            a = _box_albedo(box, np.stack([px, py, pz], axis=1), nax_f[idx], nsign_f[idx])
        for c in range(3):
            albedo[c][idx] = a[:, c]
        if e is not None and e.any():
            emissive[idx[e]] = True

    # Lambertian shading: ambient + ceiling point lights with inverse-square falloff. Normals are
    # axis-aligned, so n·(L - p) is the light-minus-point coordinate along the normal axis.
    lt = sp['lighting']
    p_n = np.choose(nax_f, pts)
    sign_f = nsign_f.astype(np.float32)
    shade = np.full(n, lt['ambient'], np.float32)
    lz = np.float32(room_h - 0.25)
    for lx, ly in sp['lights']:
        light = np.array([lx, ly, lz], np.float32)
        dx = light[0] - pts[0]
        dy = light[1] - pts[1]
        dz = lz - pts[2]
        d2 = dx * dx
        d2 += dy * dy
        d2 += dz * dz
        d2 += np.float32(0.05)
        num = (light.take(nax_f) - p_n) * sign_f
        np.maximum(num, 0, out=num)
        num /= d2 * np.sqrt(d2)
        num *= np.float32(lt['power'])
        shade += num
    radiance = albedo * (shade[None, :] * np.asarray(lt['warm'], np.float32)[:, None])
    # Auto exposure on the lit surfaces, then emissive surfaces (windows, lamps) saturate.
    lum = radiance.mean(axis=0)
    lit = lum[~emissive] if (~emissive).any() else lum
    radiance *= np.float32(lt['exposure'] / max(float(np.percentile(lit, 97)), 1e-6))
    radiance[:, emissive] = albedo[:, emissive] * np.float32(1.2)
    img = np.ascontiguousarray(radiance.reshape(3, height, width).transpose(1, 2, 0))
    r2 = u[None, :] ** 2 + v[:, None] ** 2
    img *= (1.0 - 0.25 * r2 / (1.0 + r2))[..., None]   # mild vignetting
    np.clip(img, 0.0, 1.0, out=img)
    srgb = cv2.pow(img, 1 / 2.2)
    sigma = max(0.4, 0.5 * width / 640)
    srgb = cv2.GaussianBlur(srgb, (0, 0), sigma)
    depth = t.astype(np.float32)
    if noise:
        nrng = np.random.default_rng([int(seed), 1])
        srgb += nrng.standard_normal(srgb.shape, dtype=np.float32) * np.float32(0.008)
        sd = np.float32(0.5) * (np.float32(0.0012) + np.float32(0.0019) * (depth - 0.4) ** 2)
        depth = depth + nrng.standard_normal(depth.shape, dtype=np.float32) * sd
        depth = np.maximum(depth, np.float32(1e-3))
    rgb = np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = sp['cam']
    meta = {
        'room_size_m': float(sp['size']),
        'room_dims_m': (float(room_w), float(room_d), float(room_h)),
        'seed': int(seed),
        'synthetic': True,
        'camera_height_m': float(sp['cam'][2]),
        'camera_pitch_deg': float(math.degrees(sp['pitch'])),
        'camera_roll_deg': float(math.degrees(sp['roll'])),
        'n_boxes': len(sp['boxes']),
        'T_world_camera': tuple(tuple(float(x) for x in row) for row in pose),
    }
    return RGBDSample(name=name, rgb=rgb, depth=depth, intrinsics=intr,
                      meta=meta)


class SyntheticScenes(Sequence):
    """
    A lazily rendered sequence of ``count`` synthetic scenes with seeds ``first_seed + i``.

    Items are :class:`RGBDSample` (H×W×3 uint8 RGB, H×W float32 metres); indexing supports
    negative indices and slices (a slice returns a list).
    """

    def __init__(self, count: int, first_seed: int = 0, width: int = 640, height: int = 480,
                 intrinsics: Optional[Intrinsics] = None, noise: bool = True) -> None:
        if int(count) < 0:
            raise ValueError(f'count must be >= 0, got {count}')
        if int(width) <= 0 or int(height) <= 0:
            raise ValueError(f'image size must be positive, got {width}x{height}')
        self.count = int(count)
        self.first_seed = int(first_seed)
        self.width = int(width)
        self.height = int(height)
        self.intrinsics = intrinsics
        self.noise = noise

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Union[int, slice]):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        i = int(index)
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f'scene index {index} out of range for {self.count} scenes')
        return render_scene(self.first_seed + i, self.width, self.height, self.intrinsics,
                            noise=self.noise)
