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
The frame processor: one RGB image → everything the node publishes, on the model's device.

This module owns every output rule, for the ROS node, offline replay and the Python API alike:

1. DA2 metric depth (``DepthAnythingRunner``) at the image's H×W;
2. the scale source's log s (``adaptive_depth.scale_source``), clamped to the source's training
   bounds, optionally smoothed over frames by an exponential moving average of log s;
3. depth = s × DA2 depth (float32 metres), NaN where invalid: non-finite, ``<= 0``,
   ``< min_depth`` or ``> max_depth`` (never 0, never inf; REP 117);
4. intrinsics rescaled to the depth resolution;
5. the organised point cloud: every ``point_decimation``-th pixel back-projected (optical frame)
   along its ray (``geometry.pixel_rays``: the lens distortion of the image's pixels, if any),
   points farther than ``points_max_range`` NaN, packed straight into the PointCloud2 byte
   layout (x, y, z float32 + ``rgb`` packed as depth_image_proc does, point_step 16).

Everything runs as torch ops on the model's device; each output (depth, cloud) is copied to the
host once (through pinned memory on CUDA). :meth:`FrameProcessor.process` returns a
:class:`FrameResult`. No rclpy here.
"""

import contextlib
from dataclasses import dataclass, field, replace
import functools
import math
from pathlib import Path
import threading
import time
from typing import Any, Dict, Iterator, Optional, Tuple, Union

from adaptive_depth.defaults import DEFAULT_EXECUTION, DEFAULT_MODEL_ID
from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.geometry import (CloudBuffer, FLOAT32, Intrinsics, MAX_DECIMATION, pixel_rays,
                                     PointField)
from adaptive_depth.lens import Distortion
from adaptive_depth.scale_source import (check_scale_source, CHECKPOINT_SOURCES,
                                         FeatureHeadScale, FixedScale, GroundPlaneScale,
                                         LearnedScale, loads_checkpoint, NoScale, ScaleSource)
from adaptive_depth.smoothing import ScaleSmoother
import numpy as np
import torch

PathLike = Union[str, Path]
RGBInput = Union[np.ndarray, torch.Tensor]
POINT_STEP = 16
"""Bytes per cloud point: x, y, z float32 and the rgb float32 (or 4 zero bytes of padding)."""


@dataclass(frozen=True)
class OutputSettings:
    """
    The output rules that may change at runtime (the node's dynamic parameters).

    ``min_depth``/``max_depth`` in metres (``max_depth=None``: no upper limit);
    ``scale_smoothing`` a in [0, 1): log s ← a·log s_prev + (1 − a)·log s_new (0 = off);
    ``point_decimation``: keep every N-th row and column in the cloud; ``points_max_range``:
    Euclidean range (metres) beyond which points are NaN (0 = off); ``colorize_points``: add the
    packed ``rgb`` field. ``scale_hold_uncertainty``: when a frame's uncertainty of log s (the
    scale source's std, natural-log units) exceeds this, the smoothed scale is held instead of
    taking the frame's scale in (0 = off; rule: ``adaptive_depth.smoothing.ScaleSmoother``).
    """

    min_depth: float = 0.0
    max_depth: Optional[float] = None
    scale_smoothing: float = 0.0
    point_decimation: int = 1
    points_max_range: float = 0.0
    colorize_points: bool = True
    scale_hold_uncertainty: float = 0.0

    def __post_init__(self) -> None:
        """Raise ValueError naming the first invalid value."""
        if not (math.isfinite(self.min_depth) and self.min_depth >= 0):
            raise ValueError(f'min_depth must be finite and >= 0 metres, got {self.min_depth}')
        if self.max_depth is not None:
            if not (math.isfinite(self.max_depth) and self.max_depth > 0):
                raise ValueError(f'max_depth must be finite and > 0 metres, got {self.max_depth}')
            if self.max_depth <= self.min_depth:
                raise ValueError(f'max_depth ({self.max_depth}) must exceed min_depth '
                                 f'({self.min_depth})')
        if not 0.0 <= self.scale_smoothing < 1.0:
            raise ValueError(f'scale_smoothing must be in [0, 1), got {self.scale_smoothing}')
        if int(self.point_decimation) != self.point_decimation \
                or not 1 <= self.point_decimation <= MAX_DECIMATION:
            raise ValueError(f'point_decimation must be an integer in [1, {MAX_DECIMATION}], '
                             f'got {self.point_decimation}')
        if not (math.isfinite(self.points_max_range) and self.points_max_range >= 0):
            raise ValueError(f'points_max_range must be finite and >= 0 metres, got '
                             f'{self.points_max_range}')
        if not (math.isfinite(self.scale_hold_uncertainty) and self.scale_hold_uncertainty >= 0):
            raise ValueError(f'scale_hold_uncertainty must be finite and >= 0 (std of ln s), got '
                             f'{self.scale_hold_uncertainty}')


@dataclass
class FrameResult:
    """
    Everything published for one H×W image.

    ``depth``: H×W float32 metres, NaN invalid. ``scale``: the s applied (smoothed);
    ``raw_scale``: s before smoothing (clamped to the bounds); ``log_scale``: ln of ``scale``;
    ``log_scale_std``: uncertainty (std) of the frame's log s when the scale source gives one,
    else None; ``scale_held``: True when the previous applied scale was kept, because that
    uncertainty exceeded ``scale_hold_uncertainty`` or the source measured nothing in this frame
    (``ScaleEstimate.measured``: ``ground_plane`` without a floor). ``raw_depth``: H×W float32
    DA2 depth before the scale and the depth range (metres, unmasked), only when
    ``process(..., return_raw=True)``. ``intrinsics``: at H×W (None without intrinsics).
    ``cloud``: the packed organised cloud (``CloudBuffer``: uint8 height × row_step, fields
    x/y/z[/rgb]) or None. ``timings``: ms.
    """

    depth: np.ndarray
    scale: float
    raw_scale: float
    log_scale: float
    intrinsics: Optional[Intrinsics] = None
    cloud: Optional[CloudBuffer] = None
    timings: Dict[str, float] = field(default_factory=dict)
    log_scale_std: Optional[float] = None
    scale_held: bool = False
    raw_depth: Optional[np.ndarray] = None

    @property
    def points(self) -> Optional[np.ndarray]:
        """Return the cloud's h×w×3 float32 x/y/z (metres, a view of ``cloud.data``) or None."""
        if self.cloud is None:
            return None
        c = self.cloud
        return c.data.view('<f4').reshape(c.height, c.width, POINT_STEP // 4)[..., :3]


def mask_depth_(depth: torch.Tensor, min_depth: float, max_depth: Optional[float]) -> torch.Tensor:
    """
    Set depth (metres, any shape) to NaN in place where invalid; return it.

    Valid: finite, > 0, >= ``min_depth`` and <= ``max_depth`` (None: no upper limit).
    NaN fails every comparison, +inf fails the upper one, so no separate finiteness test.
    """
    valid = depth > 0
    if min_depth > 0:
        valid &= depth >= min_depth
    valid &= (depth <= max_depth) if max_depth is not None else (depth < math.inf)
    return depth.masked_fill_(valid.logical_not_(), math.nan)


def decimated_intrinsics(intr: Intrinsics, factor: int) -> Intrinsics:
    """Return the intrinsics of every ``factor``-th pixel (as ``geometry.decimate`` does)."""
    h = -(-intr.height // factor)
    w = -(-intr.width // factor)
    return Intrinsics(intr.fx / factor, intr.fy / factor, intr.cx / factor, intr.cy / factor,
                      w, h)


@functools.lru_cache(maxsize=8)
def device_rays(intr: Intrinsics, distortion: Optional[Distortion], device: torch.device
                ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], float]:
    """
    Return ``geometry.pixel_rays`` on ``device`` (1×W / H×1, or H×W each), z/z and the reach.

    z/z is None when every pixel has a ray, else an H×W float32 of 1 and NaN (the pixels without
    one), so that z is NaN there too. The reach is max |x/z| + max |y/z| + 1 over the rays (a
    host float): depth times it bounds the largest coordinate. Cached: a camera's rays are
    uploaded once, not per frame.
    """
    rx, ry = pixel_rays(intr, distortion)
    lost = np.isnan(rx) | np.isnan(ry)
    rz = None
    if lost.any():
        rz = torch.tensor(np.where(lost, np.float32(np.nan), np.float32(1.0)), device=device)
    with np.errstate(invalid='ignore'):
        reach = sum(float(np.nanmax(np.abs(r), initial=0.0)) for r in (rx, ry)) + 1.0
    return (torch.tensor(rx, device=device), torch.tensor(ry, device=device), rz, reach)


def organised_cloud(depth: torch.Tensor, intr: Intrinsics, max_range: float = 0.0,
                    rgb: Optional[torch.Tensor] = None,
                    depth_bound: Optional[float] = None,
                    distortion: Optional[Distortion] = None) -> torch.Tensor:
    """
    Back-project and pack an h×w depth map straight into the PointCloud2 point layout.

    ``depth``: h×w float32 metres on any device, NaN where invalid (as :func:`mask_depth_`
    leaves it; NaN propagates to x, y, z); ``intr``: intrinsics of this h×w image;
    ``distortion``: the lens of its pixels (None: pinhole or rectified); points farther
    than ``max_range`` metres (Euclidean; 0 = off) become NaN; ``rgb``: h×w×3 uint8 or None;
    ``depth_bound``: the largest depth present (metres; None = unknown) — a point whose x or y
    overflows float32 becomes NaN (never ±inf), checked only when the bound allows overflow.
    Returns an h×w×4 float32 tensor on the same device: x right, y down, z forward (the same
    float32 arithmetic as ``geometry.backproject``; NaN where a pixel has no ray), then the
    ``rgb`` float packed as depth_image_proc does (bits ``0x00RRGGBB``, little-endian) or zero
    padding — byte for byte ``geometry.pack_organized_cloud``.
    """
    h, w = depth.shape
    if (intr.height, intr.width) != (h, w):
        raise ValueError(f'depth shape {tuple(depth.shape)} does not match intrinsics size '
                         f'{intr.height}x{intr.width} (HxW)')
    intr.validate()
    rx, ry, rz, reach = device_rays(intr, distortion, depth.device)
    buf = torch.empty((h, w, 4), dtype=torch.float32, device=depth.device)
    torch.mul(depth, rx, out=buf[..., 0])
    torch.mul(depth, ry, out=buf[..., 1])
    if rz is None:
        buf[..., 2] = depth
    else:  # a pixel without a ray: z is NaN as well
        torch.mul(depth, rz, out=buf[..., 2])
    xyz = buf[..., :3]
    if depth_bound is None or depth_bound * reach >= 1e38:
        xyz.masked_fill_(~torch.isfinite(xyz).all(dim=-1, keepdim=True), math.nan)
    if max_range > 0:
        far = xyz.square().sum(dim=-1) > float(max_range) ** 2
        xyz.masked_fill_(far.unsqueeze(-1), math.nan)
    # the rgb float's bytes, little-endian 0x00RRGGBB: b, g, r, 0 (plain byte copies: no
    # integer arithmetic, and a denormal float pattern is never touched as a float)
    colour = buf.view(torch.uint8).view(h, w, POINT_STEP)
    if rgb is None:
        colour[..., 12:] = 0
    else:
        colour[..., 12] = rgb[..., 2]
        colour[..., 13] = rgb[..., 1]
        colour[..., 14] = rgb[..., 0]
        colour[..., 15] = 0
    return buf


def cloud_fields(colorize: bool) -> list:
    """Return the PointField list of the packed cloud (x, y, z [, rgb]; float32)."""
    fields = [PointField('x', 0, FLOAT32), PointField('y', 4, FLOAT32),
              PointField('z', 8, FLOAT32)]
    if colorize:
        fields.append(PointField('rgb', 12, FLOAT32))
    return fields


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def output_stage_threads(device: torch.device) -> Iterator[None]:
    """
    Run the output stages (masking, cloud) single-threaded on CPU; no-op on other devices.

    These ops are memory-bound and take about a millisecond on one core, but each of them is a
    parallel region: on a loaded machine waking torch's worker threads costs tens of
    milliseconds per op (``benchmarks/bench_frame_output.py``). The thread count is restored
    afterwards, so the networks keep every thread.
    """
    if device.type != 'cpu':
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _start_download(t: torch.Tensor) -> torch.Tensor:
    """Return a host tensor holding ``t``: ``t`` itself on CPU, a pinned async copy on CUDA."""
    if t.device.type == 'cpu':
        return t
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    return host


class FrameProcessor:
    """
    DA2 metric depth × a per-image scale, and the cloud, for one image at a time; see module doc.

    ``depth_model``: a ``DepthAnythingRunner``; ``scale_source``: ``NoScale``, ``FixedScale`` or
    ``LearnedScale`` (anything with ``name``, ``bounds``, ``estimate(rgb, raw)``);
    ``settings``: the :class:`OutputSettings` (or their fields as keywords). Settings and the
    smoothing state may be changed from another thread while frames are processed; each frame
    uses one consistent snapshot. Call :meth:`process` from one thread at a time (the EMA is
    sequential, and on CPU the output stages briefly set torch's thread count).
    """

    def __init__(self, depth_model: DepthAnythingRunner, scale_source: ScaleSource,
                 settings: Optional[OutputSettings] = None, **setting_values: Any) -> None:
        if not hasattr(scale_source, 'estimate'):
            raise TypeError(f'scale_source must have an estimate(rgb, raw_depth) method, got '
                            f'{type(scale_source).__name__}')
        self.depth_model = depth_model
        self.scale_source = scale_source
        self._settings = replace(settings or OutputSettings(), **setting_values)
        self._lock = threading.Lock()
        self._smoother = self._new_smoother(self._settings)

    @staticmethod
    def _new_smoother(s: OutputSettings) -> ScaleSmoother:
        return ScaleSmoother(s.scale_smoothing, s.scale_hold_uncertainty or None)

    @classmethod
    def from_paths(cls, model: PathLike = DEFAULT_MODEL_ID, scale_source: str = 'learned',
                   scale_checkpoint: Optional[PathLike] = None, fixed_scale: float = 1.0,
                   device: str = 'auto', precision: str = 'auto', input_size: int = 518,
                   execution: str = DEFAULT_EXECUTION, camera_height: float = 0.0,
                   camera_pitch: float = 0.0, camera_roll: float = 0.0,
                   floor_max_tilt: Optional[float] = None,
                   floor_calibration: Optional[int] = None,
                   **setting_values: Any) -> 'FrameProcessor':
        """
        Build a processor from a DA2 model (hub id or directory) and a ``scale_source``.

        ``scale_source`` is 'learned' (needs ``scale_checkpoint``, a scale network), 'da2_head'
        (needs ``scale_checkpoint``, a head on DA2's features: ``da2_head.save_feature_head``),
        'fixed' (``fixed_scale``), 'none' or 'ground_plane' (``GroundPlaneScale``: the camera
        at ``camera_height`` metres, ``camera_pitch``/``camera_roll`` degrees, floor normal
        within ``floor_max_tilt`` degrees, the mount calibrated from ``floor_calibration``
        floors; ``fixed_scale`` until the first floor, or, with ``scale_checkpoint``, the
        scale network, offset by the floors seen, on frames without a floor); ``execution``
        is the DA2 forward's (``DepthAnythingRunner``); further keywords are
        :class:`OutputSettings` fields.
        """
        from adaptive_depth.scale_net import ScalePredictor

        scale_source = check_scale_source(scale_source)
        if scale_source in CHECKPOINT_SOURCES and scale_checkpoint is None:
            raise ValueError(f'scale_source={scale_source!r} needs scale_checkpoint (a '
                             "checkpoint directory); pass scale_source='fixed' or 'none' to run "
                             'without one')
        settings = OutputSettings(**setting_values)  # fail before loading any model
        source: Any = FixedScale(fixed_scale) if scale_source == 'fixed' else NoScale()
        if scale_source == 'ground_plane':
            source = GroundPlaneScale(camera_height, camera_pitch, camera_roll, floor_max_tilt,
                                      fallback_scale=fixed_scale,
                                      calibration_floors=floor_calibration)
        runner = DepthAnythingRunner(model, device=device, precision=precision,
                                     input_size=input_size, execution=execution)
        if scale_source == 'learned':
            source = LearnedScale(ScalePredictor.from_checkpoint(scale_checkpoint, runner.device))
        elif scale_source == 'ground_plane' and loads_checkpoint(scale_source, scale_checkpoint):
            source.network = LearnedScale(ScalePredictor.from_checkpoint(scale_checkpoint,
                                                                         runner.device))
        elif scale_source == 'da2_head':
            from adaptive_depth.da2_head import load_feature_head

            source = FeatureHeadScale(load_feature_head(scale_checkpoint, runner.device))
            width = 2 * int(runner.model.config.backbone_config.hidden_size)
            if source.feature_dim != width:
                raise ValueError(f'DA2 feature head {str(scale_checkpoint)!r} expects '
                                 f'{source.feature_dim} features but model {str(model)!r} gives '
                                 f'{width} (a head only fits the DA2 it was trained on)')
        return cls(runner, source, settings)

    @property
    def device(self) -> torch.device:
        """Return the torch device the models run on."""
        return self.depth_model.device

    @property
    def settings(self) -> OutputSettings:
        """Return the current output settings."""
        return self._settings

    def configure(self, **changes: Any) -> OutputSettings:
        """
        Change output settings (validated, all or nothing); return the new settings.

        Changing ``scale_smoothing`` restarts the average at the next frame.
        """
        with self._lock:
            new = replace(self._settings, **changes)
            if new.scale_smoothing != self._settings.scale_smoothing:
                self._smoother = self._new_smoother(new)
            else:  # the hold threshold changes without forgetting the average
                self._smoother.hold_std = new.scale_hold_uncertainty or None
            self._settings = new
            return new

    def set_smoothing(self, alpha: float) -> None:
        """Set the EMA factor on log s (0 = off); the average restarts at the next frame."""
        self.configure(scale_smoothing=float(alpha))

    def reset_smoothing(self) -> None:
        """Forget the smoothed log s and the scale source's held scale (e.g. new camera)."""
        with self._lock:
            self._smoother.reset()
            reset_source = getattr(self.scale_source, 'reset', None)
            if reset_source is not None:
                reset_source()

    def _scales(self, log_raw: float, log_std: Optional[float], measured: bool = True
                ) -> Tuple[float, float, float, bool]:
        """
        Return (scale, raw_scale, log_scale, held): bounds applied, then the smoother's rule.

        The EMA of log s and the hold on high uncertainty are ``ScaleSmoother``'s (one owner).
        """
        bounds = getattr(self.scale_source, 'bounds', None)
        raw_scale = math.exp(log_raw) if math.isfinite(log_raw) else math.nan
        if bounds is not None and math.isfinite(raw_scale):
            raw_scale = min(max(raw_scale, bounds[0]), bounds[1])
        if not (math.isfinite(raw_scale) and raw_scale > 0):
            return raw_scale, raw_scale, math.nan, False
        log_s = math.log(raw_scale)
        with self._lock:
            smoother = self._smoother
            applied = smoother.update(log_s, math.nan if log_std is None else float(log_std),
                                      measured)
            held = smoother.last_held
        if applied == log_s:
            return raw_scale, raw_scale, log_s, held
        return math.exp(applied), raw_scale, applied, held

    def process(self, rgb: RGBInput, intrinsics: Optional[Intrinsics] = None,
                compute_points: Optional[bool] = None, return_raw: bool = False,
                distortion: Optional[Distortion] = None) -> FrameResult:
        """
        Process one H×W×3 uint8 RGB image (numpy or a torch tensor on any device).

        ``intrinsics`` (any resolution; rescaled to H×W) are needed for the cloud, which is
        computed when ``compute_points`` is True (default: whenever intrinsics are given).
        ``distortion``: the lens distortion of the image's pixels (None for a pinhole camera or
        a rectified image); the cloud follows each pixel's true ray, the depth map is unchanged.
        ``return_raw`` adds the unscaled DA2 depth (``FrameResult.raw_depth``, one more host
        copy; replay scoring uses it so its baselines do not depend on the scale source).
        Timings (ms): 'preprocess', 'depth_forward', 'scale', 'postprocess', 'cloud',
        'download', 'total'.
        """
        shape = tuple(rgb.shape)
        if len(shape) != 3:
            raise ValueError(f'process expects one H×W×3 image, got shape {shape}')
        s = self._settings
        if compute_points is None:
            compute_points = intrinsics is not None
        if compute_points and intrinsics is None:
            raise ValueError('compute_points=True needs camera intrinsics')
        runner = self.depth_model
        device = runner.device
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = runner.upload(rgb)  # 1×H×W×3 uint8 on the device, read by both networks
            _, h, w, _ = x.shape
            intr = None
            if intrinsics is not None:
                intr = intrinsics if (intrinsics.width, intrinsics.height) == (w, h) \
                    else intrinsics.scaled(w, h)
                intr.validate()
            pixel_values = runner.preprocess(x)
            _sync(device)
            t_pre = time.perf_counter()
            if getattr(self.scale_source, 'needs_features', False):
                # one DA2 forward gives the depth and the encoder tokens the head reads
                predicted, features = runner.forward_with_features(pixel_values)
                raw = runner.postprocess(predicted, h, w)
                _sync(device)
                t_fwd = time.perf_counter()
                estimate = self.scale_source.estimate(x, raw, features=features)
            else:
                raw = runner.postprocess(runner.forward(pixel_values), h, w)
                _sync(device)
                t_fwd = time.perf_counter()
                if getattr(self.scale_source, 'needs_camera', False):
                    estimate = self.scale_source.estimate(x, raw, camera=(intr, distortion))
                else:
                    estimate = self.scale_source.estimate(x, raw)
            scale, raw_scale, log_scale, held = self._scales(
                float(estimate.log_scale), estimate.log_scale_std, estimate.measured)
            t_scale = time.perf_counter()
            raw_host = _start_download(raw[0].clone()) if return_raw else None
            with output_stage_threads(device):
                depth = mask_depth_(raw[0].mul_(scale), s.min_depth, s.max_depth)
                depth_host = _start_download(depth)
                _sync(device)
                t_post = time.perf_counter()
                cloud = cloud_host = None
                if compute_points:
                    f = int(s.point_decimation)
                    intr_d = decimated_intrinsics(intr, f) if f > 1 else intr
                    colours = x[0, ::f, ::f] if s.colorize_points else None
                    cloud_host = _start_download(organised_cloud(
                        depth[::f, ::f], intr_d, s.points_max_range, colours, s.max_depth,
                        distortion))
            t_cloud = time.perf_counter()
            if device.type == 'cuda':
                torch.cuda.current_stream(device).synchronize()
            depth_np = depth_host.numpy()
            raw_np = raw_host.numpy() if raw_host is not None else None
            if cloud_host is not None:
                hd, wd = cloud_host.shape[:2]
                cloud = CloudBuffer(data=cloud_host.numpy().view(np.uint8).reshape(
                    hd, wd * POINT_STEP), height=hd, width=wd, point_step=POINT_STEP,
                    row_step=wd * POINT_STEP, fields=cloud_fields(s.colorize_points))
        t_end = time.perf_counter()
        timings = {
            'preprocess': (t_pre - t0) * 1e3,
            'depth_forward': (t_fwd - t_pre) * 1e3,
            'scale': (t_scale - t_fwd) * 1e3,
            'postprocess': (t_post - t_scale) * 1e3,
            'cloud': (t_cloud - t_post) * 1e3,
            'download': (t_end - t_cloud) * 1e3,
            'total': (t_end - t0) * 1e3,
        }
        return FrameResult(depth=depth_np, scale=scale, raw_scale=raw_scale, log_scale=log_scale,
                           intrinsics=intr, cloud=cloud, timings=timings,
                           log_scale_std=estimate.log_scale_std, scale_held=held,
                           raw_depth=raw_np)
