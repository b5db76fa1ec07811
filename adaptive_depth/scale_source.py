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
Scale sources: where the per-image global scale s (dimensionless, > 0) comes from.

``scale_source`` is the one name of this choice everywhere (node parameter, CLIs, Python API):
one of :data:`SCALE_SOURCES`. A source only *estimates* log s; clamping to the training bounds,
smoothing and applying s are the frame processor's rules (``adaptive_depth.frame_processor``).
This module imports no torch (the ROS parameter validation uses :data:`SCALE_SOURCES`).
"""

from dataclasses import dataclass
import math
from typing import Any, Optional, Protocol, Tuple, TYPE_CHECKING, Union

if TYPE_CHECKING:  # annotations only: this module imports no numpy or torch
    import numpy as np

SCALE_SOURCES = ('learned', 'fixed', 'none', 'da2_head', 'ground_plane')
"""
The valid values of ``scale_source``: scale network, constant ``fixed_scale``, s = 1, the head
on DA2's own encoder features (``adaptive_depth.da2_head``; reads the depth forward's tokens), or
the floor under a camera at a known height (``adaptive_depth.ground_plane``; no training).
"""
CHECKPOINT_SOURCES = ('learned', 'da2_head')
"""The scale sources that need ``scale_checkpoint``."""
FLOOR_OFFSET_MEMORY = 50
"""
How many floors the floor-to-network offset of ``ground_plane`` averages over: the plain mean of
the floors so far, then an exponential average of weight 1/50 (about the last 50 floors).
"""


def loads_checkpoint(scale_source: str, scale_checkpoint: Any) -> bool:
    """
    Return whether ``scale_source`` loads ``scale_checkpoint``.

    The :data:`CHECKPOINT_SOURCES` always do; ``ground_plane`` does when one is given: its scale
    network fills the frames without a floor (:class:`GroundPlaneScale`).
    """
    with_floor = scale_source == 'ground_plane' and bool(scale_checkpoint)
    return scale_source in CHECKPOINT_SOURCES or with_floor


@dataclass(frozen=True)
class ScaleEstimate:
    """
    A scale estimate in natural-log units: one image (floats) or a batch (N float32 arrays).

    ``log_scale`` is log s; ``log_scale_std`` its standard deviation (uncertainty of log s), None
    where the source gives none; ``scale`` is exp(log s) clamped to the source's bounds, None where
    the source leaves the clamp to the frame processor; ``measured`` is False where the frame
    gave no measurement and ``log_scale`` is a stand-in (the floor's held scale, or the fallback
    before the first floor): the smoother neither blends nor starts on it. The one estimate type
    of every scale source, the scale network
    (:meth:`adaptive_depth.scale_net.ScalePredictor.estimate`) and the DA2-feature head.
    """

    log_scale: Union[float, 'np.ndarray']
    log_scale_std: Optional[Union[float, 'np.ndarray']] = None
    scale: Optional[Union[float, 'np.ndarray']] = None
    measured: bool = True


class ScaleSource(Protocol):
    """Anything that estimates log s for one image; ``bounds`` = linear clamp or None."""

    name: str
    bounds: Optional[Tuple[float, float]]

    def estimate(self, rgb: Any, raw_depth: Any = None) -> ScaleEstimate:
        """Return log s for a 1×H×W×3 uint8 device tensor and its 1×H×W raw depth (metres)."""
        ...


class NoScale:
    """Scale source that leaves DA2's metric depth unchanged (s = 1)."""

    name = 'none'
    bounds: Optional[Tuple[float, float]] = None

    def estimate(self, rgb: Any, raw_depth: Any = None) -> ScaleEstimate:
        """Return log s = 0."""
        return ScaleEstimate(0.0)

    def __repr__(self) -> str:
        return 'NoScale()'


class FixedScale:
    """Scale source with a constant scale ``k`` (finite, > 0)."""

    name = 'fixed'
    bounds: Optional[Tuple[float, float]] = None

    def __init__(self, k: float) -> None:
        k = float(k)
        if not (math.isfinite(k) and k > 0):
            raise ValueError(f'fixed scale must be finite and > 0, got {k}')
        self.k = k

    def estimate(self, rgb: Any, raw_depth: Any = None) -> ScaleEstimate:
        """Return log k."""
        return ScaleEstimate(math.log(self.k))

    def __repr__(self) -> str:
        return f'FixedScale({self.k})'


