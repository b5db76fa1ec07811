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
What the scale network trains on: the hold-out split, recording weights, inputs, augmentation.

* :func:`split_indices` — the seeded training / validation split of an oracle's kept rows, by
  frame or by whole recording (:func:`adaptive_depth.sample.recording_of`: the sample name up
  to its last ``/``);
* :func:`recording_weights` — sampling weights that give every recording the same share;
* :func:`preprocess_all` — N×H×W×3 uint8 images to the N×C×h×w network inputs, in chunks;
* :class:`Augmenter` — augmentation of those inputs that preserves the apparent scale of the
  scene: horizontal flips, a small brightness / contrast jitter and, optionally, small
  in-plane rotations about the image centre (a camera roll, which leaves every depth
  unchanged) and random permutations of the RGB channels (colour carries no scale). Aligned
  target maps move with the image.

Never crops or zoom: they change the visible room, the cue the network learns. Even with the
oracle recomputed for each crop, training on crops lost accuracy on new recordings
(docs/scale_net.md, *Session 10*).
"""

import math
from typing import List, Optional, Sequence, Tuple

from adaptive_depth import scale_net as sn
from adaptive_depth.errors import TrainingError
from adaptive_depth.sample import recording_of
import numpy as np
import torch
from torch import nn


def split_indices(n_samples: int, kept: np.ndarray, val_fraction: float, seed: int,
                  names: Optional[Sequence[str]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return sorted (train, validation) row indices: a seeded split of the kept rows.

    Without ``names`` single rows are held out: ``round(val_fraction · n_kept)`` of them (at least
    one when ``val_fraction > 0`` and two or more samples are kept). With ``names`` whole
    recordings (:func:`recording_of`) are held out: in a seeded order, each recording joins the
    validation part when that brings its size closer to ``val_fraction · n_kept``; at least one
    recording is held out and at least one trains. At least one kept sample always stays in
    training.

    :raises TrainingError: when nothing is kept, or a split by recording finds fewer than two
        recordings among the kept rows.
    """
    kept_rows = np.flatnonzero(np.asarray(kept, dtype=bool))
    if kept_rows.size == 0:
        raise TrainingError(f'no kept sample among the {n_samples} oracle rows: nothing to train')
    rng = np.random.default_rng(seed)
    if names is not None and val_fraction > 0:
        val = _recordings_held_out(kept_rows, [recording_of(str(names[i])) for i in kept_rows],
                                   val_fraction * kept_rows.size, rng)
        return np.setdiff1d(kept_rows, val), val
    order = rng.permutation(kept_rows.size)
    n_val = int(round(val_fraction * kept_rows.size))
    if val_fraction > 0 and kept_rows.size >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, kept_rows.size - 1)
    val = np.sort(kept_rows[order[:n_val]])
    train = np.sort(kept_rows[order[n_val:]])
    return train, val


def recording_weights(names: Sequence[str]) -> torch.Tensor:
    """Return N float64 sampling weights, 1 / (frames of the sample's recording), summing to 1."""
    _, inverse, counts = np.unique([recording_of(str(n)) for n in names], return_inverse=True,
                                   return_counts=True)
    weights = 1.0 / counts[inverse]
    return torch.from_numpy(weights / weights.sum())


