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
A scale head on Depth Anything V2's own encoder features (no second image network).

The depth forward already computes DINOv2 tokens; :meth:`DepthAnythingRunner.forward_with_features`
returns the CLS token and the mean patch token of the last feature map the depth head reads
(N×2C). :class:`FeatureScaleHead` maps them to log s and the log-variance of log s:
LayerNorm(2C) → Linear(2C, hidden) → GELU → Dropout → Linear(hidden, 2). It trains in
seconds from cached features (:func:`train_feature_head`, MSE on log s plus a Gaussian NLL for
the variance) and is saved like the scale network (``model.safetensors`` + ``config.json``).

NOT YET MEASURED FOR ACCURACY: without the real DA2 weights (unreachable here) the features of
the tiny or untrained DA2-Small carry no scene information; only that it runs, trains, saves,
loads and what it costs are checked (tests, benchmarks/bench_scale_net.py).
"""

from dataclasses import asdict, dataclass, field
import json
import math
from pathlib import Path
from typing import Any, Dict, Sequence, Tuple, Union

from adaptive_depth.scale_net import (CONFIG_NAME, MAX_LOG_VAR, MIN_LOG_VAR,
                                      ScaleNetCheckpointError, WEIGHTS_NAME)
from adaptive_depth.scale_source import ScaleEstimate
import numpy as np
import torch
from torch import nn

KIND = 'da2_feature_head'


@dataclass
class FeatureHeadConfig:
    """
    Shape and provenance of a :class:`FeatureScaleHead`.

    ``feature_dim`` is 2C (CLS ‖ mean patch token of a DINOv2 of width C); ``hidden`` the hidden
    width; ``log_scale_bounds`` the natural-log bounds of s; ``base_model`` the DA2 model whose
    features it reads (features of another model are meaningless to it).
    """

    feature_dim: int
    hidden: int = 256
    dropout: float = 0.1
    log_scale_bounds: Tuple[float, float] = (math.log(0.1), math.log(2.0))
    base_model: str = ''
    metadata: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.feature_dim = int(self.feature_dim)
        self.hidden = int(self.hidden)
        self.log_scale_bounds = tuple(float(v) for v in self.log_scale_bounds)
        if self.feature_dim <= 0 or self.hidden <= 0 or not 0 <= self.dropout < 1:
            raise ValueError(f'bad feature head config: feature_dim {self.feature_dim}, hidden '
                             f'{self.hidden}, dropout {self.dropout}')


class FeatureScaleHead(nn.Module):
    """N×2C DA2 encoder features → N×2 (log s, log-variance of log s)."""

    def __init__(self, config: FeatureHeadConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.LayerNorm(config.feature_dim),
                                 nn.Linear(config.feature_dim, config.hidden), nn.GELU(),
                                 nn.Dropout(config.dropout), nn.Linear(config.hidden, 2))
        nn.init.normal_(self.net[-1].weight, std=1e-3)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return N×2: log s and its clamped log-variance."""
        if features.dim() != 2 or features.shape[1] != self.config.feature_dim:
            raise ValueError(f'expected N×{self.config.feature_dim} features, got '
                             f'{tuple(features.shape)}')
        out = self.net(features)
        return torch.cat([out[:, :1], out[:, 1:].clamp(MIN_LOG_VAR, MAX_LOG_VAR)], dim=1)

    def estimate(self, features: torch.Tensor) -> ScaleEstimate:
        """Return the :class:`ScaleEstimate` (N arrays) of N×2C features, in eval mode."""
        self.eval()
        with torch.inference_mode():
            out = self(features.to(next(self.parameters()).device).float()).cpu().numpy()
        lo, hi = self.config.log_scale_bounds
        log_s = out[:, 0].astype(np.float32)
        return ScaleEstimate(log_s, np.exp(0.5 * out[:, 1]).astype(np.float32),
                             np.exp(np.clip(log_s, lo, hi)).astype(np.float32))


def train_feature_head(features: np.ndarray, log_scales: np.ndarray,
                       config: FeatureHeadConfig, epochs: int = 200, lr: float = 1e-3,
                       weight_decay: float = 1e-4, batch_size: int = 64, seed: int = 0,
                       device: Union[str, torch.device] = 'cpu') -> FeatureScaleHead:
    """
    Train a head on cached N×2C ``features`` against N oracle ``log_scales``; return it (eval).

    AdamW with cosine decay; the log-s output starts at the mean target. Loss: MSE on log s
    plus 0.5 × Gaussian NLL of the (detached) error under the predicted variance.
    """
    x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=device)
    y = torch.as_tensor(np.asarray(log_scales, dtype=np.float32), device=device)
    if x.dim() != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f'need N×D features and N log-scales, got {tuple(x.shape)} and '
                         f'{tuple(y.shape)}')
    torch.manual_seed(seed)
    head = FeatureScaleHead(config).to(device)
    with torch.no_grad():
        head.net[-1].bias[0] = y.mean()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    for _ in range(int(epochs)):
        head.train()
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            idx = idx.to(x.device)
            out = head(x[idx])
            err2 = (out[:, 0] - y[idx]) ** 2
            nll = 0.5 * (err2.detach() * torch.exp(-out[:, 1]) + out[:, 1])
            loss = err2.mean() + 0.5 * nll.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    return head.eval()


def save_feature_head(directory: Union[str, Path], head: FeatureScaleHead) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (with ``kind``) into ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
              str(directory / WEIGHTS_NAME), metadata={'format': 'pt'})
    cfg = asdict(head.config)
    cfg['log_scale_bounds'] = list(cfg['log_scale_bounds'])
    (directory / CONFIG_NAME).write_text(json.dumps({'kind': KIND, **cfg}, indent=2))
    return directory


def load_feature_head(directory: Union[str, Path],
                      device: Union[str, torch.device] = 'cpu') -> FeatureScaleHead:
    """Load a head written by :func:`save_feature_head` (eval mode, on ``device``)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    try:
        data = json.loads((directory / CONFIG_NAME).read_text())
        if data.pop('kind', None) != KIND:
            raise ValueError(f'{directory / CONFIG_NAME} is not a DA2 feature-head config')
        head = FeatureScaleHead(FeatureHeadConfig(**data))
        head.load_state_dict(load_file(str(directory / WEIGHTS_NAME)), strict=True)
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise ScaleNetCheckpointError(f'cannot load DA2 feature head {str(directory)!r}: '
                                      f'{exc}') from exc
    return head.to(device).eval()


def extract_features(runner: Any, images: Sequence[np.ndarray], batch_size: int = 8
                     ) -> np.ndarray:
    """Return the N×2C encoder features of N same-size H×W×3 uint8 images (one DA2 forward)."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(images[start:start + batch_size])))
        _, feats = runner.predict_tensor(batch, return_features=True)
        out.append(feats.cpu().numpy())
    return np.concatenate(out).astype(np.float32)
