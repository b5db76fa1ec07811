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
Metric depth pipeline: Depth Anything V2 depth × a per-image global scale.

The RGB image is uploaded to the model's device once; DA2 and the scale network both read that
tensor. The final depth is ``scale × raw DA2 depth`` (float32 metres) with NaN where invalid
(non-finite, ``<= min_depth`` or ``> max_depth``), optionally back-projected to an organised
H×W×3 point map.
"""

from dataclasses import dataclass, field
import math
from pathlib import Path
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

from adaptive_depth.depth_model import DEFAULT_MODEL_ID, DepthAnythingRunner
from adaptive_depth.geometry import backproject, Intrinsics
from adaptive_depth.scale_net import ScalePredictor
import numpy as np
import torch

try:  # Python 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object

PathLike = Union[str, Path]
RGBInput = Union[np.ndarray, torch.Tensor]
SCALE_KINDS = ('learned', 'fixed', 'none')


class ScaleSource(Protocol):
    """Anything that gives the global scale s (dimensionless, > 0) for one image."""

    kind: str

    def scale(self, rgb: RGBInput, raw_depth: Optional[torch.Tensor] = None) -> float:
        """Return s for an H×W×3 uint8 image (numpy or a device tensor) and its raw depth."""
        ...


class NoScale:
    """Scale source that leaves DA2's metric depth unchanged (s = 1)."""

    kind = 'none'

    def scale(self, rgb: RGBInput, raw_depth: Optional[torch.Tensor] = None) -> float:
        """Return 1.0."""
        return 1.0

    def __repr__(self) -> str:
        return 'NoScale()'


class FixedScale:
    """Scale source with a constant scale ``k`` (finite, > 0)."""

    kind = 'fixed'

    def __init__(self, k: float) -> None:
        k = float(k)
        if not (math.isfinite(k) and k > 0):
            raise ValueError(f'fixed scale must be finite and > 0, got {k}')
        self.k = k

    def scale(self, rgb: RGBInput, raw_depth: Optional[torch.Tensor] = None) -> float:
        """Return the constant ``k``."""
        return self.k

    def __repr__(self) -> str:
        return f'FixedScale({self.k})'


class LearnedScale:
    """
    Scale source s = exp(scale network output), clamped to ``bounds`` (linear scale).

    ``bounds`` defaults to the scale bounds stored in the network's config (0.1, 2.0 by default).
    """

    kind = 'learned'

    def __init__(self, predictor: ScalePredictor,
                 bounds: Optional[Tuple[float, float]] = None) -> None:
        if bounds is None:
            bounds = predictor.cfg.scale_bounds
        lo, hi = (float(b) for b in bounds)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
            raise ValueError(f'scale bounds must satisfy 0 < low < high, got {bounds}')
        self.predictor = predictor
        self.bounds = (lo, hi)
        self.last_log_scale: Optional[float] = None

    def scale(self, rgb: RGBInput, raw_depth: Optional[torch.Tensor] = None) -> float:
        """Return clamp(exp(net(rgb)), *bounds) for one H×W×3 uint8 image."""
        if isinstance(rgb, torch.Tensor):
            log_s = float(self.predictor.predict_log_scale_tensor(rgb)[0])
        else:
            log_s = float(self.predictor.predict_log_scale(rgb))
        self.last_log_scale = log_s
        return float(min(max(math.exp(log_s), self.bounds[0]), self.bounds[1]))

    def scales(self, rgb: torch.Tensor) -> np.ndarray:
        """Return N clamped scale values (float64) for an N×H×W×3 uint8 tensor."""
        log_s = self.predictor.predict_log_scale_tensor(rgb).double().cpu().numpy()
        return np.clip(np.exp(log_s), self.bounds[0], self.bounds[1])

    def __repr__(self) -> str:
        return f'LearnedScale(bounds={self.bounds})'


@dataclass
class DepthResult:
    """
    Output of ``MetricDepthPipeline.process`` for one H×W image.

    ``depth``: H×W float32 metres, NaN invalid; ``scale``: the s applied; ``raw_depth``: H×W
    float32 DA2 depth (metres, unscaled); ``points``: H×W×3 float32 organised point map (metres,
    optical frame, NaN invalid) or None; ``timings``: per-stage milliseconds; ``intrinsics``: at
    H×W, or None.
    """

    depth: np.ndarray
    scale: float
    raw_depth: np.ndarray
    points: Optional[np.ndarray] = None
    timings: Dict[str, float] = field(default_factory=dict)
    intrinsics: Optional[Intrinsics] = None


