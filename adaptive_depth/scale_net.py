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
The lightweight scale network: one RGB image → log s, the per-image global depth scale.

Architecture (docs/scale_net.md): ``backbone='scratch'`` is the paper's CNN: four blocks
conv3×3 → BatchNorm → ReLU → MaxPool(2) with 32, 64, 128 and 256 channels, global average
pooling, then dropout → Linear(256, 128) → ReLU → dropout → Linear(128, 1); with the defaults it
has 421,921 parameters. ``backbone='efficientnet_lite0'`` (or ``_lite1`` / ``_lite2``) replaces
the conv blocks by an ImageNet-pretrained EfficientNet-Lite body (``adaptive_depth.backbones``)
with its own input normalisation. Optional: a deep ensemble (``members``), a predicted variance
of log s (``predict_variance``), a training-only auxiliary coarse-depth head
(``aux_depth_block``; on a pretrained body it reads the body's output) and flip test-time
averaging (``test_time_flip``), and the base model's own depth as a scale-free fourth input
channel (``depth_input``: :func:`relative_log_depth`; a small conv branch reads its coarse copy).

:meth:`ScalePredictor.estimate` returns log s with its uncertainty (:class:`ScaleEstimate`): the
standard deviation combines the spread of the ensemble members and the predicted variance.

Checkpoints are a directory with ``model.safetensors`` and ``config.json``; ``.pt``/``.pth`` state
dicts are read only with ``torch.load(weights_only=True)`` and need the JSON config beside them.
Pickled modules or other objects are refused.
"""

from dataclasses import asdict, dataclass, field, replace
import json
import math
import os
from pathlib import Path
import pickle
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from adaptive_depth import backbones as bb
from adaptive_depth.defaults import DEFAULT_MODEL_ID
from adaptive_depth.depth_model import normalisation_constants, resize_normalise
from adaptive_depth.scale_source import ScaleEstimate
import numpy as np
import torch
from torch import nn

PathLike = Union[str, Path]

AUX_HIDDEN_CHANNELS = 32
"""Hidden channels of the training-only auxiliary depth head."""
WEIGHTS_NAME = 'model.safetensors'
CONFIG_NAME = 'config.json'
FORMAT_VERSION = 1
MIN_LOG_VAR = -12.0
MAX_LOG_VAR = 4.0
"""Clamp of a predicted log-variance of log s (std from 0.0025 to 7.4)."""
DEPTH_GRID = (24, 32)
"""(rows, columns) of the coarse relative depth the ``depth_input`` branch reads."""
DEPTH_FEATURES = 64
"""Features the ``depth_input`` branch adds to the pooled image features."""


class ScaleNetCheckpointError(ValueError):
    """A scale-network checkpoint is missing, malformed or of a refused (pickled) kind."""


@dataclass
class ScaleNetConfig:
    """
    Hyper-parameters and provenance of a ``ScaleNet``.

    ``input_size`` is the network input (height, width) in pixels; ``backbone`` one of
    :data:`adaptive_depth.backbones.BACKBONES` (``scratch``: the paper's CNN; an EfficientNet-Lite
    name: that pretrained body instead of the conv blocks); ``finetune`` which part of a
    pretrained body trains (``full``, ``last`` blocks, ``frozen``); ``channels`` the output
    channels of the scratch conv blocks; ``fc`` the hidden fully-connected sizes (the final
    layer outputs log s, plus its log-variance when ``predict_variance``); ``mean``/``std`` the
    per-channel normalisation of RGB in [0, 1] (None: the backbone's own);
    ``log_scale_bounds`` the natural-log bounds of the scale (default log 0.1, log 2.0);
    ``base_model`` the depth model whose scale it learned; ``metadata`` free JSON-safe training
    information. ``members`` > 1 makes the network a deep ensemble: that many independently
    initialised copies of the architecture, trained side by side, whose log-scale outputs are
    averaged (less variance when training data are few). ``aux_depth_block`` > 0 adds a small
    auxiliary head (conv3×3 → ReLU → conv1×1) on the output of that conv block which predicts a
    coarse natural-log depth map (metres) during training only (``forward_with_aux``); inference
    never runs it. 0 (default) is the paper's plain network. ``test_time_flip`` makes
    :class:`ScalePredictor` average the log-scales of the image and its mirror image (a flip
    keeps every depth, so both must give the same scale; the average has less variance).
    ``depth_input`` makes the network read the base model's depth too, as a fourth input
    channel of scale-free log depth (:func:`relative_log_depth`: the shape of the scene, not the
    base model's guess of its size); a small conv branch on its 24×32 coarse copy
    (:data:`DEPTH_GRID`) adds :data:`DEPTH_FEATURES` features to the pooled image features.
    ``std_scale`` multiplies the std of log s that :class:`ScalePredictor` reports: training
    fits it on the validation split so that the std matches the held-out errors (1: as the
    network gives it; :func:`adaptive_depth.training.fit_std_scale`).
    """

    input_size: Tuple[int, int] = (224, 224)
    channels: Tuple[int, ...] = (32, 64, 128, 256)
    fc: Tuple[int, ...] = (128,)
    dropout: float = 0.2
    mean: Optional[Tuple[float, float, float]] = None
    std: Optional[Tuple[float, float, float]] = None
    log_scale_bounds: Tuple[float, float] = (math.log(0.1), math.log(2.0))
    base_model: str = DEFAULT_MODEL_ID
    metadata: Dict[str, Any] = field(default_factory=dict)
    members: int = 1
    aux_depth_block: int = 0
    test_time_flip: bool = False
    backbone: str = 'scratch'
    finetune: str = 'full'
    predict_variance: bool = False
    depth_input: bool = False
    std_scale: float = 1.0

    def __post_init__(self) -> None:
        self.backbone = str(self.backbone)
        self.finetune = str(self.finetune)
        if self.backbone not in bb.BACKBONES:
            raise ValueError(f'unknown backbone {self.backbone!r}; known: '
                             f'{", ".join(bb.BACKBONES)}')
        own_mean, own_std = bb.backbone_normalisation(self.backbone)
        self.input_size = tuple(int(v) for v in self.input_size)
        self.channels = tuple(int(v) for v in self.channels)
        self.fc = tuple(int(v) for v in self.fc)
        self.mean = tuple(float(v) for v in (own_mean if self.mean is None else self.mean))
        self.std = tuple(float(v) for v in (own_std if self.std is None else self.std))
        self.predict_variance = bool(self.predict_variance)
        self.log_scale_bounds = tuple(float(v) for v in self.log_scale_bounds)
        self.dropout = float(self.dropout)
        self.metadata = dict(self.metadata or {})
        self.members = int(self.members)
        self.aux_depth_block = int(self.aux_depth_block)
        self.test_time_flip = bool(self.test_time_flip)
        self.depth_input = bool(self.depth_input)
        self.std_scale = float(self.std_scale)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` on inconsistent values."""
        min_side = 2 ** len(self.channels) if self.backbone == 'scratch' else 32
        if len(self.input_size) != 2 or min(self.input_size) < min_side:
            raise ValueError(f'input_size must be (height, width) of at least '
                             f'{min_side} pixels, got {self.input_size}')
        if self.finetune not in bb.FINETUNE_POLICIES:
            raise ValueError(f'unknown finetune policy {self.finetune!r}; known: '
                             f'{", ".join(bb.FINETUNE_POLICIES)}')
        if self.backbone != 'scratch' and self.aux_depth_block not in (0, 1):
            raise ValueError('on a pretrained backbone aux_depth_block must be 0 (none) or 1 '
                             f'(the output feature map), got {self.aux_depth_block}')
        if not self.channels or min(self.channels) <= 0:
            raise ValueError(f'channels must be positive, got {self.channels}')
        if self.fc and min(self.fc) <= 0:
            raise ValueError(f'fc sizes must be positive, got {self.fc}')
        if self.backbone == 'scratch' and not 0 <= self.aux_depth_block <= len(self.channels):
            raise ValueError(f'aux_depth_block must be 0 (none) or a conv block number in '
                             f'[1, {len(self.channels)}], got {self.aux_depth_block}')
        if not 1 <= self.members <= 32:
            raise ValueError(f'members must be an integer in [1, 32], got {self.members}')
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f'dropout must be in [0, 1), got {self.dropout}')
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f'mean/std must have 3 values with std > 0, got {self.mean}, '
                             f'{self.std}')
        if not (math.isfinite(self.std_scale) and self.std_scale > 0):
            raise ValueError(f'std_scale must be finite and > 0, got {self.std_scale}')
        lo, hi = self.log_scale_bounds if len(self.log_scale_bounds) == 2 else (1.0, 0.0)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(
                f'log_scale_bounds must be finite (low, high) with low < high, got '
                f'{self.log_scale_bounds}')

    @property
    def in_channels(self) -> int:
        """Return the input channels: 3 (RGB), 4 with ``depth_input``."""
        return 4 if self.depth_input else 3

    @property
    def scale_bounds(self) -> Tuple[float, float]:
        """Return the (low, high) bounds of the linear scale s."""
        return (math.exp(self.log_scale_bounds[0]), math.exp(self.log_scale_bounds[1]))

    def to_dict(self) -> Dict[str, Any]:
        """Return a JSON-safe dict (tuples become lists)."""
        d = asdict(self)
        for key in ('input_size', 'channels', 'fc', 'mean', 'std', 'log_scale_bounds'):
            d[key] = list(d[key])
        d['format_version'] = FORMAT_VERSION
        json.dumps(d)  # raises TypeError early if metadata is not JSON-safe
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ScaleNetConfig':
        """Build a config from ``to_dict`` output; unknown keys raise ``ValueError``."""
        data = dict(data)
        data.pop('format_version', None)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown ScaleNetConfig keys: {unknown}')
        return cls(**data)


def _depth_branch(dropout: float) -> nn.Module:
    """Return the conv branch: N×1×h×w relative log depth → N×DEPTH_FEATURES features."""
    rows, cols = DEPTH_GRID
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(DEPTH_GRID),
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(1),
        nn.Dropout(dropout), nn.Linear(64 * (rows // 4) * (cols // 4), DEPTH_FEATURES),
        nn.ReLU(inplace=True))


def _head_input(feature_map: torch.Tensor, x: torch.Tensor, pool: nn.Module,
                depth_branch: Optional[nn.Module]) -> torch.Tensor:
    """Return the head input: the pooled image ``feature_map`` (+ the depth features of ``x``)."""
    feat = pool(feature_map).flatten(1)
    if depth_branch is None:
        return feat
    return torch.cat([feat, depth_branch(x[:, 3:4])], dim=1)


class ScaleNet(nn.Module):
    """
    The scale network mapping a normalised N×C×h×w batch to N log-scales.

    C is 3 (RGB, :func:`preprocess_rgb`) or 4 with ``config.depth_input`` (RGB + the relative
    log depth of :func:`preprocess_depth`).
    """

    def __init__(self, config: Optional[ScaleNetConfig] = None) -> None:
        super().__init__()
        self.config = config or ScaleNetConfig()
        if self.config.members > 1:
            single = replace(self.config, members=1)
            self.members = nn.ModuleList(ScaleNet(single) for _ in range(self.config.members))
            self.aux_depth = None   # each member has its own head
            return
        self.members = None
        if self.config.backbone == 'scratch':
            blocks = []
            in_ch = 3
            for out_ch in self.config.channels:
                blocks += [nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
                           nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
                in_ch = out_ch
            self.features = nn.Sequential(*blocks)
        else:
            self.features = bb.make_backbone(self.config.backbone, self.config.input_size)
            in_ch = self.features.out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.depth_branch: Optional[nn.Module] = None
        if self.config.depth_input:
            self.depth_branch = _depth_branch(self.config.dropout)
            in_ch += DEPTH_FEATURES
        head = []
        for width in self.config.fc:
            head += [nn.Dropout(self.config.dropout), nn.Linear(in_ch, width),
                     nn.ReLU(inplace=True)]
            in_ch = width
        head += [nn.Dropout(self.config.dropout),
                 nn.Linear(in_ch, 2 if self.config.predict_variance else 1)]
        self.head = nn.Sequential(*head)
        self.aux_depth: Optional[nn.Module] = None
        if self.config.aux_depth_block:
            ch = (self.config.channels[self.config.aux_depth_block - 1]
                  if self.config.backbone == 'scratch' else self.features.out_channels)
            self.aux_depth = nn.Sequential(nn.Conv2d(ch, AUX_HIDDEN_CHANNELS, 3, padding=1),
                                           nn.ReLU(inplace=True),
                                           nn.Conv2d(AUX_HIDDEN_CHANNELS, 1, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-initialise convs and linears; the last layer starts at log s = 0 (s = 1)."""
        if self.members is not None:
            for member in self.members:
                member.reset_parameters()
            return
        scratch = self.config.backbone == 'scratch'
        fresh = [self] if scratch else [self.head] + (
            [self.depth_branch] if self.depth_branch is not None else [])
        for m in (m for part in fresh for m in part.modules()):
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, nonlinearity='relu')
                nn.init.zeros_(m.bias)
        last = self.head[-1]
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.zeros_(last.bias)
        if self.config.predict_variance:
            nn.init.constant_(last.bias[1:], math.log(0.25 ** 2))
        if self.aux_depth is not None:
            nn.init.normal_(self.aux_depth[-1].weight, std=1e-3)
            nn.init.zeros_(self.aux_depth[-1].bias)

    def _check_input(self, x: torch.Tensor) -> None:
        c = self.config.in_channels
        if x.dim() != 4 or x.shape[1] != c:
            raise ValueError(f'ScaleNet expects an N×{c}×h×w tensor, got shape {tuple(x.shape)}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map N×C×h×w normalised inputs (C = ``config.in_channels``) to N natural-log scales."""
        return self.forward_members(x).mean(dim=1)

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        """Return the N×members log-scales of every ensemble member (N×1 for a single net)."""
        return self.forward_raw(x)[..., 0]

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """
        Return the N×members×D raw head outputs: D = 1 (log s) or 2 (log s, log-variance).

        The log-variance is of log s, clamped to [MIN_LOG_VAR, MAX_LOG_VAR].
        """
        self._check_input(x)
        if self.members is not None:
            return torch.cat([member.forward_raw(x) for member in self.members], dim=1)
        out = self.head(_head_input(self.features(x[:, :3]), x, self.pool, self.depth_branch))
        return _clamp_log_var(out).unsqueeze(1)

    def forward_with_aux(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Return the N×members log-scales and the N×members×h×w auxiliary log-depth maps.

        The maps are natural-log depth in metres at the resolution of the output of conv block
        ``aux_depth_block`` (input size / 2**block; a pretrained body's output: / 32).
        Training only; needs ``aux_depth_block``.
        """
        raw, maps = self.forward_raw_with_aux(x)
        return raw[..., 0], maps

    def forward_raw_with_aux(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the N×members×D raw head outputs (see ``forward_raw``) and the aux maps."""
        self._check_input(x)
        if not self.config.aux_depth_block:
            raise ValueError('this ScaleNet has no auxiliary depth head (aux_depth_block = 0)')
        if self.members is not None:
            outs = [member.forward_raw_with_aux(x) for member in self.members]
            return (torch.cat([o[0] for o in outs], dim=1),
                    torch.cat([o[1] for o in outs], dim=1))
        if self.config.backbone == 'scratch':
            cut = 4 * self.config.aux_depth_block
            mid = self.features[:cut](x[:, :3])
            feat = self.features[cut:](mid)
        else:
            mid = feat = self.features(x[:, :3])
        out = _clamp_log_var(self.head(_head_input(feat, x, self.pool, self.depth_branch)))
        out = out.unsqueeze(1)
        return out, self.aux_depth(mid)

    def member_parameter_groups(self) -> List[List[nn.Parameter]]:
        """Return the parameters of each member (one group for a single net)."""
        if self.members is None:
            return [list(self.parameters())]
        return [list(member.parameters()) for member in self.members]


def _clamp_log_var(out: torch.Tensor) -> torch.Tensor:
    """Clamp column 1 (a log-variance) of N×2 head outputs; N×1 outputs pass unchanged."""
    if out.shape[-1] < 2:
        return out
    return torch.cat([out[..., :1], out[..., 1:].clamp(MIN_LOG_VAR, MAX_LOG_VAR)], dim=-1)


class _FusedMembers(nn.Module):
    """Inference copies of the members: ``raw`` gives N×M×D outputs, ``forward`` mean log s."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([_clamp_log_var(net(x)) for net in self.nets], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.raw(x)[..., 0].mean(dim=1)


def count_parameters(model: nn.Module) -> int:
    """Return the number of parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))


_NORM_CACHE: Dict[Tuple[Any, ...], Tuple[torch.Tensor, torch.Tensor]] = {}


def _norm_tensors(cfg: ScaleNetConfig, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    key = (cfg.mean, cfg.std, str(device))
    cached = _NORM_CACHE.get(key)
    if cached is None:
        cached = normalisation_constants(cfg.mean, cfg.std, device)
        _NORM_CACHE[key] = cached
    return cached


def _as_uint8_batch(rgb: Any, device: torch.device) -> Tuple[torch.Tensor, bool]:
    if isinstance(rgb, (list, tuple)):
        if not rgb:
            raise ValueError('empty list of images')
        rgb = np.stack([np.asarray(im) for im in rgb]) if not isinstance(
            rgb[0], torch.Tensor) else torch.stack(list(rgb))
        single = False
    else:
        single = None
    if isinstance(rgb, np.ndarray):
        if rgb.dtype != np.uint8:
            raise ValueError(f'expected a uint8 RGB image, got dtype {rgb.dtype}')
        t = torch.from_numpy(np.ascontiguousarray(rgb))
    elif isinstance(rgb, torch.Tensor):
        if rgb.dtype != torch.uint8:
            raise ValueError(f'expected a uint8 RGB image, got dtype {rgb.dtype}')
        t = rgb
    else:
        raise ValueError(f'expected a numpy array or torch tensor image, got {type(rgb)}')
    if t.dim() == 3:
        t = t.unsqueeze(0)
        single = True if single is None else single
    if t.dim() != 4 or t.shape[-1] != 3 or t.shape[1] == 0 or t.shape[2] == 0:
        raise ValueError(f'expected an RGB image H×W×3 or batch N×H×W×3, got shape '
                         f'{tuple(rgb.shape)}')
    return t.to(device, non_blocking=True), bool(single)


def preprocess_rgb(rgb: Any, cfg: ScaleNetConfig,
                   device: Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """
    Resize and normalise uint8 RGB into the scale network's N×3×h×w float32 input.

    ``rgb`` is H×W×3 or N×H×W×3 uint8 (numpy or torch, any device) or a list of same-size
    images. Resizing to ``cfg.input_size`` (height, width) is bilinear with antialiasing and
    uint8 output levels (``depth_model.resize_normalise``); normalisation is
    ``(x / 255 - mean) / std``. Runs on ``device``.
    """
    device = torch.device(device)
    t, _ = _as_uint8_batch(rgb, device)
    return _preprocess_batch(t, cfg)


def _preprocess_batch(t: torch.Tensor, cfg: ScaleNetConfig) -> torch.Tensor:
    scale, bias = _norm_tensors(cfg, t.device)
    return resize_normalise(t, cfg.input_size, scale, bias, mode='bilinear')


def relative_log_depth(depth: Any, size: Tuple[int, int]) -> torch.Tensor:
    """
    Return the scale-free log depth of H×W or N×H×W ``depth`` (metres), N×h×w float32.

    The log depth of the valid pixels (finite, > 0) is area-averaged to ``size`` (rows,
    columns), then each image's median cell is subtracted; cells without a valid pixel (and an
    image with none) are 0. Multiplying a depth map by any k > 0 leaves the result unchanged:
    it carries the shape of the scene, not the base model's guess of its size.
    """
    d = torch.as_tensor(depth).float()
    if d.dim() == 2:
        d = d.unsqueeze(0)
    if d.dim() != 3 or d.shape[1] == 0 or d.shape[2] == 0:
        raise ValueError(f'expected a depth map H×W or batch N×H×W, got shape {tuple(d.shape)}')
    valid = torch.isfinite(d) & (d > 0)
    log_d = torch.where(valid, d.clamp_min(1e-12).log(), torch.zeros_like(d)).unsqueeze(1)
    mass = nn.functional.adaptive_avg_pool2d(valid.unsqueeze(1).float(), tuple(size))
    pooled = nn.functional.adaptive_avg_pool2d(log_d, tuple(size)) / mass.clamp_min(1e-6)
    pooled = torch.where(mass > 0, pooled, torch.full_like(pooled, float('nan')))[:, 0]
    median = torch.nanmedian(pooled.flatten(1), dim=1).values.view(-1, 1, 1)
    return torch.nan_to_num(pooled - median, nan=0.0)


def preprocess_depth(depth: Any, cfg: ScaleNetConfig,
                     device: Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """
    Return the N×1×h×w depth channel of the network input (``cfg.depth_input``).

    ``depth`` is H×W or N×H×W metres (numpy or torch, any device): the base model's
    prediction, made scale free by :func:`relative_log_depth` at ``cfg.input_size``.
    """
    d = torch.as_tensor(depth, device=torch.device(device))
    return relative_log_depth(d, cfg.input_size).unsqueeze(1)


def relative_depth_copy(depth: Any, size: Tuple[int, int]) -> np.ndarray:
    """
    Return the h×w float16 training copy of one H×W depth map (metres).

    The stored counterpart of the RGB training copy (``oracle_dataset.resize_for_oracle``):
    :func:`relative_log_depth` at ``size``. ``np.exp`` of it is a depth map (in units of its
    median) that :func:`preprocess_depth` turns into the network input.
    """
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f'expected one H×W depth map, got shape {d.shape}')
    return relative_log_depth(torch.from_numpy(d), size)[0].numpy().astype(np.float16)


def depth_from_copy(copies: Any) -> np.ndarray:
    """
    Return a depth map (float32, in units of its median) of :func:`relative_depth_copy` output.

    ``np.exp`` of the H×W or N×H×W copies: what :func:`preprocess_depth` reads, so stored
    copies and live depth maps go through the same rule.
    """
    return np.exp(np.asarray(copies, dtype=np.float32))


def save_scale_net(directory: PathLike, model: ScaleNet,
                   cfg: Optional[ScaleNetConfig] = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into ``directory``; returns the directory."""
    from safetensors.torch import save_file

    cfg = cfg or model.config
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_NAME), metadata={'format': 'pt'})
    (directory / CONFIG_NAME).write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    return directory


def _read_config(path: Path) -> ScaleNetConfig:
    try:
        data = json.loads(path.read_text())
        return ScaleNetConfig.from_dict(data)
    except (OSError, ValueError, TypeError) as exc:
        raise ScaleNetCheckpointError(f'invalid scale-network config {str(path)!r}: {exc}') \
            from exc


def _config_beside(weights: Path) -> Path:
    for candidate in (weights.with_suffix('.json'), weights.parent / CONFIG_NAME):
        if candidate.is_file():
            return candidate
    raise ScaleNetCheckpointError(
        f'no config for scale-network weights {str(weights)!r}: expected '
        f'{weights.with_suffix(".json").name} or {CONFIG_NAME} in the same directory')


def _load_state(weights: Path) -> Dict[str, torch.Tensor]:
    suffix = weights.suffix.lower()
    if suffix == '.safetensors':
        from safetensors.torch import load_file
        try:
            return load_file(str(weights))
        except Exception as exc:  # noqa: B902 - safetensors raises its own error types
            raise ScaleNetCheckpointError(
                f'could not read safetensors file {str(weights)!r}: {exc}') from exc
    if suffix in ('.pt', '.pth', '.bin'):
        try:
            state = torch.load(str(weights), map_location='cpu', weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
            raise ScaleNetCheckpointError(
                f'refusing {str(weights)!r}: it is not a plain state dict of tensors (pickled '
                'modules and arbitrary objects are never loaded). Save the weights with '
                'save_scale_net() or torch.save(model.state_dict(), path).') from exc
        if isinstance(state, Mapping) and 'state_dict' in state and isinstance(
                state['state_dict'], Mapping):
            state = state['state_dict']
        if not isinstance(state, Mapping) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise ScaleNetCheckpointError(
                f'refusing {str(weights)!r}: expected a dict of tensors (a state dict), got '
                f'{type(state).__name__}')
        return dict(state)
    raise ScaleNetCheckpointError(
        f'unsupported scale-network checkpoint {str(weights)!r}: expected a directory with '
        f'{WEIGHTS_NAME} + {CONFIG_NAME}, a .safetensors file or a .pt/.pth state dict')


def load_scale_net(path: PathLike,
                   device: Union[str, torch.device] = 'cpu') -> Tuple[ScaleNet, ScaleNetConfig]:
    """
    Load a scale network (eval mode, on ``device``) and its config.

    ``path`` is a checkpoint directory (``model.safetensors`` + ``config.json``), a
    ``.safetensors`` file, or a ``.pt``/``.pth`` plain state dict, the latter two with the config
    JSON beside them. Raises ``FileNotFoundError`` for a missing path and
    ``ScaleNetCheckpointError`` (a ``ValueError``) for pickles or malformed checkpoints.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f'scale-network checkpoint {str(path)!r} does not exist')
    if path.is_dir():
        weights = path / WEIGHTS_NAME
        config_path = path / CONFIG_NAME
        if not weights.is_file() or not config_path.is_file():
            raise ScaleNetCheckpointError(
                f'scale-network checkpoint directory {str(path)!r} must contain {WEIGHTS_NAME} '
                f'and {CONFIG_NAME}')
    else:
        weights = path
        config_path = _config_beside(path)
    cfg = _read_config(config_path)
    state = _load_state(weights)
    model = ScaleNet(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ScaleNetCheckpointError(
            f'weights in {str(weights)!r} do not match the architecture in '
            f'{str(config_path)!r}: {exc}') from exc
    return model.to(torch.device(device)).eval(), cfg


def fuse_conv_bn(model: ScaleNet) -> nn.Module:
    """
    Return an inference-only copy of ``model`` with each BatchNorm folded into its conv.

    The conv weights are a snapshot (eval-mode BatchNorm statistics); the pooling and the
    fully-connected head are shared with ``model``. Outputs equal ``model.eval()`` up to float
    rounding, at about 30 % less CPU time.
    """
    if model.config.backbone != 'scratch':
        raise ValueError('fuse_conv_bn folds the scratch CNN only; a pretrained backbone runs '
                         'unfused')
    if model.members is not None:
        return _FusedMembers([_fused_single(member) for member in model.members]).eval()
    return _FusedMembers([_fused_single(model)]).eval()


def _fused_single(model: 'ScaleNet') -> nn.Module:
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    mods = list(model.features)
    layers = []
    i = 0
    while i < len(mods):
        if (isinstance(mods[i], nn.Conv2d) and i + 1 < len(mods)
                and isinstance(mods[i + 1], nn.BatchNorm2d)):
            layers.append(fuse_conv_bn_eval(mods[i].eval(), mods[i + 1].eval()))
            i += 2
        else:
            layers.append(mods[i])
            i += 1
    return _FusedSingle(nn.Sequential(*layers), model.pool, model.head, model.depth_branch).eval()


class _FusedSingle(nn.Module):
    """One inference network with BatchNorm folded: N×C×h×w input → N×D head outputs."""

    def __init__(self, features: nn.Module, pool: nn.Module, head: nn.Module,
                 depth_branch: Optional[nn.Module]) -> None:
        super().__init__()
        self.features, self.pool, self.head = features, pool, head
        self.depth_branch = depth_branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_head_input(self.features(x[:, :3]), x, self.pool, self.depth_branch))


class ScalePredictor:
    """
    Inference wrapper: uint8 RGB → natural-log scale, in eval mode under inference_mode.

    With ``fuse=True`` (default) BatchNorm is folded into the convs at construction
    (``fuse_conv_bn``), so later changes to the conv/BatchNorm weights of ``model`` are not seen;
    call ``refresh()`` after changing them.
    """

    def __init__(self, model: ScaleNet, cfg: Optional[ScaleNetConfig] = None,
                 device: Union[str, torch.device] = 'cpu', fuse: bool = True) -> None:
        self.device = torch.device(device)
        self.cfg = cfg or model.config
        self.model = model.to(self.device).eval()
        self.fuse = bool(fuse)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the inference network from ``self.model`` (eval mode, on ``device``)."""
        self.model.to(self.device).eval()
        if self.fuse and self.cfg.backbone == 'scratch':
            with torch.no_grad():
                self._raw = fuse_conv_bn(self.model).to(self.device).eval().raw
        else:
            self._raw = self.model.forward_raw

    @property
    def needs_depth(self) -> bool:
        """Return True when the network reads the base model's depth (``depth_input``)."""
        return self.cfg.depth_input

    def _run_raw(self, t: torch.Tensor, depth: Any = None) -> torch.Tensor:
        """Return N×K×D head outputs (K = members, ×2 with flip averaging)."""
        x = _preprocess_batch(t, self.cfg)
        if self.cfg.depth_input:
            if depth is None:
                raise ValueError('this scale network reads the base model depth '
                                 '(depth_input): pass depth (H×W or N×H×W metres)')
            d = preprocess_depth(depth, self.cfg, self.device)
            if d.shape[0] != x.shape[0]:
                raise ValueError(f'{x.shape[0]} image(s) but {d.shape[0]} depth map(s)')
            x = torch.cat([x, d], dim=1)
        if not self.cfg.test_time_flip:
            return self._raw(x).float()
        n = x.shape[0]
        both = self._raw(torch.cat([x, torch.flip(x, dims=(3,))])).float()
        return torch.cat([both[:n], both[n:]], dim=1)

    def _run(self, t: torch.Tensor, depth: Any = None) -> torch.Tensor:
        return self._run_raw(t, depth)[..., 0].mean(dim=1)

    def estimate_tensor(self, rgb: torch.Tensor,
                        depth: Any = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Return (log s, std of log s) as two N float32 tensors on ``device``.

        ``depth`` (H×W or N×H×W metres, the base model's prediction) is needed, and only
        read, when the network has ``depth_input``.

        The variance is the spread of the members' log s around their mean (flip copies count
        as members: they average, so their disagreement is uncertainty too) plus their mean
        predicted variance when the network has a variance head; the std is then multiplied by
        ``cfg.std_scale`` (fitted on held-out data by training).
        """
        t, _ = _as_uint8_batch(rgb, self.device)
        with torch.inference_mode():
            raw = self._run_raw(t, depth)
        mean = raw[..., 0].mean(dim=1)
        var = ((raw[..., 0] - mean.unsqueeze(1)) ** 2).mean(dim=1)
        if raw.shape[-1] > 1:
            var = var + raw[..., 1].exp().mean(dim=1)
        return mean, var.sqrt() * self.cfg.std_scale

    def estimate_copies(self, images: np.ndarray, relative_copies: Optional[np.ndarray] = None,
                        batch: int = 64) -> Tuple[np.ndarray, np.ndarray]:
        """
        Return (log s, std of log s) as two N float64 arrays for stored training copies.

        ``images`` are N×H×W×3 uint8 copies (an oracle directory's or a ``FrameSet``'s);
        ``relative_copies`` their N×H×W :func:`relative_depth_copy` rows, read only by a
        ``depth_input`` network. Runs ``batch`` rows at a time, so memory stays bounded.
        """
        means, stds = [], []
        for start in range(0, len(images), batch):
            rows = torch.from_numpy(np.ascontiguousarray(images[start:start + batch]))
            depth = None
            if self.needs_depth:
                depth = depth_from_copy(relative_copies[start:start + batch])
            mean, std = self.estimate_tensor(rows, depth)
            means.append(mean.cpu().numpy())
            stds.append(std.cpu().numpy())
        if not means:
            return np.zeros(0), np.zeros(0)
        return (np.concatenate(means).astype(np.float64),
                np.concatenate(stds).astype(np.float64))

    def estimate(self, rgb: Any, depth: Any = None) -> ScaleEstimate:
        """
        Return the :class:`ScaleEstimate` of one H×W×3 uint8 image (floats) or a batch (arrays).

        ``rgb`` is H×W×3, N×H×W×3 or a list of same-size images (numpy or torch, uint8);
        ``depth`` the base model's H×W / N×H×W depth (metres) for a ``depth_input`` network.
        """
        t, single = _as_uint8_batch(rgb, self.device)
        mean, std = self.estimate_tensor(t, depth)
        log_s = mean.cpu().numpy().astype(np.float32)
        log_std = std.cpu().numpy().astype(np.float32)
        lo, hi = self.cfg.log_scale_bounds
        s = np.exp(np.clip(log_s, lo, hi)).astype(np.float32)
        if single:
            return ScaleEstimate(float(log_s[0]), float(log_std[0]), float(s[0]))
        return ScaleEstimate(log_s, log_std, s)

    @classmethod
    def from_checkpoint(cls, path: PathLike,
                        device: Union[str, torch.device] = 'cpu') -> 'ScalePredictor':
        """Load a checkpoint with ``load_scale_net`` and wrap it."""
        model, cfg = load_scale_net(path, device)
        return cls(model, cfg, device)

    def predict_log_scale_tensor(self, rgb: torch.Tensor, depth: Any = None) -> torch.Tensor:
        """Return the N log-scales (float32 tensor on ``device``) for N×H×W×3 uint8 input."""
        t, _ = _as_uint8_batch(rgb, self.device)
        with torch.inference_mode():
            return self._run(t, depth)

    def predict_log_scale(self, rgb: Any, depth: Any = None) -> Union[float, np.ndarray]:
        """Return log s: a float for one H×W×3 image, an N float32 array for a batch or list."""
        t, single = _as_uint8_batch(rgb, self.device)
        with torch.inference_mode():
            out = self._run(t, depth).cpu().numpy()
        return float(out[0]) if single else out

    def predict_scale(self, rgb: Any, depth: Any = None) -> Union[float, np.ndarray]:
        """Return s = exp(log s) clamped to the config's scale bounds (float or N array)."""
        log_s = np.asarray(self.predict_log_scale(rgb, depth), dtype=np.float64)
        lo, hi = self.cfg.log_scale_bounds
        s = np.exp(np.clip(log_s, lo, hi))
        return float(s) if s.ndim == 0 else s.astype(np.float32)


__all__: Sequence[str] = (
    'ScaleEstimate', 'ScaleNet', 'ScaleNetConfig', 'ScaleNetCheckpointError', 'ScalePredictor',
    'count_parameters', 'fuse_conv_bn', 'load_scale_net', 'preprocess_depth', 'preprocess_rgb',
    'depth_from_copy', 'relative_depth_copy', 'relative_log_depth', 'save_scale_net')