class LearnedScale:
    """
    Scale source log s = scale network output (``ScalePredictor``).

    ``bounds`` (linear scale, applied by the frame processor) default to the scale bounds stored
    in the network's config (0.1, 2.0 by default).
    """

    name = 'learned'

    def __init__(self, predictor: Any, bounds: Optional[Tuple[float, float]] = None) -> None:
        if bounds is None:
            bounds = predictor.cfg.scale_bounds
        lo, hi = (float(b) for b in bounds)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f'scale bounds must satisfy 0 < low < high, got {bounds}')
        self.predictor = predictor
        self.bounds: Optional[Tuple[float, float]] = (lo, hi)

    def estimate(self, rgb: Any, raw_depth: Any = None) -> ScaleEstimate:
        """
        Return the network's log s and its std for a 1×H×W×3 uint8 tensor (one host copy).

        A ``depth_input`` network also reads ``raw_depth``, the base model's 1×H×W depth
        (metres) of the same frame, made scale free (``scale_net.relative_log_depth``).

        The std (``ScalePredictor.estimate_tensor``: ensemble / flip spread plus a predicted
        variance) is None for a network with no uncertainty source (one member, no variance
        head, no flip averaging).
        """
        cfg = self.predictor.cfg
        # the predictor reads raw_depth only for a depth_input network (and refuses None there)
        if not (cfg.members > 1 or cfg.predict_variance or cfg.test_time_flip):
            return ScaleEstimate(float(self.predictor.predict_log_scale_tensor(rgb, raw_depth)[0]))
        log_s, std = self.predictor.estimate_tensor(rgb, raw_depth)
        value, spread = _pair_to_floats(log_s[0], std[0])
        return ScaleEstimate(value, spread)

    def __repr__(self) -> str:
        return f'LearnedScale(bounds={self.bounds})'


class FeatureHeadScale:
    """
    Scale source log s = DA2-feature head (``adaptive_depth.da2_head.FeatureScaleHead``).

    ``needs_features``: the frame processor runs DA2 with ``forward_with_features`` and passes
    the N×2C encoder features of that one forward (no second network on the image). The std of
    log s is the head's predicted variance. ``bounds`` default to the head's config bounds.
    NOT YET MEASURED FOR ACCURACY (docs/scale_net.md).
    """

    name = 'da2_head'
    needs_features = True

    def __init__(self, head: Any, bounds: Optional[Tuple[float, float]] = None) -> None:
        if bounds is None:
            bounds = tuple(math.exp(v) for v in head.config.log_scale_bounds)
        lo, hi = (float(b) for b in bounds)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f'scale bounds must satisfy 0 < low < high, got {bounds}')
        self.head = head.eval()
        self.bounds: Optional[Tuple[float, float]] = (lo, hi)

    @property
    def feature_dim(self) -> int:
        """Return the feature width 2C the head expects."""
        return int(self.head.config.feature_dim)

    def estimate(self, rgb: Any, raw_depth: Any = None, features: Any = None) -> ScaleEstimate:
        """Return log s and its std from the 1×2C ``features`` of the depth forward."""
        if features is None:
            raise ValueError("scale_source 'da2_head' needs the depth forward's encoder features")
        out = self.head(features.float())
        log_s, log_var = _pair_to_floats(out[0, 0], out[0, 1])
        return ScaleEstimate(log_s, math.exp(0.5 * log_var))

    def __repr__(self) -> str:
        return f'FeatureHeadScale(feature_dim={self.feature_dim}, bounds={self.bounds})'


