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
Depth Anything V2 (metric) inference on top of Hugging Face ``transformers``.

``DepthAnythingRunner`` loads any metric DA2 checkpoint in HF format (a hub id or a local
directory written by ``save_pretrained``), pre-processes uint8 RGB images in torch on the model's
device and returns float32 metric depth in metres at the input's H×W.

Pre-processing follows the DA2 reference repository (``Resize(keep_aspect_ratio=True,
ensure_multiple_of=14, resize_method='lower_bound')``): the image is scaled so that its SHORT
side becomes ``input_size`` and each side is then rounded to the NEAREST multiple of 14, but never
below ``input_size`` (640×480 → 686×518 with the default 518). Resampling is antialiased bicubic
with uint8 output levels (PIL's BICUBIC, as in the ``transformers`` image processor; the DA2
repository uses ``cv2.INTER_CUBIC``), followed by ImageNet normalisation.
"""

import contextlib
import json
import math
import os
from pathlib import Path
import re
import socket
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union
import urllib.parse
import warnings

from adaptive_depth.defaults import DEFAULT_EXECUTION, DEFAULT_MODEL_ID
from adaptive_depth.errors import ModelLoadError
from adaptive_depth.fast_forward import (compile_model, CudaGraphForward, mark_compiled_step,
                                         resolve_execution)
from adaptive_depth.input_limits import check_image_size
import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PATCH_SIZE = 14
PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')

DOCS_URL = 'https://github.com/adaptive-depth/adaptive_depth/blob/main/docs/depth_model.md'
"""Where the model documentation lives online (docs/ is also installed to share/adaptive_depth)."""
SEE_DOCS = (f'See {DOCS_URL} (with a ROS install also share/adaptive_depth/docs/'
            'depth_model.md).')
HUB_PROBE_TIMEOUT_S = 3.0
"""Seconds a TCP connection to the Hugging Face hub may take before it counts as unreachable."""

_HUB_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$')

ImageInput = Union[np.ndarray, Sequence[np.ndarray]]


class UnsupportedModelError(ValueError):
    """The checkpoint loads but is not a metric Depth Anything model."""


class ImageInputError(ValueError):
    """An input image has the wrong type, dtype or shape."""


def resolve_device(device: Union[str, torch.device] = 'auto') -> torch.device:
    """Return the torch device for ``device`` ('auto' → ``cuda`` if available, else ``cpu``)."""
    if isinstance(device, torch.device):
        return device
    if device is None or str(device).lower() == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f'invalid device {device!r}: use auto, cpu, cuda or cuda:N') from exc
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(
            f'device {device!r} requested but CUDA is not available in this torch build '
            f'(torch {torch.__version__}); use device=auto or cpu, or install a CUDA build '
            f'of torch. {SEE_DOCS}')
    return resolved


def resolve_precision(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """
    Return the autocast dtype for ``precision`` on ``device`` (``None`` means plain fp32).

    'auto' → fp16 autocast on CUDA, fp32 on CPU. 'fp16' on CPU falls back to fp32 with a
    warning; 'bf16' uses bf16 autocast on either device.
    """
    precision = str(precision).lower()
    if precision not in PRECISIONS:
        raise ValueError(f'unknown precision {precision!r}: expected one of {PRECISIONS}')
    if precision == 'auto':
        return torch.float16 if device.type == 'cuda' else None
    if precision == 'fp32':
        return None
    if precision == 'bf16':
        return torch.bfloat16
    if device.type != 'cuda':
        warnings.warn('precision fp16 is not supported on CPU; using fp32 '
                      '(request bf16 for reduced precision on CPU)', RuntimeWarning, stacklevel=3)
        return None
    return torch.float16


def da2_input_size(height: int, width: int, input_size: int = 518,
                   multiple: int = PATCH_SIZE) -> Tuple[int, int]:
    """
    Return the network input (height, width) in pixels for an H×W image.

    Keeps the aspect ratio with the SHORT side scaled to ``input_size``; each side is rounded to
    the nearest multiple of ``multiple`` but never below ``input_size`` (DA2's 'lower_bound').
    Raises :class:`~adaptive_depth.input_limits.ImageSizeError` for an empty image or one whose
    aspect ratio exceeds ``MAX_ASPECT_RATIO`` (this bounds the network input, see
    :mod:`adaptive_depth.input_limits`).
    """
    check_image_size(height, width)
    scale = input_size / min(height, width)

    def constrain(x: float) -> int:
        y = int(round(x / multiple)) * multiple
        if y < input_size:
            y = int(math.ceil(x / multiple)) * multiple
        return max(y, multiple)

    return constrain(height * scale), constrain(width * scale)


def normalisation_constants(mean: Sequence[float], std: Sequence[float],
                            device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return 1×3×1×1 float32 (scale, bias) with ``x * scale + bias == (x / 255 - mean) / std``."""
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return 1.0 / (255.0 * s), -m / s


def resize_normalise(rgb: torch.Tensor, size: Tuple[int, int], scale: torch.Tensor,
                     bias: torch.Tensor, mode: str = 'bicubic',
                     uint8_kernel: Optional[bool] = None) -> torch.Tensor:
    """
    Resize N×H×W×3 uint8 images to ``size`` (h, w) and normalise to N×3×h×w float32.

    The resize uses antialiasing (``mode`` 'bicubic' or 'bilinear') and yields uint8 levels on
    every device: CPU resizes the uint8 tensor directly (separable: horizontal then vertical
    pass, each rounded to uint8); other devices emulate that in float (within one grey level).
    ``uint8_kernel`` forces one path (default: the uint8 kernel on CPU only). Then
    ``x * scale + bias`` is applied in float32.
    """
    x = rgb.permute(0, 3, 1, 2)  # a view; channels-last memory, which the CPU fast path likes
    if tuple(x.shape[-2:]) != tuple(size):
        if uint8_kernel is None:
            uint8_kernel = x.device.type == 'cpu'
        if uint8_kernel:
            x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
        else:  # emulate the CPU uint8 kernel: horizontal pass, round, vertical pass, round
            x = x.float()
            for step in ((x.shape[-2], size[1]), size):
                x = F.interpolate(x, size=step, mode=mode, align_corners=False,
                                  antialias=True).round_().clamp_(0.0, 255.0)
    return torch.addcmul(bias, x.float(), scale)


def looks_like_hub_id(model: str) -> bool:
    """Return whether ``model`` reads as a Hugging Face hub id (``owner/name``), not a path."""
    return bool(_HUB_ID_RE.match(model)) and not model.startswith(('.', '~'))


def _fetch_hint(model: str) -> str:
    repo = model if looks_like_hub_id(model) else DEFAULT_MODEL_ID
    local = repo.split('/')[-1]
    return (
        'Fetch the weights once on a machine with internet access, e.g.\n'
        f'    huggingface-cli download {repo} --local-dir ~/models/{local}\n'
        f'  or: git lfs install && git clone https://huggingface.co/{repo} ~/models/{local}\n'
        f'and pass the local directory as the model (model=~/models/{local}). {SEE_DOCS}')


def _check_config(config, source: str) -> None:
    model_type = getattr(config, 'model_type', None)
    if model_type != 'depth_anything':
        raise UnsupportedModelError(
            f'{source} is a {model_type!r} model, not a Depth Anything (V2) checkpoint '
            "(config.model_type must be 'depth_anything')")
    kind = getattr(config, 'depth_estimation_type', 'relative')
    if kind != 'metric':
        raise UnsupportedModelError(
            f'{source} is a {kind!r}-depth Depth Anything checkpoint; adaptive_depth needs a '
            "METRIC checkpoint (config.depth_estimation_type == 'metric'), e.g. "
            f'{DEFAULT_MODEL_ID} or Depth-Anything-V2-Metric-Outdoor-*-hf')


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ''


def _env_flag(name: str) -> bool:
    return os.environ.get(name, '').strip().upper() in ('1', 'ON', 'YES', 'TRUE')


def hub_unreachable_reason(timeout: float = HUB_PROBE_TIMEOUT_S) -> Optional[str]:
    """
    Return why the Hugging Face hub cannot be reached now, or None when it may be.

    Offline mode (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``) answers at once; otherwise one
    TCP connection to ``$HF_ENDPOINT`` (default https://huggingface.co) is tried for at most
    ``timeout`` seconds, so a machine without network fails fast instead of retrying downloads
    for half a minute. With an HTTPS proxy configured the probe is skipped (None).
    """
    for name in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'):
        if _env_flag(name):
            return f'{name}={os.environ[name]} is set (offline mode)'
    proxies = ('HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy')
    if any(os.environ.get(name) for name in proxies):
        return None
    endpoint = os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == 'https' else 80)
    try:
        with socket.create_connection((url.hostname or '', port), timeout=timeout):
            return None
    except OSError as exc:
        return f'{endpoint} is unreachable ({type(exc).__name__}: {exc})'


