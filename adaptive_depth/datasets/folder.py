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
``folder:PATH``: a generic folder of colour images and 16-bit depth PNGs.

Pairing, in order of preference:

1. an association file (``association=FILE``, relative to PATH unless absolute), one pair per
   line, ``#`` comments ignored: TUM RGB-D style ``rgb_ts rgb_path depth_ts depth_path`` (the
   output of TUM's ``associate.py``), or two paths ``color_path depth_path``; a two-path line
   whose first path lies in a folder named ``depth*`` (Open3D's ``rgbd.match``) is read as
   ``depth_path color_path``;
2. by file stem between a colour sub-folder (``color``, ``rgb``, ``image`` or ``images``) and a
   ``depth`` sub-folder: ``color/00000.jpg`` ↔ ``depth/00000.png``.

Depth PNGs are uint16 ``raw / depth_scale`` metres (1000: millimetres, Redwood / most sensors;
5000: TUM RGB-D). Intrinsics: the ``intrinsics`` option (``'fx,fy,cx,cy'`` in pixels, or a
JSON / YAML file with ``fx, fy, cx, cy`` [+ ``width, height``], or a ROS ``camera_info`` YAML with
``camera_matrix`` and ``image_width`` / ``image_height``); without it, PrimeSense defaults
(525, 525, 319.5, 239.5 at 640×480) with a warning. Intrinsics given for another image size are
rescaled to the image. Names are ``<folder name>/<colour stem>``.
"""

import json
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union
import warnings

from adaptive_depth.datasets.base import (data_lines, DatasetError, DatasetFileNotFoundError,
                                          LazyDataset, nan_invalid, require_dir, require_file)
from adaptive_depth.geometry import Intrinsics, PRIMESENSE_INTRINSICS
from adaptive_depth.sample import RGBDSample

COLOR_DIRS = ('color', 'rgb', 'image', 'images')
DEPTH_DIRS = ('depth',)
COLOR_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp')
DEPTH_EXTENSIONS = ('.png',)

IntrinsicsOption = Union[None, str, Path, Intrinsics, Sequence[float], dict]


def _intrinsics_from_mapping(data: Any, source: str) -> Intrinsics:
    if not isinstance(data, dict):
        raise DatasetError(f'{source}: expected a mapping with fx, fy, cx, cy')
    width = data.get('width', data.get('image_width', 0))
    height = data.get('height', data.get('image_height', 0))
    if all(k in data for k in ('fx', 'fy', 'cx', 'cy')):
        values = [data[k] for k in ('fx', 'fy', 'cx', 'cy')]
    else:
        k = data.get('camera_matrix', data.get('K', data.get('k')))
        if isinstance(k, dict):
            k = k.get('data')
        try:
            flat = [float(v) for row in k for v in (row if isinstance(row, list) else [row])]
        except TypeError:
            flat = []
        if len(flat) != 9:
            raise DatasetError(f'{source}: needs fx, fy, cx, cy or a 3×3 camera_matrix / K')
        values = [flat[0], flat[4], flat[2], flat[5]]
    try:
        fx, fy, cx, cy = (float(v) for v in values)
        intr = Intrinsics(fx, fy, cx, cy, int(width or 0), int(height or 0))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f'{source}: bad intrinsics values ({exc})') from None
    _validate_focal(intr, source)
    return intr


def _validate_focal(intr: Intrinsics, source: str) -> None:
    ok = all(v == v and abs(v) != float('inf') for v in (intr.fx, intr.fy, intr.cx, intr.cy))
    if not ok or intr.fx <= 0 or intr.fy <= 0:
        raise DatasetError(f'{source}: fx and fy must be finite and > 0, cx and cy finite; got '
                           f'fx={intr.fx}, fy={intr.fy}, cx={intr.cx}, cy={intr.cy}')
    if intr.width < 0 or intr.height < 0:
        raise DatasetError(f'{source}: image size must be >= 0, got {intr.width}x{intr.height}')


def parse_intrinsics_option(value: IntrinsicsOption, width: int = 0,
                            height: int = 0) -> Optional[Intrinsics]:
    """
    Parse a user's intrinsics option into :class:`Intrinsics` (pixels), or None for None / ''.

    Accepts an :class:`Intrinsics`; a string ``'fx,fy,cx,cy'`` (commas or spaces); a sequence
    of four numbers; a mapping; or a path to a JSON / YAML file holding ``fx, fy, cx, cy``
    (optionally ``width, height``) or a ROS camera_info YAML (``camera_matrix``,
    ``image_width``, ``image_height``). ``width`` / ``height`` give the image size when the value
    does not; a size of 0 means "unknown: adopt the image's size" (see :func:`fit_intrinsics`).

    :raises DatasetError: (a ValueError) naming the value or file when it cannot be parsed.
    :raises DatasetFileNotFoundError: when a path-like value names a missing file.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Intrinsics):
        intr = value
    elif isinstance(value, dict):
        intr = _intrinsics_from_mapping(value, 'intrinsics')
    elif isinstance(value, (list, tuple)):
        if len(value) != 4:
            raise DatasetError(f'intrinsics must be 4 numbers fx,fy,cx,cy, got {value!r}')
        intr = _intrinsics_from_mapping(dict(zip(('fx', 'fy', 'cx', 'cy'), value)),
                                        'intrinsics')
    else:
        text = str(value).strip()
        parts = text.replace(',', ' ').split()
        numbers: List[float] = []
        if len(parts) == 4:
            try:
                numbers = [float(p) for p in parts]
            except ValueError:
                numbers = []
        if numbers:
            intr = _intrinsics_from_mapping(dict(zip(('fx', 'fy', 'cx', 'cy'), numbers)),
                                            f'intrinsics {text!r}')
        else:
            path = Path(text).expanduser()
            if not path.is_file():
                raise DatasetFileNotFoundError(
                    f"intrinsics must be 'fx,fy,cx,cy' or an existing JSON/YAML file; "
                    f'file not found: {path}')
            raw = path.read_text(encoding='utf-8', errors='replace')
            try:
                if path.suffix.lower() == '.json':
                    data = json.loads(raw)
                else:
                    import yaml
                    data = yaml.safe_load(raw)
            except Exception as exc:  # json.JSONDecodeError / yaml.YAMLError
                raise DatasetError(f'intrinsics file {path}: cannot parse ({exc})') from None
            intr = _intrinsics_from_mapping(data, f'intrinsics file {path}')
    if (intr.width, intr.height) == (0, 0) and width and height:
        intr = Intrinsics(intr.fx, intr.fy, intr.cx, intr.cy, int(width), int(height))
    return intr


