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
RGB-D samples from a ROS bag: colour + registered depth paired by header stamp.

Used as ``open_dataset('bag:PATH', ...)``, e.g. to build oracle scales from your own RGB-D
recording. Depth must be registered to the colour camera (same H×W; 16UC1 millimetres or 32FC1
metres); intrinsics come from the colour camera_info.
"""

from pathlib import Path
import re
from typing import Any, Iterator, Optional, Union
import warnings

from adaptive_depth.bagio import BagError, BagReader, BagTopicError, FrameIndex
from adaptive_depth.datasets.base import LazyDataset
from adaptive_depth.geometry import Intrinsics
from adaptive_depth.sample import RGBDSample
import numpy as np

PathLike = Union[str, Path]


class BagDataset(LazyDataset):
    """
    A ``Sequence[RGBDSample]`` of the colour frames of a bag that have a paired depth image.

    :param path: ROS 1 ``.bag``, rosbag2 directory, or ``.mcap``/``.db3`` file.
    :param color_topic: colour ``Image``/``CompressedImage`` topic (auto-picked when None).
    :param depth_topic: registered depth ``Image`` topic, 16UC1 mm or 32FC1 m (auto when None).
    :param info_topic: colour ``CameraInfo`` topic (auto-picked by namespace when None).
    :param tolerance_s: largest |colour stamp − depth stamp| in seconds for a pair.
    :param every: keep every k-th colour frame before pairing.
    :param intrinsics: intrinsics to use when the bag has no camera_info (rescaled to the
        image size). Without either, samples have ``intrinsics=None`` (a warning is issued);
        oracle generation does not need them.

    Each sample has H×W×3 uint8 ``rgb``, H×W float32 ``depth`` in metres (NaN invalid) and
    ``meta`` with ``stamp_ns``, ``depth_stamp_ns``, ``frame_id``, ``bag`` and the topics. The
    headers are read once at construction; images are read on access (iteration streams).
    """

    def __init__(self, path: PathLike, color_topic: Optional[str] = None,
                 depth_topic: Optional[str] = None, info_topic: Optional[str] = None,
                 tolerance_s: float = 0.02, every: int = 1,
                 intrinsics: Optional[Intrinsics] = None) -> None:
        self.path = Path(path).expanduser()
        self.spec = f'bag:{self.path}'
        self.intrinsics = intrinsics
        self._reader: Optional[BagReader] = None
        reader = self._open()
        self.topics = reader.select_topics(color_topic, info_topic, depth_topic,
                                           require_depth=True)
        full: FrameIndex = reader.index(self.topics, tolerance_s, every)
        paired = full.paired
        if paired.size == 0:
            gaps = ''
            if full.depth_stamps.size:
                c = full.color_stamps[full.selected]
                d = np.sort(full.depth_stamps)
                pos = np.clip(np.searchsorted(d, c), 0, d.size - 1)
                near = np.minimum(np.abs(d[pos] - c), np.abs(d[np.clip(pos - 1, 0, None)] - c))
                gaps = f' (smallest colour-depth stamp gap {near.min() * 1e-9:.4f} s)'
            raise BagError(
                f'{self.path}: no colour frame on {self.topics.image!r} has a depth image on '
                f'{self.topics.depth!r} within {tolerance_s} s{gaps}; raise the tolerance or '
                'check the topics')
        self._index = FrameIndex(
            topics=full.topics, color_stamps=full.color_stamps,
            color_log_times=full.color_log_times, depth_stamps=full.depth_stamps,
            depth_log_times=full.depth_log_times, info_stamps=full.info_stamps,
            selected=full.selected[paired], depth_match=full.depth_match[paired],
            info_match=full.info_match[paired], infos=full.infos)
        self.unpaired = int(full.selected.size - paired.size)
        if self.topics.info is None and intrinsics is None:
            warnings.warn(
                f'{self.path}: no camera_info topic for {self.topics.image!r} and no intrinsics '
                'given: samples have intrinsics=None', stacklevel=2)
        self._stem = re.sub(r'[^A-Za-z0-9_.-]+', '_', self.path.name.split('.')[0]) or 'bag'

    # ------------------------------------------------------------------ reader lifetime
    def _open(self) -> BagReader:
        if self._reader is None:
            self._reader = BagReader(self.path).open_bag()
        return self._reader

    def close(self) -> None:
        """Close the underlying bag (it is reopened on the next access)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> 'BagDataset':
        """Return self (the bag is opened on demand)."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Close the bag."""
        self.close()

    def __getstate__(self) -> dict:
        """Pickle without the open reader (e.g. for DataLoader workers)."""
        state = dict(self.__dict__)
        state['_reader'] = None
        return state

    # ------------------------------------------------------------------ sequence
    def __len__(self) -> int:
        """Return the number of paired colour + depth frames."""
        return len(self._index)

    def stamp_ns(self, index: int) -> int:
        """Return the colour header stamp (ns) of sample ``index`` without reading images."""
        i = self._check_index(index)
        return int(self._index.color_stamps[self._index.selected[i]])

    def sample_name(self, index: int) -> str:
        """Return ``'<bag name>/<colour message index, 6 digits>'``."""
        i = self._check_index(index)
        return f'{self._stem}/{int(self._index.selected[i]):06d}'

    def _sample(self, pos: int, frame: Any) -> RGBDSample:
        intr = frame.intrinsics
        if intr is None and self.intrinsics is not None:
            h, w = frame.rgb.shape[:2]
            intr = self.intrinsics
            if (intr.width, intr.height) != (w, h):
                intr = intr.scaled(w, h)
        return RGBDSample(
            name=self.sample_name(pos), rgb=frame.rgb, depth=frame.depth, intrinsics=intr,
            meta={'stamp_ns': frame.stamp_ns, 'depth_stamp_ns': frame.depth_stamp_ns,
                  'frame_id': frame.frame_id, 'bag': str(self.path),
                  'color_topic': self.topics.image, 'depth_topic': self.topics.depth,
                  'info_topic': self.topics.info})

    def _load(self, index: int) -> RGBDSample:
        frame = self._open().read_frame(self._index, index)
        return self._sample(index, frame)

    def __iter__(self) -> Iterator[RGBDSample]:
        """Stream the samples in bag order (one pass over the bag)."""
        reader = self._open()
        for pos, frame in enumerate(reader.frames(self.topics, index=self._index)):
            yield self._sample(pos, frame)


__all__ = ['BagDataset', 'BagError', 'BagTopicError']
