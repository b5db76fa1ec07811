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
Losses of scale-network training beside the MSE on log s (torch tensors, natural logs).

* :func:`depth_grid_targets` and :func:`aux_depth_loss` — the auxiliary coarse-depth task;
* :func:`gaussian_nll` — the likelihood term that trains the variance head.
"""

import numpy as np
import torch
from torch import nn


def depth_grid_targets(grids: np.ndarray) -> torch.Tensor:
    """
    Return the N×2×h×w auxiliary targets of N×h×w coarse depth grids (metres, NaN invalid).

    Channel 0 is the natural-log depth times the validity mask, channel 1 the mask (1 valid,
    0 invalid); both survive flips, rotations and area pooling (see :func:`aux_depth_loss`).
    """
    g = np.asarray(grids, dtype=np.float32)
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(g) & (g > 0)
    log_d = np.log(np.where(ok, g, np.float32(1.0)))
    return torch.from_numpy(np.stack([log_d * ok, ok.astype(np.float32)], axis=1))


def aux_depth_loss(pred: torch.Tensor, targets: torch.Tensor,
                   min_valid: float = 0.5) -> torch.Tensor:
    """
    Masked MSE between predicted N×M×h×w log-depth maps and N×2×H×W targets.

    The targets (:func:`depth_grid_targets`, possibly augmented) are area-pooled to the h×w of
    the prediction; cells with less than ``min_valid`` valid area are ignored. Each of the M
    ensemble members is compared with the same target; returns the mean over valid cells and
    members (0 when nothing is valid).
    """
    h, w = pred.shape[-2:]
    pooled = nn.functional.adaptive_avg_pool2d(targets, (h, w))
    mass = pooled[:, 1:2]
    target = pooled[:, 0:1] / mass.clamp_min(1e-6)
    ok = (mass >= min_valid).to(pred.dtype)
    err = (pred - target) ** 2 * ok
    return err.sum() / (ok.sum() * pred.shape[1]).clamp_min(1.0)


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """
    Return the mean Gaussian negative log-likelihood of N targets under N×M predictions.

    ``mean`` and ``log_var`` are N×M (log s and the log-variance of log s); pass a detached
    ``mean`` so this term trains only the variance (the mean keeps its plain MSE).
    """
    err2 = (target.unsqueeze(1) - mean) ** 2
    return 0.5 * (err2 * torch.exp(-log_var) + log_var).mean()