def fit_intrinsics(intr: Intrinsics, width: int, height: int) -> Intrinsics:
    """
    Return ``intr`` for a ``width`` × ``height`` image (adopt an unknown size, else rescale).

    Adopting warns when the principal point lies outside the middle half of the image: the
    intrinsics are then almost surely those of another size (e.g. 640×480 values for images
    resized to 320×240), which only a file that gives the size can rescale.
    """
    if intr.width <= 0 or intr.height <= 0:
        if not (0.25 * width <= intr.cx <= 0.75 * width
                and 0.25 * height <= intr.cy <= 0.75 * height):
            warnings.warn(f'intrinsics with cx, cy = {intr.cx:g}, {intr.cy:g} and no image size '
                          f'lie far from the centre of the {width}×{height} images: they are '
                          'probably for another size; give width and height with them (a JSON '
                          'or YAML file)', stacklevel=2)
        return Intrinsics(intr.fx, intr.fy, intr.cx, intr.cy, int(width), int(height))
    if (intr.width, intr.height) != (width, height):
        return intr.scaled(width, height)
    return intr


def read_association_file(path: Union[str, Path],
                          root: Optional[Union[str, Path]] = None) -> List[Tuple[Path, Path]]:
    """
    Read an association file into ``[(color_path, depth_path), ...]`` (paths resolved from root).

    See the module docstring for the accepted line formats.

    :raises DatasetError: naming the file and line of a malformed entry.
    """
    path = require_file(path, 'association file')
    base = Path(root) if root is not None else path.parent
    pairs = []
    for lineno, line in data_lines(path):
        tokens = line.split()
        if len(tokens) == 4:
            color, depth = tokens[1], tokens[3]
        elif len(tokens) == 2:
            first, second = tokens
            if any(part.lower().startswith('depth') for part in Path(first).parts[:-1]):
                depth, color = first, second
            else:
                color, depth = first, second
        else:
            raise DatasetError(f'{path}: line {lineno}: expected "rgb_ts rgb_path depth_ts '
                               f'depth_path" or "color_path depth_path", got {line!r}')
        pairs.append((base / color, base / depth))
    if not pairs:
        raise DatasetError(f'{path}: no colour/depth pairs')
    return pairs