def _load_from_hub_cache(model_id: str):
    """Return the cached hub model (eval mode), or None when it is not fully in the HF cache."""
    from transformers import AutoConfig, AutoModelForDepthEstimation
    try:
        config = AutoConfig.from_pretrained(model_id, local_files_only=True)
    except (OSError, ValueError, KeyError):
        return None
    _check_config(config, f'hub model {model_id!r}')
    try:
        return AutoModelForDepthEstimation.from_pretrained(
            model_id, config=config, local_files_only=True).eval()
    except (OSError, ValueError, KeyError):
        return None


def load_depth_anything(model: Union[str, Path]):
    """
    Load a metric DA2 ``transformers`` model from a local directory or a hub id.

    A local directory is loaded with ``local_files_only=True`` (never touches the network); so is
    a hub id already in the local Hugging Face cache. A hub id that is not cached is downloaded,
    unless :func:`hub_unreachable_reason` says the hub cannot be reached (then the error is
    immediate, with instructions to fetch the weights).
    Raises ``ModelLoadError`` (an ``OSError``) when the weights cannot be found or downloaded and
    ``UnsupportedModelError`` (a ``ValueError``) for a relative-depth or non-DA checkpoint.
    Returns the model in eval mode on the CPU.
    """
    from transformers import AutoConfig, AutoModelForDepthEstimation

    text = os.fspath(model)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(
                f'model path {str(path)!r} is a file; pass the checkpoint DIRECTORY that holds '
                'config.json and model.safetensors (original .pth checkpoints must be converted '
                f'first). {SEE_DOCS}')
        if not (path / 'config.json').is_file():
            raise ModelLoadError(
                f'model directory {str(path)!r} has no config.json; it is not a Hugging Face '
                f'checkpoint directory. {SEE_DOCS}')
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            _check_config(config, f'model directory {str(path)!r}')
            net = AutoModelForDepthEstimation.from_pretrained(
                path, config=config, local_files_only=True)
        except UnsupportedModelError:
            raise
        except Exception as exc:  # noqa: B902 - corrupt weights / bad config fields: many types
            raise ModelLoadError(
                f'could not load the Depth Anything checkpoint in {str(path)!r} '
                f'({type(exc).__name__}: {_first_line(exc)})') from exc
        return net.eval()
    if not looks_like_hub_id(text):
        raise ModelLoadError(
            f'model {text!r} is neither an existing local directory nor a Hugging Face hub id '
            f'(owner/name). {_fetch_hint(DEFAULT_MODEL_ID)}')
    cached = _load_from_hub_cache(text)
    if cached is not None:
        return cached
    unreachable = hub_unreachable_reason()
    if unreachable:
        from huggingface_hub.constants import HF_HUB_CACHE
        raise ModelLoadError(
            f'could not load {text!r}: there is no local directory of that name, it is not in '
            f'the local Hugging Face cache ({HF_HUB_CACHE}) and the hub cannot be reached: '
            f'{unreachable}.\n{_fetch_hint(text)}')
    try:
        config = AutoConfig.from_pretrained(text)
        _check_config(config, f'hub model {text!r}')
        net = AutoModelForDepthEstimation.from_pretrained(text, config=config)
    except UnsupportedModelError:
        raise
    except Exception as exc:  # noqa: B902 - hub/network errors come in many types
        raise ModelLoadError(
            f'could not load {text!r}: there is no local directory of that name and the '
            f'download from the Hugging Face hub failed ({type(exc).__name__}: '
            f'{str(exc).splitlines()[0] if str(exc) else ""}).\n{_fetch_hint(text)}') from exc
    return net.eval()


