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
NYU Depth V2 labelled dataset: ``nyu_depth_v2_labeled.mat`` (1449 RGB-D frames, 640×480).

The file is a MATLAB v7.3 file, i.e. HDF5, read lazily with h5py. MATLAB stores arrays
column-major, so h5py sees ``images`` as N×3×W×H uint8 and ``depths`` as N×W×H float (metres,
in-painted); frame ``i`` is ``images[i].transpose(2, 1, 0)`` (H×W×3) and ``depths[i].T`` (H×W).

The official 795 / 654 train / test split is not stored in that file: it is the separate
``splits.mat`` (variables ``trainNdxs`` and ``testNdxs``, 1-based indices into the 1449 frames),
published next to the labelled dataset on the NYU Depth V2 page
(https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html, link "splits.mat" in the "Labeled
dataset" section). This module does not embed the index lists, so ``split='train'`` and
``split='test'`` need ``split_file=.../splits.mat``; ``split='all'`` (the default) needs none.

Sample names are ``nyu-mat/NNNNN`` with the 1-based MATLAB index; ``meta`` holds
``{'eval_crop': 'eigen', 'index': i (1-based), 'split': ...}``. Evaluate inside the Eigen crop
(rows 45:471, cols 41:601) because the RGB has a white border.
"""

import os
from pathlib import Path
from typing import Dict, Optional, Union

from adaptive_depth.datasets.base import DatasetError, LazyDataset, nan_invalid, require_file
from adaptive_depth.geometry import NYU_INTRINSICS
from adaptive_depth.sample import RGBDSample
import numpy as np

NYU_NUM_LABELLED = 1449
NYU_NUM_TRAIN = 795
NYU_NUM_TEST = 654
SPLITS_URL = 'https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html'
SPLITS_HINT = (f'download splits.mat (variables trainNdxs / testNdxs) from the "Labeled dataset" '
               f'section of {SPLITS_URL} and pass it as split_file (--split-file)')


def _read_mat_variable(path: Path, name: str) -> np.ndarray:
    """Read variable ``name`` from a MATLAB v7.3 (HDF5, h5py) or v5 (scipy) .mat file."""
    import h5py

    if h5py.is_hdf5(str(path)):
        try:
            with h5py.File(path, 'r') as fh:
                if name not in fh:
                    raise DatasetError(f'split file {path} has no variable {name!r}')
                return np.asarray(fh[name])
        except OSError as exc:
            raise DatasetError(f'cannot read split file {path}: {exc}') from None
    from scipy.io import loadmat
    try:
        data = loadmat(str(path), variable_names=[name])
    except Exception as exc:  # scipy raises several types for non-.mat input
        raise DatasetError(f'cannot read split file {path}: {exc}') from None
    if name not in data:
        raise DatasetError(f'split file {path} has no variable {name!r}')
    return np.asarray(data[name])


def load_nyu_splits(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """
    Read NYU's ``splits.mat`` and return ``{'train': idx, 'test': idx}`` (0-based int64 arrays).

    :raises DatasetError: if the file is missing, unreadable, or the indices are not disjoint
        1-based indices into the 1449 labelled frames.
    """
    p = require_file(path, 'NYU split file (splits.mat)')
    out = {}
    for split, var in (('train', 'trainNdxs'), ('test', 'testNdxs')):
        raw = _read_mat_variable(p, var).reshape(-1)
        if raw.size == 0 or not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
            raise DatasetError(f'split file {p}: {var} must hold integer indices')
        idx = raw.astype(np.int64) - 1
        if idx.min() < 0:
            raise DatasetError(f'split file {p}: {var} must be 1-based (found index {raw.min()})')
        out[split] = idx
    if np.intersect1d(out['train'], out['test']).size:
        raise DatasetError(f'split file {p}: trainNdxs and testNdxs overlap')
    return out


class NyuMatDataset(LazyDataset):
    """
    Lazy ``Sequence[RGBDSample]`` over NYU Depth V2's labelled ``.mat`` (v7.3 / HDF5).

    :param path: ``nyu_depth_v2_labeled.mat``.
    :param split: ``'all'`` (1449 frames), ``'train'`` (795) or ``'test'`` (654); the last two
        need ``split_file``.
    :param split_file: NYU's ``splits.mat`` (see the module docstring for where to get it).
    """

    def __init__(self, path: Union[str, Path], split: str = 'all',
                 split_file: Optional[Union[str, Path]] = None):
        import h5py

        self.path = require_file(path, 'NYU labelled .mat file')
        self.split = str(split)
        if self.split not in ('all', 'train', 'test'):
            raise ValueError(f"NYU split must be 'all', 'train' or 'test', got {split!r}")
        try:
            with h5py.File(self.path, 'r') as fh:
                for key in ('images', 'depths'):
                    if key not in fh:
                        raise DatasetError(
                            f'{self.path}: no {key!r} dataset; expected the NYU Depth V2 '
                            f'labelled .mat (MATLAB v7.3)')
                images_shape = tuple(fh['images'].shape)
                depths_shape = tuple(fh['depths'].shape)
        except OSError as exc:
            raise DatasetError(
                f'{self.path}: not a readable MATLAB v7.3 (HDF5) file ({exc})') from None
        if len(images_shape) != 4 or images_shape[1] != 3:
            raise DatasetError(f'{self.path}: images must be N×3×W×H, got {images_shape}')
        if len(depths_shape) != 3 or depths_shape != (images_shape[0],) + images_shape[2:]:
            raise DatasetError(
                f'{self.path}: depths {depths_shape} do not match images {images_shape}')
        self.num_frames = images_shape[0]
        self.width, self.height = images_shape[2], images_shape[3]
        self._split_of = {}
        if self.split == 'all':
            self.indices = np.arange(self.num_frames, dtype=np.int64)
            if split_file is not None:
                for name, idx in load_nyu_splits(split_file).items():
                    self._split_of.update((int(i), name) for i in idx)
        else:
            if split_file is None:
                raise DatasetError(f'NYU split {self.split!r} needs the official split file: '
                                   f'{SPLITS_HINT}; or use split=all')
            self.indices = load_nyu_splits(split_file)[self.split]
            if self.indices.max() >= self.num_frames:
                raise DatasetError(
                    f'split file {split_file}: index {int(self.indices.max()) + 1} exceeds the '
                    f'{self.num_frames} frames of {self.path}')
        self.intrinsics = NYU_INTRINSICS.scaled(self.width, self.height) \
            if (self.width, self.height) != (NYU_INTRINSICS.width, NYU_INTRINSICS.height) \
            else NYU_INTRINSICS
        self.spec = f'nyu-mat:{self.path}'
        self._fh = None
        self._pid = None

    def _file(self):
        import h5py

        if self._fh is None or self._pid != os.getpid():
            self._fh = h5py.File(self.path, 'r')
            self._pid = os.getpid()
        return self._fh

    def close(self) -> None:
        """Close the HDF5 file handle (it is reopened on the next access)."""
        if self._fh is not None and self._pid == os.getpid():
            self._fh.close()
        self._fh = None

    def __getstate__(self):
        """Pickle without the open HDF5 handle (for DataLoader workers)."""
        state = dict(self.__dict__)
        state['_fh'] = None
        state['_pid'] = None
        return state

    def __len__(self) -> int:
        """Return the number of frames in the selected split."""
        return int(self.indices.size)

    def sample_name(self, index: int) -> str:
        """Return ``nyu-mat/NNNNN`` with the 1-based MATLAB frame index."""
        return f'nyu-mat/{int(self.indices[self._check_index(index)]) + 1:05d}'

    def _load(self, index: int) -> RGBDSample:
        j = int(self.indices[index])
        try:
            fh = self._file()
            rgb = np.ascontiguousarray(np.asarray(fh['images'][j]).transpose(2, 1, 0))
            depth = np.asarray(fh['depths'][j], dtype=np.float32).T
        except (OSError, KeyError) as exc:
            raise DatasetError(f'{self.path}: cannot read frame {j + 1}: {exc}') from None
        if rgb.dtype != np.uint8:
            rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        return RGBDSample(
            name=f'nyu-mat/{j + 1:05d}', rgb=rgb, depth=nan_invalid(depth),
            intrinsics=self.intrinsics,
            meta={'eval_crop': 'eigen', 'index': j + 1,
                  'split': self._split_of.get(j, self.split),
                  'source': str(self.path)})
