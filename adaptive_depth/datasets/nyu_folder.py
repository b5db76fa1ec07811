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
``nyu-folder:PATH``: NYU Depth V2 test frames in DenseDepth's ``nyu2_test`` layout.

The folder holds ``NNNNN_colors.png`` (640×480 RGB) and ``NNNNN_depth.png`` (uint16
millimetres) pairs; samples get NYU's Kinect intrinsics and ``meta['eval_crop'] = 'eigen'``.
Names are ``nyu-test/NNNNN``.
"""

from pathlib import Path
import re
from typing import Union

from adaptive_depth.datasets.base import (DatasetError, LazyDataset, nan_invalid, require_dir,
                                          require_file)
from adaptive_depth.geometry import NYU_INTRINSICS
from adaptive_depth.sample import RGBDSample

_COLOR_RE = re.compile(r'^(?P<id>.+)_colors\.png$')


class NyuFolderDataset(LazyDataset):
    """
    Lazy ``Sequence[RGBDSample]`` over a DenseDepth ``nyu2_test``-style folder.

    :param path: the folder of ``NNNNN_colors.png`` / ``NNNNN_depth.png`` pairs.
    :param depth_scale: raw depth units per metre (1000: millimetres).
    :raises DatasetError: if the folder is missing, has no pairs, or a colour image lacks its
        depth file (the message names it).
    """

    def __init__(self, path: Union[str, Path], depth_scale: float = 1000.0):
        self.path = require_dir(path, 'NYU folder')
        self.depth_scale = float(depth_scale)
        if not self.depth_scale > 0:
            raise ValueError(f'depth_scale must be > 0, got {depth_scale}')
        ids = sorted(m.group('id') for m in map(_COLOR_RE.match, (
            p.name for p in self.path.iterdir())) if m)
        if not ids:
            raise DatasetError(f'{self.path}: no NNNNN_colors.png files (expected the '
                               f'DenseDepth nyu2_test layout)')
        for i in ids:
            depth = self.path / f'{i}_depth.png'
            if not depth.is_file():
                raise DatasetError(f'{self.path}: {i}_colors.png has no depth file {depth.name}')
        self.ids = ids
        self.spec = f'nyu-folder:{self.path}'

    def __len__(self) -> int:
        """Return the number of colour/depth pairs."""
        return len(self.ids)

    def sample_name(self, index: int) -> str:
        """Return ``nyu-test/NNNNN``."""
        return f'nyu-test/{self.ids[self._check_index(index)]}'

    def _load(self, index: int) -> RGBDSample:
        from adaptive_depth.depth_io import read_depth_png, read_rgb

        i = self.ids[index]
        color = require_file(self.path / f'{i}_colors.png', 'NYU colour image')
        depth_path = require_file(self.path / f'{i}_depth.png', 'NYU depth image')
        rgb = read_rgb(color)
        depth = nan_invalid(read_depth_png(depth_path, self.depth_scale))
        if depth.shape != rgb.shape[:2]:
            raise DatasetError(f'{depth_path}: depth size {depth.shape} differs from the '
                               f'colour image {color.name} {rgb.shape[:2]}')
        h, w = depth.shape
        intr = NYU_INTRINSICS if (w, h) == (640, 480) else NYU_INTRINSICS.scaled(w, h)
        return RGBDSample(name=f'nyu-test/{i}', rgb=rgb, depth=depth, intrinsics=intr,
                          meta={'eval_crop': 'eigen', 'source': str(color)})