def _as_batch_array(rgb: ImageInput) -> Tuple[np.ndarray, bool]:
    """Return (N×H×W×3 uint8 array, was_single) from an image, a batch or a list."""
    single = False
    if isinstance(rgb, (list, tuple)):
        if not rgb:
            raise ImageInputError('empty list of images')
        images = [np.asarray(im) for im in rgb]
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise ImageInputError(
                f'all images of a batch must have the same size, got shapes {sorted(shapes)}')
        for im in images:
            _check_image_array(im, ndim=3)
        arr = np.stack(images)
    else:
        arr = np.asarray(rgb)
        if arr.ndim == 3:
            single = True
            _check_image_array(arr, ndim=3)
            arr = arr[None]
        else:
            _check_image_array(arr, ndim=4)
    return np.ascontiguousarray(arr), single


def _check_image_array(arr, ndim: int) -> None:
    shape = tuple(arr.shape)
    dtype = arr.dtype
    if len(shape) != ndim or shape[-1] != 3:
        want = 'H×W×3' if ndim == 3 else 'N×H×W×3'
        raise ImageInputError(f'expected an RGB image of shape {want}, got shape {shape}')
    if dtype not in (np.uint8, torch.uint8):
        raise ImageInputError(f'expected a uint8 RGB image, got dtype {dtype}')
    if shape[-2] == 0 or shape[-3] == 0:
        raise ImageInputError(f'image has zero size: shape {shape}')