class GroundPlaneScale:
    """
    Scale source log s = log(camera height / the floor's distance in the DA2 depth).

    ``camera_height``: the camera's height above a flat floor (metres, from the robot's mount);
    ``pitch_deg``/``roll_deg``: its orientation (``ground_plane.down_vector``); ``max_tilt_deg``:
    how far the floor normal may deviate from that (0: the orientation is exact). Rules:
    ``adaptive_depth.ground_plane``. ``needs_camera``: the frame processor passes the frame's
    ``camera=(intrinsics, distortion)``. A frame without a floor (out of view, no intrinsics)
    keeps the last floor's log s; before the first floor it is log ``fallback_scale``.

    **With a scale network** (``network``, a :class:`LearnedScale`): it runs on every frame, and
    a frame without a floor takes the network's log s plus the mean offset floor − network of
    the floors so far (the last :data:`FLOOR_OFFSET_MEMORY` of them, about), before the first
    floor the network's log s alone; both count as measured, with the network's std. The floor
    thus calibrates the network in the room it is in: a network's error in a room it was not
    trained in is mostly one bias per room (docs/scale_net.md, *Floor and network*).

    **Mount calibration** (``calibration_floors`` > 0 and ``max_tilt_deg`` > 0): the mount is
    rigid, so the normals of the first ``calibration_floors`` searched floors give its floor
    normal (``ground_plane.mount_normal``); from then on the floor is fitted along that normal,
    fixed, as with a known mount. 0 searches every frame (a handheld camera).

    For diagnostics: ``last_plane`` is the last frame's fit (None: no floor),
    ``frames_without_floor`` counts the frames since the last floor, ``holding`` says whether
    a floor's scale is held, ``mount`` is the calibrated floor normal (None until then) and
    ``calibration_count`` how many floors it has so far; ``network_offset`` the offset in use
    (ln s; None: no network, or no floor yet) and ``offset_floors`` how many floors made it.
    """

    name = 'ground_plane'
    needs_camera = True
    bounds: Optional[Tuple[float, float]] = None

    def __init__(self, camera_height: float, pitch_deg: float = 0.0, roll_deg: float = 0.0,
                 max_tilt_deg: Optional[float] = None, fallback_scale: float = 1.0,
                 calibration_floors: Optional[int] = None,
                 network: Optional[LearnedScale] = None) -> None:
        from adaptive_depth import ground_plane

        self.camera_height = ground_plane.check_camera_height(camera_height)
        self.down = ground_plane.down_vector(pitch_deg, roll_deg)
        self.max_tilt_deg = ground_plane.check_max_tilt(
            ground_plane.DEFAULT_MAX_TILT_DEG if max_tilt_deg is None else max_tilt_deg)
        self.calibration_floors = ground_plane.check_calibration_floors(
            ground_plane.DEFAULT_CALIBRATION_FLOORS if calibration_floors is None
            else calibration_floors)
        self.fallback_log_scale = math.log(FixedScale(fallback_scale).k)
        self.last_plane: Any = None
        self.frames_without_floor = 0
        self.mount: Optional['np.ndarray'] = None
        self._normals: list = []
        self._held: Optional[float] = None
        self.network = network
        self.network_offset: Optional[float] = None
        self.offset_floors = 0

    @property
    def holding(self) -> bool:
        """Return whether a floor's scale is held while none is in view (never with a network)."""
        return self._held is not None and self.network is None

    @property
    def calibrating(self) -> bool:
        """Return whether searched floors are still being collected for the mount's normal."""
        return self.mount is None and self.calibration_floors > 0 and self.max_tilt_deg > 0

    @property
    def calibration_count(self) -> int:
        """Return how many floors the mount calibration holds (0 when it is off or done)."""
        return len(self._normals)

    def reset(self) -> None:
        """Forget the last floor, the mount and the network's offset (e.g. a new camera)."""
        self._held = None
        self.last_plane = None
        self.frames_without_floor = 0
        self.mount = None
        self._normals = []
        self.network_offset = None
        self.offset_floors = 0

    def estimate(self, rgb: Any, raw_depth: Any = None, camera: Any = None) -> ScaleEstimate:
        """Return log s from the floor in the 1×H×W ``raw_depth`` (metres) seen by ``camera``."""
        from adaptive_depth import ground_plane

        plane = None
        if camera is not None and camera[0] is not None:
            depth = raw_depth[0].detach().float().cpu().numpy()
            down, tilt = (self.down, self.max_tilt_deg) if self.mount is None else \
                (self.mount, 0.0)
            plane = ground_plane.fit_floor(depth, camera[0], camera[1], down=down,
                                           max_tilt_deg=tilt)
        self.last_plane = plane
        network = None if self.network is None else self._network_log_scale(rgb, raw_depth)
        if plane is None:
            self.frames_without_floor += 1
            if network is not None:
                return ScaleEstimate(network[0] + (self.network_offset or 0.0), network[1])
        else:
            self.frames_without_floor = 0
            self._held = ground_plane.floor_log_scale(plane, self.camera_height)
            if network is not None:
                self._learn_offset(self._held - network[0])
            if self.calibrating:
                self._normals.append(plane.normal)
                if len(self._normals) >= self.calibration_floors:
                    self.mount = ground_plane.mount_normal(self._normals)
                    self._normals = []
        return ScaleEstimate(self.fallback_log_scale if self._held is None else self._held,
                             measured=plane is not None)

    def _network_log_scale(self, rgb: Any, raw_depth: Any) -> Tuple[float, Optional[float]]:
        """Return the network's log s (clamped to its bounds) and std for this frame."""
        estimate = self.network.estimate(rgb, raw_depth)
        lo, hi = (math.log(b) for b in self.network.bounds)
        return min(max(float(estimate.log_scale), lo), hi), estimate.log_scale_std

    def _learn_offset(self, offset: float) -> None:
        """Average one floor's offset floor − network into :attr:`network_offset`."""
        self.offset_floors += 1
        weight = 1.0 / min(self.offset_floors, FLOOR_OFFSET_MEMORY)
        previous = offset if self.network_offset is None else self.network_offset
        self.network_offset = previous + weight * (offset - previous)

    def __repr__(self) -> str:
        return (f'GroundPlaneScale(camera_height={self.camera_height}, '
                f'max_tilt_deg={self.max_tilt_deg}, '
                f'calibration_floors={self.calibration_floors}, network={self.network!r})')


def _pair_to_floats(a: Any, b: Any) -> Tuple[float, float]:
    """Return two 0-d tensors (or numbers) as Python floats with one host copy."""
    if hasattr(a, 'new_tensor'):
        pair = a.new_empty(2)
        pair[0] = a
        pair[1] = b
        first, second = pair.tolist()
        return float(first), float(second)
    return float(a), float(b)


def check_scale_source(scale_source: str) -> str:
    """Return ``scale_source`` lower-cased, or raise ValueError naming the valid choices."""
    value = str(scale_source).lower()
    if value not in SCALE_SOURCES:
        raise ValueError(f'unknown scale_source {scale_source!r}: expected one of '
                         f'{", ".join(SCALE_SOURCES)}')
    return value
