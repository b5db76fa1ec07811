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
Training of the scale network on an oracle dataset (Algorithm 2 of the paper), without ROS.

The network regresses the natural log of the oracle scale ``log s*`` of each image from the RGB
image alone.  Loss: mean squared error on ``log s``; optimiser: Adam; gradient clipping by global
norm; ``StepLR`` (the learning rate is multiplied by ``gamma`` every ``step_size`` epochs); a
seeded hold-out split (``val_fraction`` of the *kept* samples, by frame or by whole recording:
``val_split``) evaluated every ``val_every`` epochs and at the last epoch.  Only samples whose
``kept`` flag is set (the oracle's percentile filter) are used.

Output directory layout::

    out_dir/
      best/        model.safetensors + config.json of the lowest validation loss
                   (every saved network is the weight average when ``ema_decay`` > 0);
                   its ``std_scale`` is fitted on the validation split (fit_std_scale)
      last/        model.safetensors + config.json + training_state.pt (updated every epoch)
      checkpoints/epoch_NNNN/   periodic copies (every ``checkpoint_every`` epochs)
      history.json             per-epoch train loss, validation loss, learning rate, timings;
                               the fitted ``std_scale``
      split.json               names of the training and validation samples
      loss_curve.png           train / validation loss on a log axis (paper Fig. 2)

``training_state.pt`` holds only tensors, numbers and dicts (optimizer, scheduler, epoch, RNG
states; with a weight average also the raw weights) and is read back with
``torch.load(weights_only=True)``, so ``resume=True`` continues exactly where the last epoch
ended: an interrupted and resumed run reproduces the losses of an uninterrupted one.

The split, the recording weights, the network inputs and the scale-preserving augmentation
live in :mod:`adaptive_depth.training_data`, the auxiliary and likelihood losses in
:mod:`adaptive_depth.training_losses`. Images are the 240×320 copies of the oracle directory;
they are resized and normalised once (:func:`~adaptive_depth.training_data.preprocess_all`) and
kept in memory as one tensor.
"""

from dataclasses import asdict, dataclass, field, fields, replace
import hashlib
import json
import math
from pathlib import Path
import shutil
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from adaptive_depth import scale_net as sn
from adaptive_depth.depth_model import resolve_device
from adaptive_depth.errors import TrainingError
from adaptive_depth.io_helpers import atomic_write_json, json_safe
from adaptive_depth.oracle_dataset import DEPTH_GRID_NPY, OracleMeta, RELATIVE_DEPTH_NPY
from adaptive_depth.provenance import run_environment
from adaptive_depth.sample import recording_of
from adaptive_depth.training_data import (Augmenter, preprocess_all, recording_weights,
                                          split_indices)
from adaptive_depth.training_losses import aux_depth_loss, depth_grid_targets, gaussian_nll
import numpy as np
import torch
from torch import nn

STATE_FILE = 'training_state.pt'
"""Name of the resumable optimiser / scheduler / RNG state inside ``last/``."""

HISTORY_FILE = 'history.json'
SPLIT_FILE = 'split.json'
VAL_SPLITS = ('frame', 'recording')
LOSS_CURVE_FILE = 'loss_curve.png'
MIN_STD_FIT_ROWS = 8
"""Fewest validation rows :func:`fit_std_scale` is run on (fewer: the std stays as it is)."""


@dataclass
class TrainConfig:
    """
    Hyper-parameters of :func:`train_scale_net` (defaults follow the paper's Algorithm 2).

    :ivar epochs: total number of epochs (a resumed run trains until this epoch).
    :ivar batch_size: images per optimisation step.
    :ivar lr: Adam learning rate at epoch 1.
    :ivar grad_clip: maximum global gradient norm (``<= 0`` disables clipping).
    :ivar step_size: StepLR period in epochs.
    :ivar gamma: StepLR multiplicative decay (0.5 halves the rate every ``step_size`` epochs).
    :ivar weight_decay: Adam weight decay (L2), 0 in the paper.
    :ivar val_fraction: fraction of the kept samples held out for validation (seeded split).
    :ivar val_split: ``'frame'`` holds out single samples; ``'recording'`` holds out whole
        recordings (the sample name up to its last ``/``, e.g. ``sun3d_office/run1``), so that
        validation, checkpoint selection and the std calibration see no near-duplicate of a
        training frame (see :func:`split_indices`).
    :ivar balance_recordings: draw each epoch's samples (with replacement) so that every
        recording (:func:`recording_of`) weighs the same, however many frames it has; False
        visits every training sample once per epoch.
    :ivar val_every: validate every this many epochs (and always at the last epoch).
    :ivar checkpoint_every: keep a copy of the model every this many epochs (0 disables).
    :ivar seed: seed of the split, the initial weights, the batch order and the augmentation.
    :ivar device: ``'auto'`` (CUDA if available), ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...
    :ivar augment_flip: random horizontal flips (probability 0.5).
    :ivar color_jitter: maximum relative brightness and contrast change (0 disables), e.g. 0.1.
    :ivar rotate_deg: maximum in-plane rotation in degrees (uniform in ``±rotate_deg``, border
        pixels replicated; 0 disables). A roll about the optical axis keeps every depth.
    :ivar channel_shuffle: randomly permute the R, G, B channels of each training image.
    :ivar aux_depth_weight: weight of the auxiliary coarse-depth loss (0 disables it: the paper's
        plain MSE on log s). With a weight > 0 the network gets a training-only head on conv
        block ``net_options['aux_depth_block']`` (default: the second-to-last block) that
        regresses the oracle directory's coarse ground-truth log depth (``depth_grid.npy``); the
        loss is ``MSE(log s) + aux_depth_weight · masked MSE(log depth)``. The dense target gives
        the few hundred training images far more supervision about the scene's metric size;
        model selection still uses the validation MSE on log s alone.
    :ivar input_size: network input ``(height, width)`` in pixels; None keeps the
        :class:`ScaleNetConfig` default.
    :ivar net_options: extra :class:`ScaleNetConfig` fields (e.g. ``channels``, ``fc``).
    :ivar deterministic: ask torch for deterministic kernels (slower on GPU).
    :ivar optimizer: ``'adam'`` (the paper) or ``'adamw'`` (decoupled weight decay).
    :ivar schedule: ``'step'`` (StepLR, the paper) or ``'cosine'`` (cosine decay to 0 over
        ``epochs``).
    :ivar backbone_lr: learning rate of a pretrained backbone's trainable blocks (None: ``lr``);
        the head always trains at ``lr``.
    :ivar init_head_bias: start the log-s output at the mean training log s* (instead of 0), so
        early epochs do not spend their steps on the offset.
    :ivar pretrained: initialise a non-scratch backbone with its ImageNet weights (from the
        installed weights package); False trains it from random weights.
    :ivar variance_weight: weight of the Gaussian negative log-likelihood that trains the
        variance head (``net_options['predict_variance']``); the mean still trains on MSE.
    :ivar amp: bfloat16 autocast on CUDA (``'auto'``: on for CUDA, off on CPU; ``'off'``).
    :ivar ema_decay: keep an exponential moving average of the weights and BatchNorm statistics
        (Polyak averaging) with this decay per optimisation step, and validate, select and save
        the *averaged* network (0 disables: the paper's last weights). The effective decay ramps
        up as ``min(ema_decay, (1 + t) / (10 + t))`` after ``t`` steps, so early averages are
        not dominated by the initial weights.
    """

    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    grad_clip: float = 1.0
    step_size: int = 10
    gamma: float = 0.5
    weight_decay: float = 0.0
    val_fraction: float = 0.2
    val_split: str = 'frame'
    balance_recordings: bool = False
    val_every: int = 5
    checkpoint_every: int = 10
    seed: int = 0
    device: str = 'auto'
    augment_flip: bool = True
    color_jitter: float = 0.1
    rotate_deg: float = 0.0
    channel_shuffle: bool = False
    aux_depth_weight: float = 0.0
    input_size: Optional[Tuple[int, int]] = None
    net_options: Dict[str, Any] = field(default_factory=dict)
    deterministic: bool = True
    optimizer: str = 'adam'
    schedule: str = 'step'
    backbone_lr: Optional[float] = None
    init_head_bias: bool = False
    pretrained: bool = True
    variance_weight: float = 0.5
    amp: str = 'auto'
    ema_decay: float = 0.0

    def validate(self) -> None:
        """Raise :class:`TrainingError` naming the first unusable value."""
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise TrainingError(message)

        need(_whole(self.epochs) and self.epochs >= 1,
             f'epochs must be an integer >= 1, got {self.epochs}')
        need(_whole(self.batch_size) and self.batch_size >= 1,
             f'batch_size must be an integer >= 1, got {self.batch_size}')
        need(math.isfinite(self.lr) and self.lr > 0, f'lr must be > 0, got {self.lr}')
        need(math.isfinite(self.grad_clip), f'grad_clip must be finite, got {self.grad_clip}')
        need(_whole(self.step_size) and self.step_size >= 1,
             f'step_size must be an integer >= 1, got {self.step_size}')
        need(0 < self.gamma <= 1, f'gamma must be in (0, 1], got {self.gamma}')
        need(self.weight_decay >= 0, f'weight_decay must be >= 0, got {self.weight_decay}')
        need(0 <= self.val_fraction < 1,
             f'val_fraction must be in [0, 1), got {self.val_fraction}')
        need(self.val_split in VAL_SPLITS,
             f'val_split must be one of {", ".join(VAL_SPLITS)}, got {self.val_split!r}')
        need(_whole(self.val_every) and self.val_every >= 1,
             f'val_every must be an integer >= 1, got {self.val_every}')
        need(_whole(self.checkpoint_every) and self.checkpoint_every >= 0,
             f'checkpoint_every must be an integer >= 0, got {self.checkpoint_every}')
        need(0 <= self.color_jitter < 1,
             f'color_jitter must be in [0, 1), got {self.color_jitter}')
        need(math.isfinite(self.rotate_deg) and 0 <= self.rotate_deg <= 45,
             f'rotate_deg must be in [0, 45], got {self.rotate_deg}')
        need(math.isfinite(self.aux_depth_weight) and self.aux_depth_weight >= 0,
             f'aux_depth_weight must be finite and >= 0, got {self.aux_depth_weight}')
        need(self.optimizer in ('adam', 'adamw'),
             f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        need(self.schedule in ('step', 'cosine'),
             f"schedule must be 'step' or 'cosine', got {self.schedule!r}")
        need(self.backbone_lr is None or (math.isfinite(self.backbone_lr)
                                          and self.backbone_lr > 0),
             f'backbone_lr must be > 0, got {self.backbone_lr}')
        need(math.isfinite(self.variance_weight) and self.variance_weight >= 0,
             f'variance_weight must be finite and >= 0, got {self.variance_weight}')
        need(self.amp in ('auto', 'off'), f"amp must be 'auto' or 'off', got {self.amp!r}")
        need(math.isfinite(self.ema_decay) and 0 <= self.ema_decay < 1,
             f'ema_decay must be in [0, 1), got {self.ema_decay}')
        if self.input_size is not None:
            size = tuple(int(v) for v in self.input_size)
            need(len(size) == 2 and min(size) >= 16,
                 f'input_size must be (height, width) with both >= 16, got {self.input_size}')


@dataclass
class TrainResult:
    """
    Outcome of :func:`train_scale_net`.

    :ivar out_dir: the training directory.
    :ivar best_dir: checkpoint directory with the lowest validation loss (``out_dir/best``).
    :ivar last_dir: checkpoint directory of the last epoch (``out_dir/last``).
    :ivar history: per-epoch records (``epoch``, ``lr``, ``train_loss`` (MSE on log s),
        ``val_loss`` or None, ``seconds``, and ``train_aux_depth_loss`` when the auxiliary depth
        loss is on).
    :ivar best_epoch: epoch of ``best_dir`` (1-based).
    :ivar best_val_loss: its validation loss (MSE on log s), or the training loss when there is
        no validation split.
    :ivar train_names: names of the training samples; ``val_names`` those held out.
    :ivar seconds: wall time of this call in seconds.
    :ivar std_scale: the std multiplier fitted on the validation split and saved in
        ``best_dir`` (:func:`fit_std_scale`), or None (no validation split, or no std).
    """

    out_dir: Path
    best_dir: Path
    last_dir: Path
    history: List[Dict[str, Any]]
    best_epoch: int
    best_val_loss: float
    train_names: List[str]
    val_names: List[str]
    seconds: float
    std_scale: Optional[float] = None


def _check_oracle(oracle: Any) -> None:
    for attr in ('names', 'log_scales', 'kept', 'images'):
        if not hasattr(oracle, attr):
            raise TrainingError(f'oracle data has no {attr!r} attribute (expected OracleData)')
    images = np.asarray(oracle.images) if not torch.is_tensor(oracle.images) else oracle.images
    n = len(oracle.names)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != n:
        raise TrainingError(f'oracle images must be N×H×W×3 with N = {n} rows, '
                            f'got shape {tuple(images.shape)}')
    if images.dtype != np.uint8 and images.dtype != torch.uint8:
        raise TrainingError(f'oracle images must be uint8, got {images.dtype}')
    log_s = np.asarray(oracle.log_scales, dtype=np.float64)
    if log_s.shape != (n,):
        raise TrainingError(f'oracle log_scales must have {n} values, got shape {log_s.shape}')
    kept = np.asarray(oracle.kept, dtype=bool)
    if kept.shape != (n,):
        raise TrainingError(f'oracle kept flags must have {n} values, got shape {kept.shape}')
    if not np.isfinite(log_s[kept]).all():
        raise TrainingError('oracle log_scales of kept samples must be finite')


def is_simulated(meta: Optional[Dict[str, Any]]) -> bool:
    """Return True if the oracle record (``oracle.json``) says the base model is simulated."""
    return OracleMeta.from_dict(dict(meta or {})).simulated


def check_recipe(cfg: TrainConfig) -> None:
    """
    Raise :class:`TrainingError` for a bad setting or network option of ``cfg``, naming it.

    For tools that prepare data for minutes before training: the settings and the network they
    describe are checked at once, as training would check them (no oracle is needed).
    """
    cfg.validate()
    make_scale_net_config(cfg, None, torch.device('cpu'))


def make_scale_net_config(cfg: TrainConfig, oracle: Any,
                          device: Optional[torch.device] = None) -> 'sn.ScaleNetConfig':
    """
    Return the :class:`ScaleNetConfig` for training ``oracle`` with ``cfg`` on ``device``.

    Its ``metadata`` records the oracle's dataset, the training settings (``trained_with``) and
    the software, torch threads and device the run depends on (``environment``,
    :func:`adaptive_depth.provenance.run_environment`).
    """
    meta = dict(getattr(oracle, 'meta', {}) or {})
    kwargs: Dict[str, Any] = dict(cfg.net_options)
    if cfg.input_size is not None:
        kwargs['input_size'] = tuple(int(v) for v in cfg.input_size)
    valid = {f.name for f in fields(sn.ScaleNetConfig)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise TrainingError(f'unknown ScaleNetConfig option(s) {unknown}; '
                            f'known: {sorted(valid)}')
    if cfg.aux_depth_weight > 0:
        n_blocks = len(kwargs.get('channels', sn.ScaleNetConfig.channels))
        if kwargs.get('backbone', 'scratch') != 'scratch':
            n_blocks = 2   # a pretrained body: the head reads its output feature map (block 1)
        kwargs.setdefault('aux_depth_block', max(n_blocks - 1, 1))
        if not kwargs['aux_depth_block']:
            raise TrainingError('aux_depth_weight > 0 needs an auxiliary depth head: '
                                'aux_depth_block must be a conv block number, not 0')
    base_name = OracleMeta.from_dict(meta).base_model_name
    if 'base_model' in valid and base_name != 'unknown' and 'base_model' not in kwargs:
        kwargs['base_model'] = base_name
    if 'metadata' in valid:
        extra = dict(kwargs.get('metadata') or {})
        extra.setdefault('simulated_base_model', is_simulated(meta))
        if meta.get('dataset') is not None:
            extra.setdefault('dataset', meta.get('dataset'))
        extra.setdefault('trained_with', {k: v for k, v in asdict(cfg).items()
                                          if k not in ('net_options',)})
        extra.setdefault('environment', run_environment(device))
        kwargs['metadata'] = json_safe(extra)
    try:
        return sn.ScaleNetConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f'invalid scale network options: {exc}') from exc


def _init_aux_bias(model: nn.Module, targets: torch.Tensor) -> None:
    """Start every auxiliary depth head at the mean training log depth (faster early epochs)."""
    mass = float(targets[:, 1].sum())
    mean_log = float(targets[:, 0].sum()) / mass if mass > 0 else 0.0
    heads = [m.aux_depth for m in model.modules()
             if isinstance(m, sn.ScaleNet) and m.aux_depth is not None]
    with torch.no_grad():
        for head in heads:
            head[-1].bias.fill_(mean_log)


def _single_nets(model: 'sn.ScaleNet') -> List['sn.ScaleNet']:
    return list(model.members) if model.members is not None else [model]


def _apply_finetune(model: 'sn.ScaleNet') -> List[nn.Module]:
    """Freeze what the fine-tuning policy keeps fixed; return the frozen backbone modules."""
    frozen: List[nn.Module] = []
    for net in _single_nets(model):
        if net.config.backbone == 'scratch':
            continue
        trainable = net.features.trainable_modules(net.config.finetune)
        train_ids = {id(p) for m in trainable for p in m.parameters()}
        for p in net.features.parameters():
            p.requires_grad_(id(p) in train_ids)
        if net.config.finetune != 'full':
            keep = {id(m) for t in trainable for m in t.modules()}
            frozen += [m for m in net.features.modules()
                       if isinstance(m, nn.BatchNorm2d) and id(m) not in keep]
    return frozen


def _train_mode(model: nn.Module, frozen: Sequence[nn.Module]) -> None:
    """Training mode, except frozen BatchNorm layers (their running statistics stay fixed)."""
    model.train()
    for m in frozen:
        m.eval()


def _make_optimizer(model: 'sn.ScaleNet', cfg: TrainConfig) -> torch.optim.Optimizer:
    body, rest = [], []
    for net in _single_nets(model):
        body_ids = set()
        if net.config.backbone != 'scratch':
            body_ids = {id(p) for p in net.features.parameters()}
        for p in net.parameters():
            if p.requires_grad:
                (body if id(p) in body_ids else rest).append(p)
    groups = []
    if body:
        groups.append({'params': body, 'lr': cfg.backbone_lr or cfg.lr})
    groups.append({'params': rest, 'lr': cfg.lr})
    cls = torch.optim.AdamW if cfg.optimizer == 'adamw' else torch.optim.Adam
    return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _init_head_bias(model: 'sn.ScaleNet', mean_log_scale: float) -> None:
    with torch.no_grad():
        for net in _single_nets(model):
            net.head[-1].bias[0] = mean_log_scale


def _autocast_factory(cfg: TrainConfig, device: torch.device):
    import contextlib

    if cfg.amp == 'auto' and device.type == 'cuda':
        return lambda: torch.autocast('cuda', dtype=torch.bfloat16)
    return contextlib.nullcontext


def _evaluate_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                   batch_size: int) -> float:
    """Return the mean squared error on log s over all rows (no augmentation, eval mode)."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            pred = model(inputs[start:start + batch_size]).reshape(-1)
            total += float(((pred - targets[start:start + batch_size]) ** 2).sum())
    return total / max(int(inputs.shape[0]), 1)


def _save_checkpoint(directory: Path, model: nn.Module, net_cfg: 'sn.ScaleNetConfig') -> None:
    """Write model.safetensors + config.json to ``directory`` atomically (tmp dir + rename)."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + '.tmp')
    if tmp.exists():
        shutil.rmtree(tmp)
    sn.save_scale_net(tmp, model, net_cfg)
    if directory.exists():
        # keep a training_state.pt written in the same epoch (last/) – it is re-written anyway
        shutil.rmtree(directory)
    tmp.rename(directory)


class WeightAverage:
    """
    Exponential moving average of a network's weights and buffers (Polyak averaging).

    ``model`` is a frozen copy in eval mode; :meth:`update` moves every floating-point tensor of
    its state dict toward the training network's (BatchNorm running statistics included) and
    copies integer buffers (``num_batches_tracked``).
    """

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.decay = float(decay)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """Return the decay the next update uses (ramped up over the first steps)."""
        t = self.updates + 1
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Average one more step of ``model`` (same architecture) into :attr:`model`."""
        weight = 1.0 - self.current_decay()
        current = model.state_dict()
        for name, avg in self.model.state_dict().items():
            if avg.dtype.is_floating_point:
                avg.lerp_(current[name].to(avg.dtype), weight)
            else:
                avg.copy_(current[name])
        self.updates += 1


def _selection_rule(has_validation: bool, averaged: bool) -> str:
    """
    Return how ``best/`` is chosen.

    ``'val_loss'`` with a hold-out; without one ``'train_loss'`` (the epoch of the lowest
    training loss), or ``'last_epoch'`` for a weight average, whose own loss is never computed
    during training (the average is the selection).
    """
    if has_validation:
        return 'val_loss'
    return 'last_epoch' if averaged else 'train_loss'


def _rng_state(gen: torch.Generator) -> Dict[str, torch.Tensor]:
    state = {'generator': gen.get_state(), 'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.stack(list(torch.cuda.get_rng_state_all())) \
            if torch.cuda.device_count() else torch.zeros(0, dtype=torch.uint8)
    return state


def _restore_rng(state: Dict[str, torch.Tensor], gen: torch.Generator) -> None:
    gen.set_state(state['generator'])
    torch.set_rng_state(state['torch'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and cuda.numel():
        torch.cuda.set_rng_state_all(list(cuda))


def plot_history(history: Sequence[Dict[str, Any]], path: Union[str, Path],
                 title: str = 'Scale network training') -> Path:
    """
    Write the training / validation loss curves (MSE on log s, log y axis) as a PNG.

    This is the paper's Fig. 2.  Uses :func:`adaptive_depth.visualize.plot_loss_curves` when it is
    available and falls back to a plain matplotlib plot.
    """
    path = Path(path)
    epochs = [int(h['epoch']) for h in history]
    train = [float(h['train_loss']) for h in history]
    val_e = [int(h['epoch']) for h in history if h.get('val_loss') is not None]
    val = [float(h['val_loss']) for h in history if h.get('val_loss') is not None]
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    aux = [(int(h['epoch']), float(h['train_aux_depth_loss'])) for h in history
           if h.get('train_aux_depth_loss') is not None]
    what = ' (MSE on log s)' if aux else ''
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(epochs, train, label='train' + what, color='tab:blue')
    if val:
        ax.plot(val_e, val, 'o-', label='validation' + what, color='tab:orange')
    if aux:
        ax.plot([e for e, _ in aux], [v for _, v in aux], '--', color='tab:green',
                label='train auxiliary depth (MSE on log depth)')
    ax.set_yscale('log')
    ax.set_xlabel('epoch')
    ax.set_ylabel('MSE' if aux else 'MSE on log s')
    ax.set_title(title)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def train_scale_net(oracle: Any, cfg: Optional[TrainConfig], out_dir: Union[str, Path],
                    resume: bool = False, progress: bool = True) -> TrainResult:
    """
    Train a :class:`ScaleNet` on an oracle dataset and write checkpoints to ``out_dir``.

    :param oracle: :class:`adaptive_depth.oracle_dataset.OracleData` (or any object with
        ``names`` (N), ``log_scales`` (N float), ``kept`` (N bool), ``images`` (N×H×W×3 uint8)
        and ``meta`` (dict)).
    :param cfg: hyper-parameters; None uses :class:`TrainConfig` defaults.
    :param out_dir: output directory (created); see the module docstring for its layout.
    :param resume: continue from ``out_dir/last/training_state.pt`` until ``cfg.epochs``.  The
        split seed, input size and network options must match the interrupted run.
    :param progress: show tqdm progress bars.
    :returns: :class:`TrainResult`.
    :raises TrainingError: (a ValueError) for bad configuration or data;
        FileNotFoundError when ``resume`` finds no saved state.
    """
    started = time.perf_counter()
    cfg = cfg or TrainConfig()
    cfg.validate()
    _check_oracle(oracle)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        device = resolve_device(cfg.device)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        return _train(oracle, cfg, out_dir, resume, progress, device, started)
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous[2]


def fit_std_scale(log_scales: np.ndarray, log_scale_std: np.ndarray,
                  oracle_log_scales: np.ndarray) -> Optional[float]:
    """
    Return the factor that makes a predicted std of log s match the errors on held-out rows.

    Temperature scaling of a regression uncertainty: with z = (log s − log s*) / std over the N
    rows, the factor is sqrt(mean z²), so the rescaled std has the errors' size on average and
    ranks the rows as before. A variance head trained on training residuals is too sure on new
    images; only rows the network did not train on show by how much.

    :param log_scales: N predicted log s; ``log_scale_std`` their N std *before* any
        ``std_scale``; ``oracle_log_scales`` the N oracle log s* (natural logs).
    :returns: the factor, or None when a row has no uncertainty (std 0: the network has no
        variance head, ensemble or flip averaging) or there are no rows.
    """
    std = np.asarray(log_scale_std, dtype=np.float64)
    if not std.size or not (std > 0).all():
        return None
    z = (np.asarray(log_scales, dtype=np.float64)
         - np.asarray(oracle_log_scales, dtype=np.float64)) / std
    return float(np.sqrt(np.mean(z ** 2)))


def _calibrate_best(best_dir: Path, images: np.ndarray, log_scales: np.ndarray,
                    relative_depths: Optional[np.ndarray], device: torch.device
                    ) -> Optional[float]:
    """Fit ``std_scale`` of the checkpoint in ``best_dir`` on held-out rows and save it."""
    model, net_cfg = sn.load_scale_net(best_dir, device)
    own = sn.ScalePredictor(model, replace(net_cfg, std_scale=1.0), device)  # the net's own std
    factor = fit_std_scale(*own.estimate_copies(images, relative_depths), log_scales)
    if factor is not None:
        _save_checkpoint(best_dir, model, replace(net_cfg, std_scale=factor))
    return factor


def _oracle_array(oracle: Any, attr: str, file_name: str, since: str, need: str,
                  instead: str) -> np.ndarray:
    """Return the optional oracle array ``attr``, or stop naming the file to regenerate."""
    value = getattr(oracle, attr, None)
    if value is None:
        where = getattr(oracle, 'path', None) or 'the oracle data'
        raise TrainingError(f'{need}, but {where} has no {file_name} (written by '
                            f'generate_oracle from version {since} on): regenerate the oracle '
                            f'directory or {instead}')
    return np.asarray(value)


def _whole(value: Any) -> bool:
    """Return whether ``value`` is a whole number (an int, or a float such as 3.0; no bool)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _oracle_fingerprint(oracle: Any) -> str:
    """Return the SHA-1 (hex) of an oracle's sample names and log scales, in order."""
    rows = (f'{name}\t{float(v):.17g}' for name, v in zip(oracle.names, oracle.log_scales))
    return hashlib.sha1('\n'.join(rows).encode('utf-8')).hexdigest()


def _train(oracle: Any, cfg: TrainConfig, out_dir: Path, resume: bool, progress: bool,
           device: torch.device, started: float) -> TrainResult:
    from tqdm.auto import tqdm

    best_dir, last_dir = out_dir / 'best', out_dir / 'last'
    names = [str(n) for n in oracle.names]
    data = _oracle_fingerprint(oracle)  # saved with every epoch's state, checked on --resume
    train_idx, val_idx = split_indices(len(names), oracle.kept, cfg.val_fraction, cfg.seed,
                                       names if cfg.val_split == 'recording' else None)
    net_cfg = make_scale_net_config(cfg, oracle, device)

    torch.manual_seed(cfg.seed)
    model = sn.ScaleNet(net_cfg)
    if net_cfg.backbone != 'scratch' and cfg.pretrained and not resume:
        for net in _single_nets(model):
            net.features.load_imagenet()
    frozen = _apply_finetune(model)
    model = model.to(device)
    optimizer = _make_optimizer(model, cfg)
    if cfg.schedule == 'cosine':
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size,
                                                    gamma=cfg.gamma)
    autocast = _autocast_factory(cfg, device)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: List[Dict[str, Any]] = []
    best_loss = math.inf
    best_epoch = 0
    start_epoch = 0
    resumed_average = None

    if resume:
        state_path = last_dir / STATE_FILE
        if not state_path.is_file():
            raise FileNotFoundError(f'cannot resume: {state_path} does not exist '
                                    f'(train without --resume first)')
        try:
            state = torch.load(state_path, map_location='cpu', weights_only=True)
            saved_idx = [int(i) for i in state['train_idx'].tolist()]
        except Exception as exc:  # noqa: B902 - unpickling errors have many types
            raise TrainingError(f'cannot resume: {state_path} is truncated or corrupt '
                                f'({type(exc).__name__}: {exc}); train again without '
                                '--resume') from exc
        saved_data = state.get('data')  # runs saved before 0.12.0 have none
        if saved_data is not None and saved_data != data:
            raise TrainingError('cannot resume: the oracle data differ from those of the saved '
                                'run (other samples or other scales); pass the --oracle folders '
                                'it was trained on, or train again without --resume')
        if saved_idx != train_idx.tolist():
            raise TrainingError('cannot resume: the train/validation split differs from the '
                                'saved run (different oracle data, seed, val_fraction or '
                                'val_split)')
        loaded, saved_cfg = sn.load_scale_net(last_dir, device='cpu')
        now, before = net_cfg.to_dict(), saved_cfg.to_dict()
        changed = sorted(k for k in set(now) | set(before)
                         if k != 'metadata' and now.get(k) != before.get(k))
        if changed:
            raise TrainingError(
                'cannot resume: the network options differ from the saved run ('
                + ', '.join(f'{k}: saved {before.get(k)}, now {now.get(k)}' for k in changed)
                + '); use the same options or train again without --resume')
        raw_weights = state.get('raw_model')
        if (raw_weights is not None) != (cfg.ema_decay > 0):
            raise TrainingError(
                'cannot resume: the saved run was trained '
                + ('with' if raw_weights is not None else 'without')
                + ' a weight average (ema_decay); use the same ema_decay or train again '
                  'without --resume')
        if raw_weights is not None:
            # last/ holds the averaged network (what is deployed), the state the raw weights
            model.load_state_dict(raw_weights)
            resumed_average = (loaded.state_dict(), int(state['ema_updates']))
        else:
            model.load_state_dict(loaded.state_dict())
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        _restore_rng(state['rng'], gen)
        start_epoch = int(state['epoch'])
        best_loss = float(state['best_loss'])
        best_epoch = int(state['best_epoch'])
        history_path = out_dir / HISTORY_FILE
        if history_path.is_file():
            history = [h for h in json.loads(history_path.read_text())['epochs']
                       if int(h['epoch']) <= start_epoch]
        if start_epoch >= cfg.epochs and progress:
            print(f'nothing to do: the saved run already reached epoch {start_epoch}')

    images = oracle.images
    if torch.is_tensor(images):
        images = images.cpu().numpy()
    targets_all = torch.as_tensor(np.asarray(oracle.log_scales, dtype=np.float32), device=device)
    rel = None
    if net_cfg.depth_input:
        rel = _oracle_array(oracle, 'relative_depths', RELATIVE_DEPTH_NPY, '0.6.0',
                            'depth_input needs the base model depth', 'train without depth_input')
    x_train = preprocess_all(images[train_idx], net_cfg, device, progress=progress,
                             relative_depths=None if rel is None else rel[train_idx])
    y_train = targets_all[torch.as_tensor(train_idx, device=device)]
    x_val = y_val = None
    if val_idx.size:
        x_val = preprocess_all(images[val_idx], net_cfg, device, progress=progress,
                               relative_depths=None if rel is None else rel[val_idx])
        y_val = targets_all[torch.as_tensor(val_idx, device=device)]
    aux_train = None
    if cfg.aux_depth_weight > 0:
        grids = _oracle_array(oracle, 'depth_grids', DEPTH_GRID_NPY, '0.2.0',
                              'aux_depth_weight > 0 needs coarse ground-truth depth',
                              'set aux_depth_weight to 0')
        aux_train = depth_grid_targets(grids[train_idx]).to(device)
        if not resume:
            _init_aux_bias(model, aux_train)
    if cfg.init_head_bias and not resume:
        _init_head_bias(model, float(y_train.mean()))
    augment = Augmenter(net_cfg, cfg.augment_flip, cfg.color_jitter, device,
                        cfg.rotate_deg, cfg.channel_shuffle)
    loss_fn = nn.MSELoss()
    simulated = is_simulated(getattr(oracle, 'meta', None))
    # The network that is validated, selected and saved: the weight average when there is one.
    average = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    if average is not None and resumed_average is not None:
        average.model.load_state_dict(resumed_average[0])
        average.updates = resumed_average[1]
    deployed = average.model if average is not None else model
    selection = _selection_rule(x_val is not None, average is not None)

    atomic_write_json(out_dir / SPLIT_FILE, {
        'seed': cfg.seed, 'val_fraction': cfg.val_fraction, 'val_split': cfg.val_split,
        'val_recordings': sorted({recording_of(names[i]) for i in val_idx}),
        'train': [names[i] for i in train_idx], 'val': [names[i] for i in val_idx],
        'excluded_not_kept': [names[i] for i in np.flatnonzero(~np.asarray(oracle.kept, bool))],
    })

    n_train = int(train_idx.size)
    balance = (recording_weights([names[i] for i in train_idx]) if cfg.balance_recordings
               else None)
    bar = tqdm(range(start_epoch, cfg.epochs), desc='epochs', disable=not progress, unit='ep')
    for epoch0 in bar:
        epoch = epoch0 + 1
        t0 = time.perf_counter()
        _train_mode(model, frozen)
        lr_now = float(optimizer.param_groups[-1]['lr'])
        if balance is None:
            order = torch.randperm(n_train, generator=gen)
        else:
            order = torch.multinomial(balance, n_train, replacement=True, generator=gen)
        total = 0.0
        total_aux = 0.0
        for start in range(0, n_train, cfg.batch_size):
            idx = order[start:start + cfg.batch_size].to(device)
            yb = y_train[idx]
            optimizer.zero_grad(set_to_none=True)
            # Every ensemble member regresses log s on its own (N×members outputs); a single
            # net has one member, so this is the plain MSE of Algorithm 2.
            maps = None if aux_train is None else aux_train[idx]
            xb, maps = augment.with_maps(x_train[idx], gen, maps)
            log_var = None
            with autocast():
                if maps is None:
                    raw, aux_pred = model.forward_raw(xb).float(), None
                    pred = raw[..., 0]
                    if raw.shape[-1] > 1:
                        log_var = raw[..., 1]
                else:
                    raw, aux_pred = model.forward_raw_with_aux(xb)
                    raw = raw.float()
                    pred = raw[..., 0]
                    if raw.shape[-1] > 1:
                        log_var = raw[..., 1]
            scale_loss = loss_fn(pred, yb.unsqueeze(1).expand_as(pred))
            loss = scale_loss
            if log_var is not None and cfg.variance_weight > 0:
                loss = loss + cfg.variance_weight * gaussian_nll(pred.detach(), log_var, yb)
            if aux_pred is not None:
                aux_loss = aux_depth_loss(aux_pred.float(), maps)
                total_aux += float(aux_loss.detach()) * int(idx.numel())
                loss = loss + cfg.aux_depth_weight * aux_loss
            if not torch.isfinite(loss):
                raise TrainingError(f'non-finite training loss at epoch {epoch}; '
                                    f'lower the learning rate (now {lr_now:g})')
            loss.backward()
            if cfg.grad_clip > 0:
                for group in model.member_parameter_groups():
                    nn.utils.clip_grad_norm_(group, cfg.grad_clip)
            optimizer.step()
            if average is not None:
                average.update(model)
            total += float(scale_loss.detach()) * int(idx.numel())
        scheduler.step()
        train_loss = total / n_train
        val_loss = None
        is_val_epoch = epoch % cfg.val_every == 0 or epoch == cfg.epochs
        if is_val_epoch and x_val is not None:
            val_loss = _evaluate_loss(deployed, x_val, y_val, cfg.batch_size)
        record = {'epoch': epoch, 'lr': lr_now, 'train_loss': train_loss, 'val_loss': val_loss,
                  'seconds': time.perf_counter() - t0}
        if aux_train is not None:
            record['train_aux_depth_loss'] = total_aux / n_train
        history.append(record)
        score = val_loss if selection == 'val_loss' else train_loss
        if selection == 'last_epoch':
            chosen = epoch == cfg.epochs
        else:
            chosen = score is not None and score < best_loss
        if chosen:
            best_loss, best_epoch = float(score), epoch
            _save_checkpoint(best_dir, deployed, net_cfg)
        if cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0:
            _save_checkpoint(out_dir / 'checkpoints' / f'epoch_{epoch:04d}', deployed, net_cfg)
        _save_checkpoint(last_dir, deployed, net_cfg)
        state_tmp = last_dir / f'.{STATE_FILE}.tmp'
        state = {
            'epoch': epoch, 'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(), 'rng': _rng_state(gen),
            'best_loss': best_loss, 'best_epoch': best_epoch,
            'train_idx': torch.as_tensor(train_idx, dtype=torch.int64),
            'data': data,
        }
        if average is not None:
            state.update(raw_model=model.state_dict(), ema_updates=average.updates)
        torch.save(state, state_tmp)
        state_tmp.replace(last_dir / STATE_FILE)
        atomic_write_json(out_dir / HISTORY_FILE, {
            'config': asdict(cfg), 'simulated_base_model': simulated,
            'n_train': n_train, 'n_val': int(val_idx.size), 'best_epoch': best_epoch,
            'best_loss': best_loss, 'selection': selection,
            'epochs': history,
        })
        bar.set_postfix(train=f'{train_loss:.4f}',
                        val='-' if val_loss is None else f'{val_loss:.4f}', lr=f'{lr_now:.1e}')
    bar.close()

    std_scale = None
    if val_idx.size >= MIN_STD_FIT_ROWS and best_dir.is_dir():
        std_scale = _calibrate_best(best_dir, images[val_idx],
                                    np.asarray(oracle.log_scales, dtype=np.float64)[val_idx],
                                    None if rel is None else rel[val_idx], device)
        history_path = out_dir / HISTORY_FILE
        if history_path.is_file():
            atomic_write_json(history_path, {**json.loads(history_path.read_text()),
                                             'std_scale': std_scale})
    if history:
        title = 'Scale network training' + (' (SIMULATED base model)' if simulated else '')
        plot_history(history, out_dir / LOSS_CURVE_FILE, title=title)
    return TrainResult(out_dir=out_dir, best_dir=best_dir, last_dir=last_dir, history=history,
                       best_epoch=best_epoch, best_val_loss=best_loss,
                       train_names=[names[i] for i in train_idx],
                       val_names=[names[i] for i in val_idx],
                       seconds=time.perf_counter() - started, std_scale=std_scale)
