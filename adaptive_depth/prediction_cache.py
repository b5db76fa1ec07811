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
A resumable on-disk cache of base-model depth predictions.

Layout: ``root/<model_key>/<sanitised sample name>.npy`` (H×W float32 or float16 metres, NaN
invalid), beside it ``<sanitised sample name>.sha1`` (:func:`sample_fingerprint` of the sample it
was computed from: two datasets can hold samples of the same name, e.g. two recordings whose
folders share a name, and a prediction must not be reused for another image), plus
``root/<model_key>/manifest.json`` (model name, simulated flag, model key, dtype,
the dataset specs that were cached, created / updated times). Every file is written to a
temporary name and moved into place with ``os.replace``, so an interrupted run leaves either a
complete prediction or none, and the next run resumes where it stopped. A prediction without a
``.sha1`` (written by another program, or before 0.12.0) is matched by name alone.
"""

import datetime
import hashlib
import json
from pathlib import Path
import re
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union
import warnings

from adaptive_depth.io_helpers import atomic_save_npy, atomic_write_json, atomic_write_text
from adaptive_depth.sample import RGBDSample
import numpy as np

PathLike = Union[str, Path]
MANIFEST = 'manifest.json'
_SAFE_RE = re.compile(r'[^A-Za-z0-9._-]+')


def sanitize_name(name: str) -> str:
    """
    Return a file-system-safe, collision-free file stem for ``name``.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``; if anything was replaced, an 8-hex-digit
    hash of the original name is appended so distinct names never share a file.
    """
    name = str(name)
    safe = _SAFE_RE.sub('_', name).strip('._') or 'sample'
    if safe != name:
        safe = f'{safe[:150]}-{hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]}'
    return safe


def sample_fingerprint(sample: RGBDSample, with_depth: bool = False) -> str:
    """
    Return the SHA-1 (hex) of what a sample's prediction is made from: its RGB image.

    ``with_depth`` adds its ground-truth depth (the simulated base model predicts from it).
    """
    digest = hashlib.sha1()
    for array in (sample.rgb, sample.depth if with_depth else None):
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(f'{array.dtype.str}{array.shape}'.encode('ascii'))
            digest.update(array.data)
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class PredictionCache:
    """
    Predictions of one base model, one ``.npy`` per sample under ``root/<model_key>/``.

    :param root: cache root folder (created on first write).
    :param model_key: identifies the model and its settings (sanitised into a folder name).
    :param dtype: storage dtype, ``'float32'`` (default) or ``'float16'``; loads are float32.
    :param model_name: recorded in the manifest; a mismatch with an existing manifest raises.
    :param simulated: recorded in the manifest (True for the simulated base model).
    :param dataset_spec: recorded in the manifest's ``datasets`` list.

    ``hits`` / ``misses`` count loads from the cache and predictions stored since creation.
    """

    def __init__(self, root: PathLike, model_key: str, dtype: str = 'float32',
                 model_name: Optional[str] = None, simulated: Optional[bool] = None,
                 dataset_spec: Optional[str] = None):
        if dtype not in ('float32', 'float16'):
            raise ValueError(f"cache dtype must be 'float32' or 'float16', got {dtype!r}")
        self.root = Path(root).expanduser()
        self.model_key = sanitize_name(model_key)
        self.directory = self.root / self.model_key
        self.dtype = np.dtype(dtype)
        self.hits = 0
        self.misses = 0
        manifest = self.read_manifest()
        stored = (manifest or {}).get('model')
        if model_name is not None and stored is not None and stored != model_name:
            raise ValueError(
                f'prediction cache {self.directory} holds predictions of model '
                f'{stored!r}, not {model_name!r}; use another --cache folder')
        self.model_name = model_name if model_name is not None else (manifest or {}).get('model')
        self.simulated = simulated if simulated is not None else bool(
            (manifest or {}).get('simulated', False))
        self.dataset_spec = dataset_spec

    @property
    def manifest_path(self) -> Path:
        """Return the path of ``manifest.json``."""
        return self.directory / MANIFEST

    def read_manifest(self) -> Optional[Dict[str, Any]]:
        """Return the parsed manifest, or None if there is none yet."""
        path = self.directory / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f'prediction cache manifest {path} is not valid JSON ({exc})') \
                from None
        if not isinstance(data, dict):
            raise ValueError(f'prediction cache manifest {path} must hold a JSON object')
        return data

    def write_manifest(self, **extra: Any) -> Path:
        """Create or update ``manifest.json`` (model, key, simulated, dtype, datasets, times)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.read_manifest() or {'created': _now()}
        data.update(model=self.model_name, model_key=self.model_key,
                    simulated=bool(self.simulated), dtype=self.dtype.name,
                    layout='<sanitised sample name>.npy, H×W depth in metres, NaN invalid; '
                           '<sanitised sample name>.sha1, the SHA-1 of its source image')
        datasets = list(data.get('datasets', []))
        if self.dataset_spec and self.dataset_spec not in datasets:
            datasets.append(self.dataset_spec)
        data['datasets'] = datasets
        data.update(extra)
        data['updated'] = _now()
        atomic_write_json(self.manifest_path, data)
        return self.manifest_path

    def path_for(self, name: str) -> Path:
        """Return the ``.npy`` path of sample ``name``."""
        return self.directory / f'{sanitize_name(name)}.npy'

    def __contains__(self, name: str) -> bool:
        """Return True if a prediction for sample ``name`` is stored."""
        return self.path_for(name).is_file()

    def load(self, name: str, shape: Optional[Tuple[int, int]] = None,
             fingerprint: Optional[str] = None) -> Optional[np.ndarray]:
        """
        Return the stored H×W float32 prediction (metres) of ``name``, or None if absent.

        A corrupt file, one whose shape differs from ``shape``, or one stored with another
        ``fingerprint`` (:func:`sample_fingerprint`: another image of the same name) is reported
        with a warning and treated as absent (it will be recomputed and overwritten).
        """
        path = self.path_for(name)
        if not path.is_file():
            return None
        if not self.made_from(name, fingerprint):
            warnings.warn(f'prediction cache: {path.name} was computed from another image named '
                          f'{name!r} (another dataset?); computing it again', stacklevel=2)
            return None
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            warnings.warn(f'prediction cache: ignoring unreadable {path} ({exc})', stacklevel=2)
            return None
        if arr.ndim != 2 or (shape is not None and tuple(arr.shape) != tuple(shape)):
            warnings.warn(f'prediction cache: ignoring {path} of shape {arr.shape} '
                          f'(expected {shape})', stacklevel=2)
            return None
        self.hits += 1
        return arr.astype(np.float32, copy=False)

    def made_from(self, name: str, fingerprint: Optional[str]) -> bool:
        """
        Return False when the prediction of ``name`` was stored from another image.

        True when it was stored with this ``fingerprint`` (:func:`sample_fingerprint`), with
        none (another program, or before 0.12.0), or when ``fingerprint`` is None.
        """
        stored = self.path_for(name).with_suffix('.sha1')
        return fingerprint is None or not stored.is_file() \
            or stored.read_text(encoding='ascii').strip() == fingerprint

    def save(self, name: str, prediction: np.ndarray, fingerprint: Optional[str] = None) -> Path:
        """
        Atomically store the H×W prediction (metres) of sample ``name``; return its path.

        ``fingerprint`` (:func:`sample_fingerprint`) goes beside it, for :meth:`load` to check.
        """
        pred = np.asarray(prediction)
        if pred.ndim != 2:
            raise ValueError(f'prediction of {name!r} must be H×W, got shape {pred.shape}')
        if not self.manifest_path.is_file():
            self.write_manifest()
        path = self.path_for(name)
        stored = path.with_suffix('.sha1')
        atomic_save_npy(path, np.ascontiguousarray(pred, dtype=self.dtype))
        if fingerprint is not None:
            atomic_write_text(stored, fingerprint + '\n')
        else:  # a fingerprint left by an earlier image would vouch for this one
            stored.unlink(missing_ok=True)
        self.misses += 1
        return path


