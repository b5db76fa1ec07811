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
Temporal smoothing of the per-frame scale, without ROS.

The rule is the node's (``scale_smoothing`` = alpha): an exponential moving average of log s,
``ema ← alpha · ema + (1 − alpha) · log s``, started at the first frame's log s; alpha 0 turns
it off; a non-finite or non-positive scale resets it. Added here: ``hold_std`` — when the
frame's uncertainty (standard deviation of log s,
:class:`adaptive_depth.scale_source.ScaleEstimate`) exceeds it, the smoothed value is held
(the frame's log s is not blended in), so one doubtful frame cannot pull the published scale.
A frame whose source measured nothing (``measured`` False: a floorless frame of
``ground_plane`` without a scale network) is held the same way, and before any measurement
its stand-in passes through without starting the average.
:func:`smooth_log_scales` applies the same rule to a whole recording for offline experiments.
"""

import math
from typing import Optional, Sequence

import numpy as np


class ScaleSmoother:
    """
    Per-stream EMA of log s with an optional hold on high uncertainty.

    :param alpha: weight of the past in [0, 1); 0 disables smoothing (every frame's own scale).
    :param hold_std: hold the smoothed value when a frame's log-s std exceeds this (None: never).
    """

    def __init__(self, alpha: float = 0.0, hold_std: Optional[float] = None) -> None:
        if not 0.0 <= float(alpha) < 1.0:
            raise ValueError(f'smoothing alpha must be in [0, 1), got {alpha}')
        if hold_std is not None and not float(hold_std) > 0:
            raise ValueError(f'hold_std must be > 0 or None, got {hold_std}')
        self.alpha = float(alpha)
        self.hold_std = None if hold_std is None else float(hold_std)
        self._ema: Optional[float] = None
        self.last_held = False
        """Whether the last :meth:`update` held the smoothed value."""

    def reset(self) -> None:
        """Forget the history (the next frame starts the average)."""
        self._ema = None

    def update(self, log_scale: float, log_scale_std: float = 0.0, measured: bool = True
               ) -> float:
        """Feed one frame's log s, its std and whether it was measured; return the log s."""
        log_scale = float(log_scale)
        self.last_held = not measured
        if not math.isfinite(log_scale):
            self._ema = None
            return log_scale
        if not measured:
            return log_scale if self._ema is None else self._ema
        held = (self.hold_std is not None and math.isfinite(float(log_scale_std))
                and float(log_scale_std) > self.hold_std)
        if self._ema is None:
            self._ema = log_scale
        elif held:
            self.last_held = True
        elif self.alpha > 0:
            self._ema = self.alpha * self._ema + (1.0 - self.alpha) * log_scale
        else:
            self._ema = log_scale
        return self._ema


def smooth_log_scales(log_scales: Sequence[float], alpha: float,
                      stds: Optional[Sequence[float]] = None,
                      hold_std: Optional[float] = None) -> np.ndarray:
    """Return the applied log s of each frame of one recording (N, in frame order)."""
    smoother = ScaleSmoother(alpha, hold_std)
    stds = np.zeros(len(log_scales)) if stds is None else np.asarray(stds, dtype=np.float64)
    return np.array([smoother.update(v, s) for v, s in zip(log_scales, stds)], dtype=np.float64)


def frame_to_frame_change(log_scales: Sequence[float]) -> np.ndarray:
    """Return the N−1 relative frame-to-frame changes of the scale, ``exp(|Δ log s|) − 1``."""
    v = np.asarray(log_scales, dtype=np.float64)
    return np.expm1(np.abs(np.diff(v)))
