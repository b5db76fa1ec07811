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

"""Common machinery of the lazy RGB-D dataset sources."""

from pathlib import Path
from typing import Iterator, List, Sequence, Tuple, Union

from adaptive_depth.sample import RGBDSample
import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or malformed; the message names the file."""


class DatasetFileNotFoundError(DatasetError, FileNotFoundError):
    """A dataset file or folder does not exist; the message names it."""


class LazyDataset(Sequence):
    """
    A ``Sequence[RGBDSample]`` that reads sample ``i`` from disk only in ``__getitem__``.

    Subclasses implement ``__len__``, ``sample_name(i)`` and ``_load(i)``. Integer indexing
    accepts negative indices; slicing returns a lazy :class:`Subset`.
    """

    spec: str = ''

    def __len__(self) -> int:  # pragma: no cover - abstract
        """Return the number of samples."""
        raise NotImplementedError

    def sample_name(self, index: int) -> str:  # pragma: no cover - abstract
        """Return the unique name of sample ``index`` without reading it."""
        raise NotImplementedError

    def _load(self, index: int) -> RGBDSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_index(self, index: int) -> int:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f'sample index {index} out of range for {n} samples')
        return i

    def __getitem__(self, index: Union[int, slice]):
        """Return sample ``index`` (read now) or a lazy :class:`Subset` for a slice."""
        if isinstance(index, slice):
            return Subset(self, range(len(self))[index])
        if isinstance(index, (int, np.integer)):
            return self._load(self._check_index(index))
        raise TypeError(f'dataset indices must be integers or slices, not {type(index).__name__}')

    def __iter__(self) -> Iterator[RGBDSample]:
        """Iterate over the samples, reading each one in turn."""
        for i in range(len(self)):
            yield self._load(i)

    def names(self) -> List[str]:
        """Return the list of all sample names without reading any image."""
        return [self.sample_name(i) for i in range(len(self))]

    def __repr__(self) -> str:
        """Return a short description with the spec and the sample count."""
        return f'{type(self).__name__}({self.spec!r}, {len(self)} samples)'


class Subset(LazyDataset):
    """A lazy view of ``dataset`` restricted to ``indices`` (in the given order)."""

    def __init__(self, dataset: Sequence, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        n = len(dataset)
        for i in self.indices:
            if not -n <= i < n:
                raise IndexError(f'subset index {i} out of range for {n} samples')
        self.spec = getattr(dataset, 'spec', '')

    def __len__(self) -> int:
        """Return the number of samples in the subset."""
        return len(self.indices)

    def sample_name(self, index: int) -> str:
        """Return the name of subset sample ``index`` (without reading it if possible)."""
        j = self.indices[self._check_index(index)]
        if hasattr(self.dataset, 'sample_name'):
            return self.dataset.sample_name(j)
        return self.dataset[j].name

    def _load(self, index: int) -> RGBDSample:
        return self.dataset[self.indices[index]]


def sample_name(dataset: Sequence, index: int) -> str:
    """Return the name of ``dataset[index]``, without reading the sample when the source can."""
    if hasattr(dataset, 'sample_name'):
        return dataset.sample_name(index)
    return dataset[index].name


def data_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (line number, text) of each line of a text list, ``#`` comments and blanks dropped."""
    for lineno, line in enumerate(path.read_text(encoding='utf-8').splitlines(), start=1):
        line = line.split('#', 1)[0].strip()
        if line:
            yield lineno, line


def require_file(path: Union[str, Path], what: str = 'file') -> Path:
    """Return ``path`` as a Path, or raise :class:`DatasetFileNotFoundError` naming it."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatasetFileNotFoundError(f'{what} not found: {p}')
    return p


def require_dir(path: Union[str, Path], what: str = 'folder') -> Path:
    """Return ``path`` as a Path, or raise :class:`DatasetFileNotFoundError` naming it."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DatasetFileNotFoundError(f'{what} not found: {p}')
    return p


def nan_invalid(depth: np.ndarray) -> np.ndarray:
    """Return H×W float32 metres with NaN wherever ``depth`` is non-finite or <= 0."""
    d = np.asarray(depth, dtype=np.float32).copy()
    with np.errstate(invalid='ignore'):
        d[~(np.isfinite(d) & (d > 0))] = np.nan
    return d