def predict_cached(dataset: Sequence[RGBDSample], model, cache: Optional[PredictionCache],
                   indices: Optional[Sequence[int]] = None
                   ) -> Iterator[Tuple[RGBDSample, np.ndarray]]:
    """
    Yield ``(sample, prediction)`` for the samples of ``dataset`` (H×W float32 metres).

    A prediction found in ``cache`` is loaded; otherwise ``model.predict(sample)`` runs and the
    result is stored. With ``cache=None`` the model always runs. ``indices`` restricts and
    orders the samples (default: all). The cache manifest is written (or updated with the
    dataset spec) before the first sample.
    """
    if cache is not None:
        if cache.dataset_spec is None:
            cache.dataset_spec = getattr(dataset, 'spec', None)
        cache.write_manifest()
    order = range(len(dataset)) if indices is None else indices
    for i in order:
        sample = dataset[i]
        shape = tuple(np.asarray(sample.rgb).shape[:2])
        fingerprint = None if cache is None else \
            sample_fingerprint(sample, with_depth=bool(getattr(model, 'simulated', False)))
        pred = cache.load(sample.name, shape, fingerprint) if cache is not None else None
        if pred is None:
            pred = np.asarray(model.predict(sample), dtype=np.float32)
            if pred.shape != shape:
                raise ValueError(f'model {getattr(model, "name", model)!r} returned shape '
                                 f'{pred.shape} for {sample.name!r}, expected {shape}')
            if cache is not None:
                cache.save(sample.name, pred, fingerprint)
                # Yield what a later (cached) run will load, so both runs agree exactly.
                pred = pred.astype(cache.dtype).astype(np.float32, copy=False)
        yield sample, pred