def _recordings_held_out(rows: np.ndarray, recordings: List[str], target: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Return the sorted rows of the recordings held out for ``target`` validation rows."""
    groups, inverse, sizes = np.unique(recordings, return_inverse=True, return_counts=True)
    if groups.size < 2:
        raise TrainingError(
            f"val_split 'recording' needs two or more recordings among the kept samples, found "
            f"{groups.size} ({', '.join(repr(str(g)) for g in groups[:3])}); split by frame "
            "(val_split 'frame') or add a recording")
    held = np.zeros(groups.size, dtype=bool)
    n_val = 0
    for g in rng.permutation(groups.size):
        if abs(n_val + sizes[g] - target) < abs(n_val - target) and (~held).sum() > 1:
            held[g] = True
            n_val += int(sizes[g])
    if not held.any():   # every recording alone overshoots: hold out the one nearest the target
        held[int(np.argmin(np.abs(sizes - target)))] = True
    return np.sort(rows[held[inverse]])


def preprocess_all(images: np.ndarray, net_cfg: 'sn.ScaleNetConfig', device: torch.device,
                   chunk: int = 64, progress: bool = False,
                   relative_depths: Optional[np.ndarray] = None) -> torch.Tensor:
    """
    Return the N×C×h×w float32 network inputs of N×H×W×3 uint8 ``images``.

    Chunks of ``chunk`` images go through :func:`preprocess_rgb` so the float copy of the
    full-size images never exists at once. A ``depth_input`` network (C = 4) also needs the
    N×H'×W' ``relative_depths`` training copies (:func:`scale_net.relative_depth_copy`).
    """
    if net_cfg.depth_input and relative_depths is None:
        raise TrainingError('this network reads the base model depth (depth_input) but the '
                            'training data hold no relative depth copies')
    from tqdm.auto import tqdm

    n = int(images.shape[0])
    parts: List[torch.Tensor] = []
    for start in tqdm(range(0, n, chunk), desc='preprocess', disable=not progress,
                      unit='chunk', leave=False):
        batch = np.ascontiguousarray(images[start:start + chunk])
        x = sn.preprocess_rgb(batch, net_cfg, device).float()
        if net_cfg.depth_input:
            depth = sn.depth_from_copy(relative_depths[start:start + chunk])
            x = torch.cat([x, sn.preprocess_depth(depth, net_cfg, device)], 1)
        parts.append(x)
    return torch.cat(parts, 0)


class Augmenter:
    """
    Scale-preserving augmentation of normalised N×C×h×w batches (flip, colour, roll).

    Colour jitter and channel shuffles change the RGB channels only; flips and rolls move a
    depth channel (``depth_input``) with the image.
    """

    def __init__(self, net_cfg: 'sn.ScaleNetConfig', flip: bool, jitter: float,
                 device: torch.device, rotate_deg: float = 0.0,
                 channel_shuffle: bool = False) -> None:
        self.flip = flip
        self.jitter = float(jitter)
        self.rotate = math.radians(float(rotate_deg))
        self.shuffle = bool(channel_shuffle)
        mean = torch.as_tensor(np.asarray(getattr(net_cfg, 'mean', (0.0, 0.0, 0.0))),
                               dtype=torch.float32, device=device)
        std = torch.as_tensor(np.asarray(getattr(net_cfg, 'std', (1.0, 1.0, 1.0))),
                              dtype=torch.float32, device=device)
        self.mean = mean.view(1, 3, 1, 1)
        self.std = std.view(1, 3, 1, 1)

    def with_maps(self, x: torch.Tensor, gen: torch.Generator,
                  maps: Optional[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """
        Augment ``x`` and apply the same flips and rolls to the N×C×h'×w' ``maps``.

        ``maps`` are per-image target maps aligned with the images (any resolution), e.g. the
        coarse log depth times its validity mask and the mask itself: they are flipped and
        rotated like the image, with zeros (invalid) outside the rotated frame.
        """
        n = x.shape[0]
        # Random numbers are always drawn (on the CPU generator) so that the RNG stream, and
        # thus the batch order of later epochs, does not depend on the augmentation switches.
        flips = torch.rand(n, generator=gen) < 0.5
        factors = (torch.rand(n, 2, generator=gen) * 2.0 - 1.0) * self.jitter
        angles = (torch.rand(n, generator=gen) * 2.0 - 1.0) * self.rotate
        perms = torch.argsort(torch.rand(n, 3, generator=gen), dim=1)
        if self.flip and bool(flips.any()):
            x = x.clone()
            idx = flips.nonzero().squeeze(1).to(x.device)
            x[idx] = torch.flip(x[idx], dims=(3,))
            if maps is not None:
                maps = maps.clone()
                maps[idx] = torch.flip(maps[idx], dims=(3,))
        rgb, extra = x[:, :3], x[:, 3:]
        if self.jitter > 0:
            factors = factors.to(x.device)
            brightness = (1.0 + factors[:, 0]).view(n, 1, 1, 1)
            contrast = (1.0 + factors[:, 1]).view(n, 1, 1, 1)
            raw = rgb * self.std + self.mean
            grey = raw.mean(dim=(1, 2, 3), keepdim=True)
            raw = ((raw - grey) * contrast + grey) * brightness
            rgb = (raw - self.mean) / self.std
        if self.shuffle:
            rgb = torch.gather(rgb, 1, perms.to(x.device).view(n, 3, 1, 1).expand_as(rgb))
        if self.jitter > 0 or self.shuffle:
            x = torch.cat([rgb, extra], dim=1) if extra.shape[1] else rgb
        if self.rotate > 0:
            x = rotate_images(x, angles.to(x.device))
            if maps is not None:
                maps = rotate_images(maps, angles.to(maps.device), padding_mode='zeros')
        return x, maps


def rotate_images(x: torch.Tensor, angles: torch.Tensor,
                  padding_mode: str = 'border') -> torch.Tensor:
    """Rotate each N×C×h×w image by its angle (radians) about the centre (``padding_mode``)."""
    n, _, h, w = x.shape
    cos, sin = torch.cos(angles), torch.sin(angles)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    # affine_grid works in normalised [-1, 1] coordinates: correct for the aspect ratio.
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * h / w
    theta[:, 1, 0] = sin * w / h
    theta[:, 1, 1] = cos
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, mode='bilinear', padding_mode=padding_mode,
                                     align_corners=False)
