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

"""Shared data types."""

from dataclasses import dataclass, field
from typing import Optional

from adaptive_depth.geometry import Intrinsics
import numpy as np


@dataclass
class RGBDSample:
    """
    One RGB image with metric depth.

    ``rgb`` is H×W×3 uint8 in RGB order; ``depth`` is H×W float32 metres with NaN where invalid;
    ``intrinsics`` describe the H×W image; ``valid`` is an optional H×W bool mask (None means
    finite and positive depth); ``meta`` holds free-form information such as ``room_size_m``.
    ``name`` is ``<recording>/<frame>``: see :func:`recording_of`.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    valid: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)

    def valid_mask(self) -> np.ndarray:
        """Return the H×W bool mask of pixels with usable depth (and ``valid`` if given)."""
        depth = np.asarray(self.depth)
        with np.errstate(invalid='ignore'):
            mask = np.isfinite(depth) & (depth > 0)
        if self.valid is not None:
            valid = np.asarray(self.valid, dtype=bool)
            if valid.shape != mask.shape:
                raise ValueError(
                    f'valid mask shape {valid.shape} does not match depth shape {mask.shape}')
            mask &= valid
        return mask


def recording_of(name: str) -> str:
    """
    Return the recording a sample belongs to: its name up to the last ``/``.

    A recording is a group of frames that must stay on one side of a train / test split (a run
    of consecutive video frames, one dataset folder, the synthetic scenes); every source names
    its samples ``<recording>/<frame>``. A name without ``/`` is its own recording.
    """
    return name.rsplit('/', 1)[0] if '/' in name else name