def backproject_torch(depth: torch.Tensor, intr: Intrinsics) -> torch.Tensor:
    """
    Back-project N×H×W (or H×W) z-depth in metres to N×H×W×3 (or H×W×3) float32 points.

    The torch twin of ``geometry.backproject`` for depth that lives on a GPU: same float32
    arithmetic, optical frame (x right, y down, z forward), NaN where depth is invalid
    (non-finite or <= 0) or a coordinate overflows. ``intr`` must describe the H×W image.
    """
    h, w = depth.shape[-2:]
    if (intr.height, intr.width) != (h, w):
        raise ValueError(f'depth shape {tuple(depth.shape)} does not match intrinsics size '
                         f'{intr.height}x{intr.width} (HxW)')
    intr.validate()
    z = depth.float()
    z = z.masked_fill(~(z > 0) | ~torch.isfinite(z), float('nan'))
    f32 = torch.float32
    u = (torch.arange(w, dtype=f32, device=z.device) - np.float32(intr.cx).item()) \
        / np.float32(intr.fx).item()
    v = (torch.arange(h, dtype=f32, device=z.device) - np.float32(intr.cy).item()) \
        / np.float32(intr.fy).item()
    points = torch.stack((z * u, z * v[:, None], z), dim=-1)
    # x or y may overflow float32 for extreme depth: such points are NaN, never ±inf.
    return points.masked_fill_(~torch.isfinite(points).all(dim=-1, keepdim=True), float('nan'))


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class MetricDepthPipeline:
    """
    DA2 metric depth corrected by a global per-image scale; see module docstring.

    ``max_depth``/``min_depth`` in metres: final depth outside (min_depth, max_depth] is NaN.
    """

    def __init__(self, depth_model: DepthAnythingRunner, scale_source: ScaleSource,
                 max_depth: Optional[float] = None, min_depth: float = 0.0) -> None:
        if max_depth is not None and not (math.isfinite(max_depth) and max_depth > 0):
            raise ValueError(f'max_depth must be finite and > 0 metres, got {max_depth}')
        if not math.isfinite(min_depth) or min_depth < 0:
            raise ValueError(f'min_depth must be finite and >= 0 metres, got {min_depth}')
        if max_depth is not None and max_depth <= min_depth:
            raise ValueError(f'max_depth ({max_depth}) must exceed min_depth ({min_depth})')
        if not hasattr(scale_source, 'scale'):
            raise TypeError(f'scale_source must have a scale(rgb, raw_depth) method, got '
                            f'{type(scale_source).__name__}')
        self.depth_model = depth_model
        self.scale_source = scale_source
        self.max_depth = None if max_depth is None else float(max_depth)
        self.min_depth = float(min_depth)

    @property
    def device(self) -> torch.device:
        """Return the torch device the models run on."""
        return self.depth_model.device

    @classmethod
    def from_paths(cls, model: PathLike = DEFAULT_MODEL_ID,
                   scale_checkpoint: Optional[PathLike] = None, scale: str = 'learned',
                   fixed_scale: float = 1.0, device: str = 'auto', precision: str = 'auto',
                   input_size: int = 518, max_depth: Optional[float] = None,
                   min_depth: float = 0.0) -> 'MetricDepthPipeline':
        """
        Build a pipeline from a DA2 model (hub id or directory) and a scale option.

        ``scale`` is 'learned' (needs ``scale_checkpoint``), 'fixed' (uses ``fixed_scale``) or
        'none'.
        """
        scale = str(scale).lower()
        if scale not in SCALE_KINDS:
            raise ValueError(f'unknown scale option {scale!r}: expected one of {SCALE_KINDS}')
        if scale == 'learned' and scale_checkpoint is None:
            raise ValueError("scale='learned' needs scale_checkpoint (a scale-network checkpoint "
                             "directory); pass scale='fixed' or scale='none' to run without one")
        source: ScaleSource
        if scale == 'fixed':
            source = FixedScale(fixed_scale)
        elif scale == 'none':
            source = NoScale()
        runner = DepthAnythingRunner(model, device=device, precision=precision,
                                     input_size=input_size)
        if scale == 'learned':
            source = LearnedScale(ScalePredictor.from_checkpoint(scale_checkpoint, runner.device))
        return cls(runner, source, max_depth=max_depth, min_depth=min_depth)

    def _finalise(self, raw: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """Return scales × raw (N×H×W float32) with NaN outside (min_depth, max_depth]."""
        depth = raw * scales.view(-1, 1, 1)
        upper = math.inf if self.max_depth is None else self.max_depth
        # NaN fails both comparisons; +inf fails "< inf" / "<= max", -inf fails "> min".
        valid = depth > self.min_depth
        valid &= (depth < upper) if self.max_depth is None else (depth <= upper)
        return depth.masked_fill_(valid.logical_not_(), float('nan'))

    def _intrinsics_for(self, intrinsics: Optional[Intrinsics], height: int,
                        width: int) -> Optional[Intrinsics]:
        if intrinsics is None:
            return None
        if (intrinsics.width, intrinsics.height) != (width, height):
            intrinsics = intrinsics.scaled(width, height)
        intrinsics.validate()
        return intrinsics

    def _batch_scales(self, x: torch.Tensor, raw: torch.Tensor) -> List[float]:
        source = self.scale_source
        if isinstance(source, LearnedScale):
            return [float(s) for s in source.scales(x)]
        return [float(source.scale(x[i], raw[i])) for i in range(x.shape[0])]

    def process(self, rgb: RGBInput, intrinsics: Optional[Intrinsics] = None,
                compute_points: bool = False) -> DepthResult:
        """
        Run the pipeline on one H×W×3 uint8 RGB image (numpy, or a torch tensor).

        ``intrinsics`` (any resolution; rescaled to H×W) are needed for ``compute_points``.
        Returns a ``DepthResult`` with H×W float32 depth in metres and per-stage timings in ms
        ('preprocess', 'depth_forward', 'scale_net', 'postprocess', 'backproject', 'total').
        """
        shape = tuple(rgb.shape)
        if len(shape) != 3:
            raise ValueError(f'process expects one H×W×3 image, got shape {shape}; use '
                             'process_batch for N×H×W×3')
        return self.process_batch(rgb[None] if isinstance(rgb, np.ndarray) else rgb.unsqueeze(0),
                                  intrinsics, compute_points)[0]

    def process_batch(self, rgb: Union[RGBInput, Sequence[np.ndarray]],
                      intrinsics: Optional[Intrinsics] = None,
                      compute_points: bool = False) -> List[DepthResult]:
        """
        Run the pipeline on N same-size images (N×H×W×3 uint8 or a list); one result each.

        Timings are for the whole batch and are shared by all results.
        """
        runner = self.depth_model
        device = runner.device
        t_start = time.perf_counter()
        with torch.inference_mode():
            x = runner.upload(rgb)  # N×H×W×3 uint8 on the device, shared by both networks
            n, h, w, _ = x.shape
            intr = self._intrinsics_for(intrinsics, h, w)
            if compute_points and intr is None:
                raise ValueError('compute_points=True needs camera intrinsics')
            pixel_values = runner.preprocess(x)
            _sync(device)
            t_pre = time.perf_counter()
            pred = runner.forward(pixel_values)
            _sync(device)
            t_fwd = time.perf_counter()
            raw = runner.postprocess(pred, h, w)
            _sync(device)
            t_up = time.perf_counter()
            scales = self._batch_scales(x, raw)
            t_scale = time.perf_counter()
            depth = self._finalise(raw, torch.tensor(scales, dtype=raw.dtype, device=device))
            points: List[Optional[np.ndarray]] = [None] * n
            if device.type == 'cpu':
                raw_np, depth_np = raw.numpy(), depth.numpy()
                t_post = time.perf_counter()
                if compute_points:
                    points = [backproject(depth_np[i], intr) for i in range(n)]
            else:  # one device → host copy for both maps; points computed on the device
                both = torch.stack((raw, depth)).cpu().numpy()
                raw_np, depth_np = both[0], both[1]
                t_post = time.perf_counter()
                if compute_points:
                    points = list(backproject_torch(depth, intr).cpu().numpy())
        t_end = time.perf_counter()
        timings = {
            'preprocess': (t_pre - t_start) * 1e3,
            'depth_forward': (t_fwd - t_pre) * 1e3,
            'scale_net': (t_scale - t_up) * 1e3,
            'postprocess': (t_up - t_fwd + t_post - t_scale) * 1e3,
            'backproject': (t_end - t_post) * 1e3,
            'total': (t_end - t_start) * 1e3,
        }
        return [DepthResult(depth=depth_np[i], scale=scales[i], raw_depth=raw_np[i],
                            points=points[i], timings=dict(timings), intrinsics=intr)
                for i in range(n)]
