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

"""``synthetic:N[:FIRST_SEED]``: procedurally rendered indoor scenes (see ``synthetic.py``)."""

from typing import Optional

from adaptive_depth.datasets.base import LazyDataset
from adaptive_depth.geometry import Intrinsics
from adaptive_depth.sample import RGBDSample


class SyntheticDataset(LazyDataset):
    """
    Lazy ``Sequence[RGBDSample]`` of ``count`` synthetic scenes with seeds ``first_seed + i``.

    Each sample (H×W×3 uint8 RGB, H×W float32 metres, NYU intrinsics rescaled to H×W) carries
    ``meta['room_size_m']`` (metres) and ``meta['synthetic'] = True``; names are
    ``synthetic/NNNNNN`` (the seed).
    """

    def __init__(self, count: int, first_seed: int = 0, width: int = 640, height: int = 480,
                 intrinsics: Optional[Intrinsics] = None, noise: bool = True):
        from adaptive_depth.synthetic import SyntheticScenes

        self.scenes = SyntheticScenes(int(count), int(first_seed), int(width), int(height),
                                      intrinsics=intrinsics, noise=noise)
        self.first_seed = int(first_seed)
        self.spec = f'synthetic:{int(count)}:{self.first_seed}'

    def __len__(self) -> int:
        """Return the number of scenes."""
        return len(self.scenes)

    def sample_name(self, index: int) -> str:
        """Return ``synthetic/NNNNNN`` (the scene seed) without rendering."""
        return f'synthetic/{self.first_seed + self._check_index(index):06d}'

    def _load(self, index: int) -> RGBDSample:
        return self.scenes[index]