def _pair_by_stem(root: Path) -> List[Tuple[Path, Path]]:
    color_dir = next((root / d for d in COLOR_DIRS if (root / d).is_dir()), None)
    depth_dir = next((root / d for d in DEPTH_DIRS if (root / d).is_dir()), None)
    if color_dir is None or depth_dir is None:
        raise DatasetError(
            f'{root}: expected a colour sub-folder ({", ".join(COLOR_DIRS)}) and a depth '
            f'sub-folder, or an association file (association option / --association)')
    depth_by_stem = {p.stem: p for p in depth_dir.iterdir()
                     if p.suffix.lower() in DEPTH_EXTENSIONS}
    colors = sorted(p for p in color_dir.iterdir() if p.suffix.lower() in COLOR_EXTENSIONS)
    pairs = [(c, depth_by_stem[c.stem]) for c in colors if c.stem in depth_by_stem]
    if not pairs:
        raise DatasetError(f'{root}: no colour image in {color_dir.name}/ has a depth PNG with '
                           f'the same name in {depth_dir.name}/')
    missing = [c.name for c in colors if c.stem not in depth_by_stem]
    if missing:
        warnings.warn(f'{root}: {len(missing)} colour images without depth skipped '
                      f'(e.g. {missing[0]})', stacklevel=3)
    return pairs


class FolderDataset(LazyDataset):
    """
    Lazy ``Sequence[RGBDSample]`` over a generic RGB-D folder (see the module docstring).

    :param path: the dataset folder.
    :param depth_scale: raw depth units per metre (1000 mm; 5000 TUM).
    :param intrinsics: see :func:`parse_intrinsics_option`; None → PrimeSense with a warning.
    :param association: optional association file (relative to ``path`` unless absolute).
    """

    def __init__(self, path: Union[str, Path], depth_scale: float = 1000.0,
                 intrinsics: IntrinsicsOption = None,
                 association: Optional[Union[str, Path]] = None):
        self.path = require_dir(path, 'RGB-D folder')
        self.depth_scale = float(depth_scale)
        if not self.depth_scale > 0:
            raise ValueError(f'depth_scale must be > 0, got {depth_scale}')
        intr = parse_intrinsics_option(intrinsics)
        if intr is None:
            warnings.warn(f'{self.path}: no intrinsics given; using PrimeSense defaults '
                          f'(fx=fy=525, cx=319.5, cy=239.5 at 640x480)', stacklevel=2)
            intr = PRIMESENSE_INTRINSICS
        self.intrinsics = intr
        if association is not None:
            assoc = Path(association).expanduser()
            if not assoc.is_absolute() and not assoc.is_file():
                assoc = self.path / assoc
            self.pairs = read_association_file(assoc, root=self.path)
        else:
            self.pairs = _pair_by_stem(self.path)
        self.spec = f'folder:{self.path}'

    def __len__(self) -> int:
        """Return the number of colour/depth pairs."""
        return len(self.pairs)

    def sample_name(self, index: int) -> str:
        """Return ``<folder name>/<colour file stem>``."""
        return f'{self.path.name}/{self.pairs[self._check_index(index)][0].stem}'

    def _load(self, index: int) -> RGBDSample:
        from adaptive_depth.depth_io import read_depth_png, read_rgb

        color, depth_path = self.pairs[index]
        require_file(color, 'colour image')
        require_file(depth_path, 'depth image')
        rgb = read_rgb(color)
        depth = nan_invalid(read_depth_png(depth_path, self.depth_scale))
        if depth.shape != rgb.shape[:2]:
            raise DatasetError(f'{depth_path}: depth size {depth.shape} differs from the colour '
                               f'image {color} {rgb.shape[:2]}')
        h, w = depth.shape
        return RGBDSample(name=f'{self.path.name}/{color.stem}', rgb=rgb, depth=depth,
                          intrinsics=fit_intrinsics(self.intrinsics, w, h),
                          meta={'source': str(color), 'depth_source': str(depth_path)})