# Backbone widths of the released Depth Anything V2 models (ViT-S, B, L, G).
_RELEASED_DA2_HIDDEN_SIZES = (384, 768, 1024, 1536)


def is_untrained_model(model: Union[str, Path]) -> bool:
    """
    Return True when ``model`` is a local directory holding a known-untrained DA2 model.

    A model is untrained when its ``config.json`` has ``"adaptive_depth_untrained": true`` (as
    :func:`make_untrained_depth_anything` writes) or its backbone width matches no released
    Depth Anything V2. Hub ids and unreadable configs count as trained.
    """
    config_path = Path(model).expanduser() / 'config.json'
    if not config_path.is_file():
        return False
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return False
    if config.get('adaptive_depth_untrained'):
        return True
    hidden = (config.get('backbone_config') or {}).get('hidden_size')
    return hidden is not None and hidden not in _RELEASED_DA2_HIDDEN_SIZES


class DepthAnythingRunner:
    """
    Run a metric Depth Anything V2 model on uint8 RGB images; depth in metres.

    ``model`` is a hub id or a local checkpoint directory; ``device`` 'auto'|'cpu'|'cuda[:N]';
    ``precision`` 'auto' (fp16 autocast on CUDA, fp32 on CPU) | 'fp32' | 'fp16' | 'bf16';
    ``input_size`` is the short side of the network input in pixels (rounded to multiples of 14).
    ``execution`` 'auto' (CUDA graphs on CUDA, else eager) | 'eager' | 'cuda_graph' (each input
    shape captured once, then replayed; CUDA only, falls back to eager elsewhere) | 'compile'
    (``torch.compile``; the first frame of each size compiles): see
    :mod:`adaptive_depth.fast_forward`. The depth is the same in every mode up to
    floating-point rounding.
    """

    def __init__(self, model: Union[str, Path] = DEFAULT_MODEL_ID,
                 device: Union[str, torch.device] = 'auto', precision: str = 'auto',
                 input_size: int = 518, execution: str = DEFAULT_EXECUTION) -> None:
        if int(input_size) < PATCH_SIZE:
            raise ValueError(f'input_size must be >= {PATCH_SIZE} pixels, got {input_size}')
        self.input_size = int(input_size)
        self.device = resolve_device(device)
        self.autocast_dtype = resolve_precision(precision, self.device)
        self.precision = {None: 'fp32', torch.float16: 'fp16',
                          torch.bfloat16: 'bf16'}[self.autocast_dtype]
        self.name = os.fspath(model)
        self.execution = resolve_execution(execution, self.device)
        self.model = load_depth_anything(model).to(self.device)
        # The module the depth forward calls; hooks for the features go on the eager model.
        self._net = (compile_model(self.model, self.device) if self.execution == 'compile'
                     else self.model)
        graphs = self.execution == 'cuda_graph'
        self._graph_depth = CudaGraphForward(self._depth) if graphs else None
        self._graph_features = CudaGraphForward(self._depth_and_features) if graphs else None
        config = self.model.config
        self.max_depth: Optional[float] = (
            float(config.max_depth) if getattr(config, 'max_depth', None) is not None else None)
        self.num_parameters = int(sum(p.numel() for p in self.model.parameters()))
        # Constants hoisted once: (x / 255 - mean) / std == x * scale + bias for uint8 x.
        self._scale, self._bias = normalisation_constants(IMAGENET_MEAN, IMAGENET_STD,
                                                          self.device)
        self._pinned: Optional[torch.Tensor] = None
        self.timings: Dict[str, float] = {}

    def __repr__(self) -> str:
        return (f'DepthAnythingRunner(name={self.name!r}, device={self.device}, '
                f'precision={self.precision}, input_size={self.input_size}, '
                f'execution={self.execution})')

    # ------------------------------------------------------------------ helpers
    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        # No weight-cast cache: each weight is cast once per forward anyway, and a CUDA graph
        # capture needs the casts inside the graph.
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype,
                              cache_enabled=False)

    def network_size(self, height: int, width: int) -> Tuple[int, int]:
        """Return the network input (height, width) used for an H×W image."""
        return da2_input_size(height, width, self.input_size)

    def upload(self, rgb: ImageInput) -> torch.Tensor:
        """
        Return ``rgb`` (H×W×3, N×H×W×3 or a list, uint8) as an N×H×W×3 uint8 device tensor.

        On CUDA the host copy goes through a reused pinned buffer with ``non_blocking=True``.
        """
        if isinstance(rgb, torch.Tensor):
            t = rgb if rgb.dim() == 4 else rgb.unsqueeze(0)
            _check_image_array(t, ndim=4)
            return t.to(self.device, non_blocking=True)
        arr, _ = _as_batch_array(rgb)
        host = torch.from_numpy(arr)
        if self.device.type != 'cuda':
            return host
        if self._pinned is None or self._pinned.shape != host.shape:
            self._pinned = torch.empty(host.shape, dtype=torch.uint8, pin_memory=True)
        self._pinned.copy_(host)
        return self._pinned.to(self.device, non_blocking=True)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """
        Turn an N×H×W×3 uint8 device tensor into normalised N×3×h×w float32 network input.

        Resizing is bicubic with antialiasing (the kernel of PIL's BICUBIC, as used by the
        ``transformers`` image processor) with uint8 output levels; see ``resize_normalise``.
        """
        _check_image_array(rgb, ndim=4)
        _, h, w, _ = rgb.shape
        size = self.network_size(h, w)
        return resize_normalise(rgb, size, self._scale, self._bias, mode='bicubic')

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Run the network on N×3×h×w input; returns N×h×w predicted depth (metres, float32)."""
        if self._graph_depth is not None:
            return self._graph_depth(pixel_values)[0]
        return self._depth(pixel_values)[0]

    def _depth(self, pixel_values: torch.Tensor) -> Tuple[torch.Tensor]:
        """Run the eager or compiled depth forward (what a CUDA graph captures); 1-tuple."""
        compiled = self.execution == 'compile'
        if compiled:
            mark_compiled_step(self.device)
        with self._autocast():
            out = self._net(pixel_values=pixel_values).predicted_depth
        # A compiled forward's output lives in its CUDA-graph memory: always copy it out.
        return (out.to(torch.float32, copy=compiled),)

    def forward_with_features(self, pixel_values: torch.Tensor
                              ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Run the network once; return N×h×w depth (metres) and N×2C DINOv2 encoder features.

        The features are the CLS token and the mean patch token of the last feature map the
        depth head reads (C = backbone width; float32), caught by a forward hook on the backbone.
        Under ``execution='compile'`` this forward runs eager (a hook added to a compiled model
        would be ignored); under 'cuda_graph' it has graphs of its own.
        """
        if self._graph_features is not None:
            return self._graph_features(pixel_values)
        return self._depth_and_features(pixel_values)

    def _depth_and_features(self, pixel_values: torch.Tensor
                            ) -> Tuple[torch.Tensor, torch.Tensor]:
        caught: Dict[str, torch.Tensor] = {}

        def hook(_module, _inputs, output) -> None:
            maps = getattr(output, 'feature_maps', None)
            caught['tokens'] = (maps if maps is not None else output[0])[-1]

        handle = self.model.backbone.register_forward_hook(hook)
        try:
            with self._autocast():
                depth = self.model(pixel_values=pixel_values).predicted_depth.float()
        finally:
            handle.remove()
        tokens = caught['tokens'].float()
        return depth, torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=1)

    @staticmethod
    def postprocess(pred: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Bilinearly resize N×h×w predicted depth to N×H×W float32 (metres)."""
        if tuple(pred.shape[-2:]) != (height, width):
            pred = F.interpolate(pred.unsqueeze(1), size=(height, width), mode='bilinear',
                                 align_corners=False).squeeze(1)
        return pred.float().contiguous()

    # --------------------------------------------------------------- public API
    def predict_tensor(self, rgb: torch.Tensor, return_features: bool = False):
        """
        Predict depth for an N×H×W×3 (or H×W×3) uint8 tensor on any device.

        Returns an N×H×W float32 tensor of metric depth (metres) on ``self.device``; updates
        ``timings`` (ms; 'preprocess', 'forward', 'postprocess'). With ``return_features`` it
        returns ``(depth, features)``, the N×2C encoder features of the same forward
        (:meth:`forward_with_features`).
        """
        if not isinstance(rgb, torch.Tensor):
            raise ImageInputError(f'predict_tensor expects a torch.Tensor, got {type(rgb)}')
        with torch.inference_mode():
            t0 = time.perf_counter()
            x = self.upload(rgb)
            _, h, w, _ = x.shape
            x = self.preprocess(x)
            self._sync()
            t1 = time.perf_counter()
            pred, feats = (self.forward_with_features(x) if return_features
                           else (self.forward(x), None))
            self._sync()
            t2 = time.perf_counter()
            depth = self.postprocess(pred, h, w)
            self._sync()
            t3 = time.perf_counter()
        self.timings = {'preprocess': (t1 - t0) * 1e3, 'forward': (t2 - t1) * 1e3,
                        'postprocess': (t3 - t2) * 1e3}
        return (depth, feats) if return_features else depth

    def predict(self, rgb: ImageInput) -> np.ndarray:
        """
        Predict metric depth for uint8 RGB input.

        ``rgb`` is H×W×3, N×H×W×3 or a list of same-size H×W×3 uint8 arrays (RGB order).
        Returns float32 depth in metres: H×W for a single image, N×H×W for a batch or list.
        """
        arr, single = _as_batch_array(rgb)
        t0 = time.perf_counter()
        with torch.inference_mode():
            x = self.upload(arr)
        t_upload = (time.perf_counter() - t0) * 1e3
        depth = self.predict_tensor(x)
        t0 = time.perf_counter()
        out = depth.cpu().numpy()
        self.timings['preprocess'] += t_upload
        self.timings['postprocess'] += (time.perf_counter() - t0) * 1e3
        return out[0] if single else out

    def iter_predict(self, images: Sequence[np.ndarray],
                     batch_size: int = 1) -> Iterator[np.ndarray]:
        """Yield H×W float32 depth maps (metres) for each image, run in batches of same size."""
        batch: List[np.ndarray] = []
        for image in images:
            if batch and (len(batch) >= batch_size or batch[0].shape != np.shape(image)):
                yield from self.predict(batch)
                batch = []
            batch.append(np.asarray(image))
        if batch:
            yield from self.predict(batch)
