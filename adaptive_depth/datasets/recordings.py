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
Real RGB-D *recordings* (runs of consecutive video frames) in their standard layouts.

``tum:DIR`` — TUM RGB-D
    ``rgb.txt`` and ``depth.txt`` (``timestamp path`` lines, ``#`` comments) and an optional
    ``associations.txt`` (``rgb_ts rgb_path depth_ts depth_path``, the output of TUM's
    ``associate.py``). Without it, each colour frame gets the depth frame nearest in time
    within ``max_dt`` seconds (default 0.02), each depth frame used once, like
    ``associate.py``. Depth: uint16 / ``depth_scale`` (default 5000; a calibration YAML with
    ``DepthMapFactor`` overrides the default, the option overrides both). Intrinsics: the
    ``intrinsics`` option, else a calibration YAML in DIR (ORB-SLAM style ``Camera.fx`` ... as
    in ``TUM3.yaml``), else TUM's published values for ``freiburg1/2/3`` when DIR's name says
    which, else freiburg3 with a warning.
``sevenscenes:DIR`` — Microsoft 7-Scenes / 3DMatch / SUN3D fragments
    ``frame-NNNNNN.color.(png|jpg)`` + ``frame-NNNNNN.depth.png`` (uint16 / ``depth_scale``,
    default 1000) and ``camera-intrinsics.txt`` (a 3×3 matrix) in DIR or its parent. DIR may be
    one sequence folder or a folder of sequences (e.g. SUN3D's ``fragment-1-rgbd-frames/``
    ...): each sub-folder with frames is one recording.

Raw depth values in ``invalid`` (default 0 and 65535) are invalid (NaN). Every sample's
``meta['recording']`` names its run of consecutive frames (``<DIR name>[/<sequence>]``) and
``meta['frame']`` its frame number, so experiments can split by recording and measure
frame-to-frame stability. Names are ``<recording>/<colour file stem>``, so
:func:`adaptive_depth.sample.recording_of` gives the same recording from the name alone.
"""

from pathlib import Path
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
import warnings

from adaptive_depth.datasets.base import (data_lines, DatasetError, LazyDataset, require_dir,
                                          require_file)
from adaptive_depth.datasets.folder import (fit_intrinsics, IntrinsicsOption,
                                            parse_intrinsics_option)
from adaptive_depth.geometry import Intrinsics
from adaptive_depth.sample import RGBDSample
import numpy as np

TUM_INTRINSICS: Dict[str, Intrinsics] = {
    'freiburg1': Intrinsics(517.3, 516.5, 318.6, 255.3, 640, 480),
    'freiburg2': Intrinsics(520.9, 521.0, 325.1, 249.7, 640, 480),
    'freiburg3': Intrinsics(535.4, 539.2, 320.1, 247.6, 640, 480),
}
"""TUM RGB-D's published colour intrinsics (pixels, 640×480) per sensor."""

_FRAME_RE = re.compile(r'^frame-(\d+)\.color\.(png|jpg|jpeg)$', re.IGNORECASE)


def read_raw_depth(path: Path, depth_scale: float,
                   invalid: Optional[Sequence[int]] = None) -> np.ndarray:
    """
    Return the H×W float32 metres of a 16-bit depth PNG, NaN where the raw value is invalid.

    ``invalid``: the raw values that mean no measurement (None: ``depth_io.INVALID_RAW_DEPTH``).
    """
    from adaptive_depth.depth_io import INVALID_RAW_DEPTH, read_depth_png

    try:
        return read_depth_png(path, depth_scale,
                              INVALID_RAW_DEPTH if invalid is None else invalid)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def _read_rgb(path: Path) -> np.ndarray:
    from adaptive_depth.depth_io import read_rgb

    return read_rgb(path)


class _RecordingDataset(LazyDataset):
    """Common part: ``self.items`` = [(recording, frame, colour path, depth path, intrinsics)]."""

    items: List[Tuple[str, int, Path, Path, Intrinsics]]
    depth_scale: float
    invalid: Optional[Tuple[int, ...]]

    def __len__(self) -> int:
        """Return the number of colour/depth pairs."""
        return len(self.items)

    def sample_name(self, index: int) -> str:
        """Return ``<recording>/<colour file stem>``."""
        rec, _, color, _, _ = self.items[self._check_index(index)]
        stem = color.name[:-len(color.suffix)] if color.suffix else color.name
        return f'{rec}/{stem[:-len(".color")] if stem.endswith(".color") else stem}'

    def recordings(self) -> List[str]:
        """Return each sample's recording name (runs of consecutive frames), in order."""
        return [item[0] for item in self.items]

    def _load(self, index: int) -> RGBDSample:
        rec, frame, color, depth_path, intr = self.items[index]
        require_file(color, 'colour image')
        require_file(depth_path, 'depth image')
        rgb = _read_rgb(color)
        depth = read_raw_depth(depth_path, self.depth_scale, self.invalid)
        if depth.shape != rgb.shape[:2]:
            raise DatasetError(f'{depth_path}: depth size {depth.shape} differs from the colour '
                               f'image {color} {rgb.shape[:2]}')
        h, w = depth.shape
        return RGBDSample(name=self.sample_name(index), rgb=rgb, depth=depth,
                          intrinsics=fit_intrinsics(intr, w, h),
                          meta={'source': str(color), 'depth_source': str(depth_path),
                                'recording': rec, 'frame': frame})


def _check_scale(depth_scale: float) -> float:
    value = float(depth_scale)
    if not value > 0:
        raise ValueError(f'depth_scale must be > 0, got {depth_scale}')
    return value


def read_matrix_intrinsics(path: Path) -> Intrinsics:
    """Read a 3×3 camera matrix text file (7-Scenes / 3DMatch ``camera-intrinsics.txt``)."""
    try:
        values = [float(v) for v in path.read_text().split()]
    except ValueError:
        raise DatasetError(f'{path}: expected 9 numbers (a 3×3 camera matrix)') from None
    if len(values) != 9:
        raise DatasetError(f'{path}: expected 9 numbers (a 3×3 camera matrix), got '
                           f'{len(values)}')
    return parse_intrinsics_option([values[0], values[4], values[2], values[5]])


class SevenScenesDataset(_RecordingDataset):
    """
    ``sevenscenes:DIR``: 7-Scenes / 3DMatch / SUN3D-fragment frames (see the module docstring).

    :param path: a sequence folder, or a folder of sequence folders.
    :param depth_scale: raw depth units per metre (1000).
    :param intrinsics: overrides ``camera-intrinsics.txt`` (see ``parse_intrinsics_option``).
    :param invalid: raw depth values treated as invalid.
    """

    def __init__(self, path: Union[str, Path], depth_scale: float = 1000.0,
                 intrinsics: IntrinsicsOption = None,
                 invalid: Optional[Sequence[int]] = None):
        self.path = require_dir(path, '7-Scenes folder')
        self.depth_scale = _check_scale(depth_scale)
        self.invalid = None if invalid is None else tuple(int(v) for v in invalid)
        given = parse_intrinsics_option(intrinsics)
        folders = [self.path] + sorted(p for p in self.path.iterdir() if p.is_dir())
        self.items = []
        for folder in folders:
            frames = self._frames(folder)
            if not frames:
                continue
            intr = given or self._intrinsics(folder)
            rec = self.path.name if folder == self.path else f'{self.path.name}/{folder.name}'
            self.items += [(rec, n, c, d, intr) for n, c, d in frames]
        if not self.items:
            raise DatasetError(f'{self.path}: no frame-NNNNNN.color.(png|jpg) with a matching '
                               f'frame-NNNNNN.depth.png, here or in a sub-folder')
        self.spec = f'sevenscenes:{self.path}'

    @staticmethod
    def _frames(folder: Path) -> List[Tuple[int, Path, Path]]:
        out = []
        for p in folder.iterdir():
            m = _FRAME_RE.match(p.name)
            if m is None:
                continue
            depth = folder / f'frame-{m.group(1)}.depth.png'
            if depth.is_file():
                out.append((int(m.group(1)), p, depth))
        return sorted(out)

    def _intrinsics(self, folder: Path) -> Intrinsics:
        for candidate in (folder / 'camera-intrinsics.txt',
                          self.path / 'camera-intrinsics.txt',
                          self.path.parent / 'camera-intrinsics.txt'):
            if candidate.is_file():
                return read_matrix_intrinsics(candidate)
        raise DatasetError(f'{folder}: no camera-intrinsics.txt here or in {self.path} (pass '
                           f'the intrinsics option)')


def _read_tum_rows(path: Path, layout: str, empty: str) -> List[Tuple[Any, ...]]:
    """
    Read a TUM text list: one row per non-comment line, the columns that ``layout`` names.

    Columns named ``timestamp`` or ``*_ts`` become floats (seconds), the others stay strings.
    """
    is_time = [name == 'timestamp' or name.endswith('_ts') for name in layout.split()]
    rows = []
    for lineno, line in data_lines(path):
        parts = line.split()
        try:
            rows.append(tuple(float(parts[i]) if time else parts[i]
                              for i, time in enumerate(is_time)))
        except (ValueError, IndexError):
            raise DatasetError(f'{path}: line {lineno}: expected "{layout}", got '
                               f'{line!r}') from None
    if not rows:
        raise DatasetError(f'{path}: {empty}')
    return rows


def read_tum_list(path: Path) -> List[Tuple[float, str]]:
    """Read a TUM ``rgb.txt`` / ``depth.txt``: [(timestamp seconds, relative path)]."""
    return _read_tum_rows(path, 'timestamp path', 'no entries')


def associate_by_time(rgb: Sequence[Tuple[float, str]], depth: Sequence[Tuple[float, str]],
                      max_dt: float) -> List[Tuple[float, str, float, str]]:
    """
    Pair colour and depth frames by timestamp like TUM's ``associate.py``.

    Candidate pairs within ``max_dt`` seconds are taken in order of increasing time difference
    (ties: colour, then depth order), each frame used at most once; the result is sorted by
    colour timestamp. Memory grows with the number of candidates, not colour × depth frames.
    """
    r_t = np.array([t for t, _ in rgb], dtype=np.float64)
    d_t = np.array([t for t, _ in depth], dtype=np.float64)
    by_time = np.argsort(d_t, kind='stable')
    sorted_t = d_t[by_time]
    span = max(float(np.abs(d_t).max(initial=0.0)), float(np.abs(r_t).max(initial=0.0)), 1.0)
    margin = max_dt + 8 * float(np.spacing(span))  # a pair at the edge survives the rounding
    lo = np.searchsorted(sorted_t, r_t - margin, side='left')
    hi = np.searchsorted(sorted_t, r_t + margin, side='right')
    counts = hi - lo
    ri = np.repeat(np.arange(len(r_t)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)  # each colour frame's first candidate
    di = by_time[np.repeat(lo, counts) + np.arange(counts.sum()) - starts]
    diff = np.abs(r_t[ri] - d_t[di])
    close = diff <= max_dt
    ri, di, diff = ri[close], di[close], diff[close]
    order = np.lexsort((di, ri, diff))
    used_r, used_d, pairs = set(), set(), []
    for k in order:
        a, b = int(ri[k]), int(di[k])
        if a in used_r or b in used_d:
            continue
        used_r.add(a)
        used_d.add(b)
        pairs.append((rgb[a][0], rgb[a][1], depth[b][0], depth[b][1]))
    return sorted(pairs)


def _tum_yaml(folder: Path) -> Tuple[Optional[Intrinsics], Optional[float]]:
    """
    Return (intrinsics, DepthMapFactor) from an ORB-SLAM-style calibration YAML in folder.

    ORB-SLAM2 keys (``Camera.fx`` …, ``DepthMapFactor``) and ORB-SLAM3 keys (``Camera1.fx`` …,
    ``RGBD.DepthMapFactor``); ``Camera.width``/``Camera.height`` give the calibrated size.
    """
    for path in sorted(folder.glob('*.yaml')) + sorted(folder.glob('*.yml')):
        values: Dict[str, float] = {}
        for line in path.read_text(encoding='utf-8', errors='replace').splitlines():
            line = line.split('#', 1)[0]
            if ':' not in line:
                continue
            key, _, value = line.partition(':')
            try:
                values[key.strip()] = float(value.strip())
            except ValueError:
                continue
        for camera in ('Camera', 'Camera1'):  # ORB-SLAM2, ORB-SLAM3
            if all(f'{camera}.{k}' in values for k in ('fx', 'fy', 'cx', 'cy')):
                intr = parse_intrinsics_option([values[f'{camera}.{k}'] for k in
                                                ('fx', 'fy', 'cx', 'cy')])
                width, height = values.get('Camera.width'), values.get('Camera.height')
                if width and height:  # a size: the intrinsics rescale to resized images
                    intr = Intrinsics(intr.fx, intr.fy, intr.cx, intr.cy, int(width),
                                      int(height))
                factor = values.get('DepthMapFactor', values.get('RGBD.DepthMapFactor'))
                return intr, factor
    return None, None


class TumDataset(_RecordingDataset):
    """
    ``tum:DIR``: one TUM RGB-D sequence (see the module docstring).

    :param path: the sequence folder (``rgb.txt``, ``depth.txt`` ...).
    :param depth_scale: raw depth units per metre (None: the calibration YAML's
        ``DepthMapFactor``, else 5000).
    :param intrinsics: overrides the calibration YAML / TUM defaults.
    :param association: association file (default ``associations.txt`` when present).
    :param max_dt: largest colour–depth time difference (seconds) of timestamp pairing.
    """

    def __init__(self, path: Union[str, Path], depth_scale: Optional[float] = None,
                 intrinsics: IntrinsicsOption = None,
                 association: Optional[Union[str, Path]] = None, max_dt: float = 0.02,
                 invalid: Optional[Sequence[int]] = None):
        self.path = require_dir(path, 'TUM RGB-D folder')
        yaml_intr, yaml_scale = _tum_yaml(self.path)
        self.depth_scale = _check_scale(depth_scale if depth_scale is not None
                                        else (yaml_scale or 5000.0))
        self.invalid = None if invalid is None else tuple(int(v) for v in invalid)
        intr = parse_intrinsics_option(intrinsics) or yaml_intr or self._named_intrinsics()
        assoc = None
        if association is not None:
            assoc = Path(association).expanduser()
            if not assoc.is_absolute() and not assoc.is_file():
                assoc = self.path / assoc
            require_file(assoc, 'association file')
        elif (self.path / 'associations.txt').is_file():
            assoc = self.path / 'associations.txt'
        if assoc is not None:
            pairs = self._read_associations(assoc)
        else:
            rgb = read_tum_list(require_file(self.path / 'rgb.txt', 'TUM rgb.txt'))
            depth = read_tum_list(require_file(self.path / 'depth.txt', 'TUM depth.txt'))
            pairs = associate_by_time(rgb, depth, float(max_dt))
            if not pairs:
                raise DatasetError(f'{self.path}: no colour frame has a depth frame within '
                                   f'{max_dt} s (rgb.txt / depth.txt timestamps)')
        rec = self.path.name
        self.items = [(rec, i, self.path / c, self.path / d, intr)
                      for i, (_, c, _, d) in enumerate(pairs)]
        self.spec = f'tum:{self.path}'

    def _named_intrinsics(self) -> Intrinsics:
        name = self.path.name.lower()
        for key, intr in TUM_INTRINSICS.items():
            if key in name or key.replace('reiburg', 'r') in name:
                return intr
        warnings.warn(f'{self.path}: no intrinsics option, calibration YAML or freiburgN in the '
                      f'folder name; using freiburg3 intrinsics', stacklevel=3)
        return TUM_INTRINSICS['freiburg3']

    @staticmethod
    def _read_associations(path: Path) -> List[Tuple[float, str, float, str]]:
        return _read_tum_rows(path, 'rgb_ts rgb_path depth_ts depth_path',
                              'no colour/depth pairs')
