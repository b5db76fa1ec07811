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
Base depth models whose per-image global scale error the scale network learns to correct.

``BaseDepthModel`` protocol: ``name: str``, ``simulated: bool``, ``model_key: str`` (a cache
folder name that changes with every setting that changes the output) and
``predict(sample: RGBDSample) -> H×W float32 metres``.

* :class:`DepthAnythingBase` — Depth Anything V2 through ``depth_model.DepthAnythingRunner``.
* :class:`SimulatedBaseModel` — a stand-in with DA2's failure mode, to validate the method
  without DA2 weights; everything it produces is labelled simulated.
* :class:`CachedBaseModel` — predictions of any other model, read from a prediction cache.
"""

import hashlib
import math
from pathlib import Path
from typing import Optional, Protocol, Union

from adaptive_depth.prediction_cache import (MANIFEST, PredictionCache, sample_fingerprint,
                                             sanitize_name)
from adaptive_depth.sample import RGBDSample
import numpy as np

PathLike = Union[str, Path]


class BaseDepthModel(Protocol):
    """A monocular metric depth model: ``predict(sample) -> H×W float32 metres``."""

    name: str
    simulated: bool

    def predict(self, sample: RGBDSample) -> np.ndarray:
        """Return the H×W float32 depth prediction (metres) for ``sample.rgb``."""
        ...


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]


class DepthAnythingBase:
    """
    Depth Anything V2 as a base model: ``predict(sample) = runner.predict(sample.rgb)``.

    :param runner: a ``depth_model.DepthAnythingRunner`` (anything with ``name`` and
        ``predict(rgb H×W×3 uint8) -> H×W float32 metres``).
    """

    simulated = False

    def __init__(self, runner):
        self.runner = runner
        self.name = str(runner.name)

    @property
    def model_key(self) -> str:
        """Return a cache key: model name + input size + precision (+ hash of a local path)."""
        name = self.name.rstrip('/\\')
        base = Path(name).name if Path(name).exists() else name.replace('/', '_')
        key = f'{base}_in{getattr(self.runner, "input_size", "x")}' \
              f'_{getattr(self.runner, "precision", "x")}'
        if Path(name).exists():
            key += f'-{_short_hash(str(Path(name).resolve()))}'
        return sanitize_name(key)

    def predict(self, sample: RGBDSample) -> np.ndarray:
        """Return DA2's H×W float32 metric depth (metres) for the sample's RGB."""
        return np.asarray(self.runner.predict(sample.rgb), dtype=np.float32)


def _name_seed(*parts) -> np.random.Generator:
    digest = hashlib.sha256('\x1f'.join(str(p) for p in parts).encode('utf-8')).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], 'little'))


class SimulatedBaseModel:
    """
    A SIMULATED base model with a Depth-Anything-like global scale error (no network).

    Definition (the same for synthetic scenes and real RGB-D data)::

        prediction = gt × m × distortion × noise
        m = (room_size_ref_m / visible_size) ** gamma × exp(ε),   ε ~ N(0, scale_sigma)

    * ``visible_size`` (metres) is *how big the visible room is*: the ``size_percentile``-th
      percentile (default 90, i.e. roughly the distance to the far walls) of the valid
      ground-truth depth **in view** (:meth:`visible_size`). Like DA2, which assumes typical
      room sizes, the model shrinks scenes that look deeper than ``room_size_ref_m`` and
      stretches shallower ones, so the oracle scale is ``s* ≈ 1 / m``. The error depends only on
      what the camera sees, so it is learnable from the image up to ``ε``; hidden scene
      parameters (e.g. the synthetic ``meta['room_size_m']``, mostly out of view) are ignored;
    * ``ε`` is the per-image error no image predictor can explain (deterministic per sample);
    * ``distortion`` is a smooth low-frequency multiplicative field (a random 3×4 grid of
      uniform log-values in ``[-distortion, distortion]``, bicubically upsampled; about ±5 %);
    * ``noise`` is per-pixel log-normal noise with standard deviation ``noise`` (about 2.5 %).

    Invalid ground-truth pixels are predicted from the median valid depth (a real model
    predicts everywhere). All randomness is drawn deterministically from ``(seed, sample
    name)``: the same sample always gets the same prediction. ``name`` starts with
    ``'simulated'`` and ``simulated`` is True, so every output can be labelled.

    Parameter ranges (beyond them the model is no longer a plausible depth network and its
    numbers overflow; :class:`ValueError` naming the parameter otherwise):

    * ``0 <= gamma <= 5`` (DA2-like behaviour is about 1; 5 already turns a room twice the
      reference size into a 32× error);
    * ``0 < room_size_ref_m <= 1000`` metres;
    * ``0 <= scale_sigma <= 1`` (``exp(±3σ)``: up to 20× per-image errors);
    * ``0 <= distortion <= 1`` and ``0 <= noise <= 1`` (log amplitudes: factors up to e and,
      for the per-pixel noise, about e^±4);
    * ``0 < size_percentile <= 100``.
    """

    simulated = True
    LIMITS = {'gamma': 5.0, 'room_size_ref_m': 1000.0, 'scale_sigma': 1.0, 'distortion': 1.0,
              'noise': 1.0}
    """The largest accepted value of each parameter (see the class docstring)."""

    def __init__(self, gamma: float = 1.0, room_size_ref_m: float = 6.0,
                 scale_sigma: float = 0.05, distortion: float = 0.05, noise: float = 0.025,
                 seed: int = 0, size_percentile: float = 90.0):
        values = {'gamma': gamma, 'room_size_ref_m': room_size_ref_m,
                  'scale_sigma': scale_sigma, 'distortion': distortion, 'noise': noise}
        for key, value in values.items():
            if not math.isfinite(float(value)) or float(value) < 0:
                raise ValueError(f'simulated model {key} must be finite and >= 0, got {value}')
            if float(value) > self.LIMITS[key]:
                raise ValueError(f'simulated model {key} must be <= {self.LIMITS[key]:g}, got '
                                 f'{value}')
        if float(room_size_ref_m) <= 0:
            raise ValueError(f'room_size_ref_m must be > 0, got {room_size_ref_m}')
        if not 0.0 < float(size_percentile) <= 100.0:
            raise ValueError(f'size_percentile must be in (0, 100], got {size_percentile}')
        self.gamma = float(gamma)
        self.room_size_ref_m = float(room_size_ref_m)
        self.scale_sigma = float(scale_sigma)
        self.distortion = float(distortion)
        self.noise = float(noise)
        self.seed = int(seed)
        self.size_percentile = float(size_percentile)
        self.name = (f'simulated(visible-p{self.size_percentile:g},gamma={self.gamma:g},'
                     f'ref={self.room_size_ref_m:g}m,sigma={self.scale_sigma:g},'
                     f'distortion={self.distortion:g},noise={self.noise:g},seed={self.seed})')

    @property
    def model_key(self) -> str:
        """Return a cache key that changes with every parameter."""
        return sanitize_name(f'simulated-{_short_hash(self.name)}')

    def visible_size(self, sample: RGBDSample) -> float:
        """
        Return the visible room size (metres) the simulated model reacts to.

        The ``size_percentile``-th percentile of the valid ground-truth depth of the H×W
        ``sample.depth`` (metres); ``sample.meta`` is not used.

        :raises ValueError: if the sample has no valid depth.
        """
        valid = sample.valid_mask()
        if not valid.any():
            raise ValueError(f'sample {sample.name!r} has no valid depth to measure the '
                             f'visible room size')
        return float(np.percentile(np.asarray(sample.depth)[valid], self.size_percentile))

    def scale_factor(self, sample: RGBDSample) -> float:
        """Return the per-image multiplicative error ``m`` (the oracle scale is about 1 / m)."""
        rng = _name_seed('scale', self.seed, sample.name)
        eps = rng.normal(0.0, self.scale_sigma) if self.scale_sigma > 0 else 0.0
        return float((self.room_size_ref_m / self.visible_size(sample)) ** self.gamma
                     * math.exp(eps))

    def predict(self, sample: RGBDSample) -> np.ndarray:
        """Return the simulated H×W float32 prediction (metres) for ``sample``."""
        import cv2

        depth = np.asarray(sample.depth, dtype=np.float32)
        if depth.ndim != 2:
            raise ValueError(f'sample {sample.name!r}: depth must be H×W, got {depth.shape}')
        h, w = depth.shape
        valid = sample.valid_mask()
        if not valid.any():
            raise ValueError(f'sample {sample.name!r} has no valid depth to simulate from')
        filled = np.where(valid, depth, np.float32(np.median(depth[valid])))
        m = self.scale_factor(sample)
        rng = _name_seed('field', self.seed, sample.name)
        grid = rng.uniform(-self.distortion, self.distortion, size=(3, 4)).astype(np.float32)
        field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        log_noise = rng.standard_normal((h, w), dtype=np.float32) * np.float32(self.noise)
        pred = filled * np.float32(m) * np.exp(field + log_noise)
        return pred.astype(np.float32, copy=False)


class CachedBaseModel:
    """
    Predictions of another model read from a prediction cache folder.

    :param cache_dir: a ``root/<model_key>`` folder holding ``manifest.json`` and ``.npy``
        files, or a cache root holding exactly one such folder.

    ``name`` and ``simulated`` come from the manifest. ``predict`` raises
    ``FileNotFoundError`` naming the missing file when a sample has no stored prediction.
    """

    def __init__(self, cache_dir: PathLike):
        path = Path(cache_dir).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f'prediction cache folder not found: {path}')
        if not (path / MANIFEST).is_file():
            subdirs = [p for p in sorted(path.iterdir()) if (p / MANIFEST).is_file()]
            if len(subdirs) != 1:
                raise FileNotFoundError(
                    f'{path} is not a prediction cache: no {MANIFEST} in it'
                    + (f' and {len(subdirs)} model folders under it; pass one of them: '
                       + ', '.join(str(p) for p in subdirs) if subdirs else ''))
            path = subdirs[0]
        self.cache = PredictionCache(path.parent, path.name)
        manifest = self.cache.read_manifest() or {}
        self.name = str(manifest.get('model') or path.name)
        self.simulated = bool(manifest.get('simulated', False))
        self.model_key = self.cache.model_key
        self.directory = path

    def predict(self, sample: RGBDSample) -> np.ndarray:
        """Return the stored H×W float32 prediction (metres) for ``sample``."""
        shape = tuple(np.asarray(sample.rgb).shape[:2])
        if not self.cache.made_from(sample.name, sample_fingerprint(sample, self.simulated)):
            raise ValueError(f'the cached prediction of model {self.name!r} for sample '
                             f'{sample.name!r} was computed from another image of that name '
                             f'(another dataset?): {self.cache.path_for(sample.name)}')
        pred = self.cache.load(sample.name, shape)
        if pred is None:
            raise FileNotFoundError(f'no cached prediction of model {self.name!r} for sample '
                                    f'{sample.name!r}: {self.cache.path_for(sample.name)}')
        return pred


def make_base_model(model: Optional[str] = None, simulated: bool = False,
                    predictions: Optional[PathLike] = None, **options) -> BaseDepthModel:
    """
    Build the base model a CLI asked for: exactly one of ``model``, ``simulated``, ``predictions``.

    ``options`` go to :class:`SimulatedBaseModel` (``gamma``, ``noise``, ``seed``...) or to
    ``DepthAnythingRunner`` (``device``, ``precision``, ``input_size``).
    """
    chosen = sum([model is not None, bool(simulated), predictions is not None])
    if chosen != 1:
        raise ValueError('choose exactly one base model: a DA2 model, the simulated model, or '
                         'a prediction cache')
    if simulated:
        return SimulatedBaseModel(**options)
    if predictions is not None:
        return CachedBaseModel(predictions)
    from adaptive_depth.depth_model import DepthAnythingRunner
    return DepthAnythingBase(DepthAnythingRunner(model, **options))
