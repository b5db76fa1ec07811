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
The oracle directory: per-image oracle scales plus training copies of the images.

Layout written by ``generate_oracle`` and read by ``train_scale_net`` / ``evaluate``::

    oracle.csv            one row per sample: index, name, scale, log_scale, w1, n_valid, kept
    oracle.json           dataset spec + options, base model name + simulated flag, prediction
                          cache dir, bounds, percentile filter, counts, created (ISO 8601 UTC)
    images.npy            N×240×320×3 uint8 RGB (cv2.INTER_AREA copies), row i ↔ CSV row i
    depth_grid.npy        N×24×32 float32 coarse ground-truth depth in metres (geometric mean of
                          the valid pixels of each cell, NaN where under half of them are valid);
                          optional, used by the scale network's auxiliary depth loss
    relative_depth.npy    N×240×320 float16 scale-free log depth of the base model's prediction
                          (``scale_net.relative_depth_copy``); optional, read by scale networks
                          with ``depth_input``
    scale_histogram.png   histogram of the oracle scales (kept vs filtered)
    oracle.incomplete     present only while a writer swaps new files in (or after it died
                          doing so): readers refuse the directory

``oracle.json`` is the typed record :class:`OracleMeta` (``format_version`` 2). A writer builds a
complete directory in a staging folder and moves it in with :func:`commit_oracle_dir`, so an
interrupted run never leaves a mix of old and new files; :func:`read_oracle_dir` checks that the
parts agree (row counts of the CSV, the arrays and the record) and refuses an incomplete one.

``scale`` is the dimensionless oracle scale s*, ``log_scale`` its natural log, ``w1`` the
Wasserstein-1 distance at s* in metres, ``n_valid`` the number of valid pixels used, ``kept`` 1 if
the sample survived the percentile filter (0 otherwise). A sample whose scale could not be
computed (no valid depth) has ``scale = nan`` and ``kept = 0``.
"""

import csv
from dataclasses import dataclass, field, fields
import datetime
import json
import math
import os
from pathlib import Path
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from adaptive_depth.io_helpers import atomic_save_npy, atomic_write_text, dumps_json
import numpy as np

PathLike = Union[str, Path]

ORACLE_CSV = 'oracle.csv'
ORACLE_JSON = 'oracle.json'
IMAGES_NPY = 'images.npy'
HISTOGRAM_PNG = 'scale_histogram.png'
CSV_COLUMNS: Tuple[str, ...] = ('index', 'name', 'scale', 'log_scale', 'w1', 'n_valid', 'kept')
DEPTH_GRID_NPY = 'depth_grid.npy'
RELATIVE_DEPTH_NPY = 'relative_depth.npy'
IMAGE_SIZE: Tuple[int, int] = (240, 320)
"""(height, width) of the training copies in ``images.npy``."""
DEPTH_GRID_SIZE: Tuple[int, int] = (24, 32)
"""(height, width) of the coarse ground-truth depth grids in ``depth_grid.npy``."""
INCOMPLETE_MARKER = 'oracle.incomplete'
FORMAT_VERSION = 2
"""Version of ``oracle.json`` written now; version 1 (before the typed record) is still read."""
ORACLE_FILES: Tuple[str, ...] = (IMAGES_NPY, DEPTH_GRID_NPY, RELATIVE_DEPTH_NPY, ORACLE_CSV,
                                 HISTOGRAM_PNG, ORACLE_JSON)
"""The files of an oracle directory, in the order :func:`commit_oracle_dir` moves them."""


class OracleFormatError(ValueError):
    """An oracle directory is missing a file or a file is malformed (the message names it)."""


def _pair(value: Any, what: str) -> Optional[Tuple[float, float]]:
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise OracleFormatError(f'{what} must be a pair of numbers, got {value!r}') from None
    return (low, high)


@dataclass
class OracleMeta:
    """
    The typed record of an oracle directory (``oracle.json``), written by ``generate_oracle``.

    :ivar dataset_spec: dataset spec the samples came from (e.g. ``synthetic:400``).
    :ivar dataset_options: dataset options (split, depth_scale, intrinsics, ...).
    :ivar dataset_limit: ``--limit`` (first N samples) or None.
    :ivar base_model_name: name of the base depth model whose predictions were scaled.
    :ivar simulated: True if that model is the SIMULATED base model (not a real network).
    :ivar model_key: prediction-cache key of the base model (model + settings).
    :ivar prediction_cache: folder holding the cached predictions (``manifest.json`` and one
        ``.npy`` per sample, H×W metres); relative paths are relative to the oracle directory.
    :ivar bounds: (low, high) search interval of s* (dimensionless).
    :ivar percentile_filter: (low, high) percentiles of the kept samples, None if unfiltered.
    :ivar eval_crop: pixels used for s* ('auto', 'eigen' or 'none').
    :ivar min_valid_pixels: samples with fewer valid pixels get no s*.
    :ivar oracle_method: solver of s* ('exact').
    :ivar counts: total / valid / kept / filtered / failed sample counts (filled by the writer).
    :ivar scale_stats: min / max / median / p5 / p95 of the finite s* (filled by the writer).
    :ivar image_size: (h, w) of the training copies in ``images.npy``.
    :ivar depth_grid_size: (h, w) of ``depth_grid.npy`` or None when there is none.
    :ivar columns: the CSV columns.
    :ivar created: ISO 8601 UTC time of writing.
    :ivar elapsed_s: seconds the generating run took.
    :ivar command: the generating command line.
    :ivar note: free text (the SIMULATED warning).
    :ivar format_version: :data:`FORMAT_VERSION` of the record.
    :ivar extra: keys of ``oracle.json`` this version does not know (kept on a round trip).
    """

    dataset_spec: Optional[str] = None
    dataset_options: Dict[str, Any] = field(default_factory=dict)
    dataset_limit: Optional[int] = None
    base_model_name: str = 'unknown'
    simulated: bool = False
    model_key: Optional[str] = None
    prediction_cache: Optional[str] = None
    bounds: Optional[Tuple[float, float]] = None
    percentile_filter: Optional[Tuple[float, float]] = None
    eval_crop: Optional[str] = None
    min_valid_pixels: Optional[int] = None
    oracle_method: Optional[str] = None
    counts: Dict[str, int] = field(default_factory=dict)
    scale_stats: Optional[Dict[str, float]] = None
    image_size: Tuple[int, int] = IMAGE_SIZE
    depth_grid_size: Optional[Tuple[int, int]] = None
    columns: Tuple[str, ...] = CSV_COLUMNS
    created: Optional[str] = None
    elapsed_s: Optional[float] = None
    command: List[str] = field(default_factory=list)
    note: Optional[str] = None
    format_version: int = FORMAT_VERSION
    extra: Dict[str, Any] = field(default_factory=dict)

    _KNOWN = ('dataset', 'base_model', 'prediction_cache', 'bounds', 'percentile_filter',
              'eval_crop', 'min_valid_pixels', 'oracle_method', 'counts', 'scale_stats',
              'image_size', 'depth_grid_size', 'columns', 'created', 'elapsed_s', 'command',
              'note', 'format_version', 'simulated')

    def to_dict(self) -> Dict[str, Any]:
        """Return the JSON layout of ``oracle.json`` (nested ``dataset`` and ``base_model``)."""
        out: Dict[str, Any] = dict(self.extra)
        out.update({
            'format_version': int(self.format_version),
            'dataset': {'spec': self.dataset_spec, 'options': dict(self.dataset_options),
                        'limit': self.dataset_limit},
            'base_model': {'name': self.base_model_name, 'simulated': bool(self.simulated),
                           'model_key': self.model_key},
            'prediction_cache': self.prediction_cache,
            'bounds': None if self.bounds is None else list(self.bounds),
            'percentile_filter': (None if self.percentile_filter is None
                                  else list(self.percentile_filter)),
            'eval_crop': self.eval_crop, 'min_valid_pixels': self.min_valid_pixels,
            'oracle_method': self.oracle_method, 'counts': dict(self.counts),
            'image_size': list(self.image_size), 'columns': list(self.columns),
            'created': self.created, 'elapsed_s': self.elapsed_s, 'command': list(self.command),
        })
        if self.scale_stats is not None:
            out['scale_stats'] = dict(self.scale_stats)
        if self.depth_grid_size is not None:
            out['depth_grid_size'] = list(self.depth_grid_size)
        if self.simulated:
            out['simulated'] = True
        if self.note is not None:
            out['note'] = self.note
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = 'oracle.json') -> 'OracleMeta':
        """
        Return the record of a parsed ``oracle.json`` (format version 1 or 2).

        :raises OracleFormatError: for a newer format version or a field of the wrong type
            (the message names ``source``).
        """
        if not isinstance(data, dict):
            raise OracleFormatError(f'{source}: expected a JSON object')
        try:
            version = int(data.get('format_version', 1))
        except (TypeError, ValueError):
            raise OracleFormatError(f'{source}: bad format_version '
                                    f'{data.get("format_version")!r}') from None
        if version > FORMAT_VERSION:
            raise OracleFormatError(f'{source}: format_version {version} is newer than this '
                                    f'adaptive_depth reads ({FORMAT_VERSION}); update it')
        dataset = data.get('dataset') if isinstance(data.get('dataset'), dict) else {}
        base = data.get('base_model') if isinstance(data.get('base_model'), dict) else {}
        cache = data.get('prediction_cache')
        if cache is not None and not isinstance(cache, str):
            raise OracleFormatError(f'{source}: prediction_cache must be a folder path, '
                                    f'got {cache!r}')
        try:
            grid = data.get('depth_grid_size')
            return cls(
                dataset_spec=dataset.get('spec'),
                dataset_options=dict(dataset.get('options') or {}),
                dataset_limit=dataset.get('limit'),
                base_model_name=str(base.get('name', 'unknown')),
                simulated=bool(base.get('simulated', data.get('simulated', False))),
                model_key=base.get('model_key'),
                prediction_cache=cache,
                bounds=_pair(data.get('bounds'), f'{source}: bounds'),
                percentile_filter=_pair(data.get('percentile_filter'),
                                        f'{source}: percentile_filter'),
                eval_crop=data.get('eval_crop'),
                min_valid_pixels=data.get('min_valid_pixels'),
                oracle_method=data.get('oracle_method'),
                counts={str(k): int(v) for k, v in (data.get('counts') or {}).items()},
                scale_stats=data.get('scale_stats'),
                image_size=tuple(int(v) for v in data.get('image_size', IMAGE_SIZE)),
                depth_grid_size=None if grid is None else tuple(int(v) for v in grid),
                columns=tuple(data.get('columns', CSV_COLUMNS)),
                created=data.get('created'), elapsed_s=data.get('elapsed_s'),
                command=[str(c) for c in data.get('command') or []],
                note=data.get('note'), format_version=version,
                extra={k: v for k, v in data.items() if k not in cls._KNOWN})
        except (TypeError, ValueError) as exc:
            raise OracleFormatError(f'{source}: malformed field ({exc})') from None

    def cache_directory(self, oracle_dir: Optional[PathLike] = None) -> Optional[Path]:
        """
        Return the prediction-cache folder, or None when none is recorded.

        A relative path is taken relative to ``oracle_dir`` (format 2). Format 1 recorded it
        relative to the working directory of ``generate_oracle``: such a path is used as is when
        it exists, else looked up under ``oracle_dir/predictions/``.
        """
        if not self.prediction_cache:
            return None
        path = Path(self.prediction_cache).expanduser()
        if path.is_absolute() or oracle_dir is None:
            return path
        if self.format_version >= 2:
            return Path(oracle_dir) / path
        if path.exists():
            return path
        return Path(oracle_dir) / 'predictions' / path.name


@dataclass
class OracleData:
    """
    The contents of an oracle directory.

    ``names`` (N str), ``scales`` (N float64, dimensionless s*), ``log_scales`` (N float64),
    ``w1`` (N float64 metres), ``n_valid`` (N int64), ``kept`` (N bool), ``images``
    (N×240×320×3 uint8 RGB, memory-mapped read-only when read with ``mmap=True``) and ``meta``
    (the parsed ``oracle.json``). ``depth_grids`` is the N×24×32 float32 coarse ground-truth
    depth (metres, NaN for cells without enough valid pixels) or None when the directory has no
    ``depth_grid.npy`` (written by ``generate_oracle`` from 0.2.0 on). ``relative_depths`` is
    the N×240×320 float16 scale-free log depth of the base model's predictions
    (``relative_depth.npy``, from 0.6.0 on; memory-mapped like ``images``) or None.
    """

    names: List[str]
    scales: np.ndarray
    log_scales: np.ndarray
    w1: np.ndarray
    n_valid: np.ndarray
    kept: np.ndarray
    images: np.ndarray
    meta: Dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None
    depth_grids: Optional[np.ndarray] = None
    relative_depths: Optional[np.ndarray] = None

    def __len__(self) -> int:
        """Return the number of samples N (all rows, kept or not)."""
        return len(self.names)

    @property
    def simulated(self) -> bool:
        """Return True if the scales come from the simulated base model (not a real network)."""
        return self.record.simulated

    @property
    def base_model_name(self) -> str:
        """Return the name of the base depth model the scales were computed for."""
        return self.record.base_model_name

    @property
    def record(self) -> OracleMeta:
        """Return ``meta`` as the typed :class:`OracleMeta` record."""
        return OracleMeta.from_dict(self.meta)

    def kept_indices(self) -> np.ndarray:
        """Return the row indices (int64) of the samples kept by the percentile filter."""
        return np.flatnonzero(self.kept)


def resize_for_oracle(rgb: np.ndarray, size: Tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """
    Return the training copy of an H×W×3 uint8 RGB image: ``size`` (h, w) via cv2.INTER_AREA.

    Images already at ``size`` are returned as a contiguous uint8 copy.
    """
    import cv2

    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f'expected an H×W×3 RGB image, got shape {arr.shape}')
    if arr.dtype != np.uint8:
        raise ValueError(f'expected a uint8 RGB image, got dtype {arr.dtype}')
    h, w = int(size[0]), int(size[1])
    if arr.shape[:2] == (h, w):
        return np.ascontiguousarray(arr).copy()
    interp = cv2.INTER_AREA if (arr.shape[0] >= h and arr.shape[1] >= w) else cv2.INTER_LINEAR
    return cv2.resize(arr, (w, h), interpolation=interp)


def coarse_depth_grid(depth: np.ndarray, valid: Optional[np.ndarray] = None,
                      size: Tuple[int, int] = DEPTH_GRID_SIZE,
                      min_valid_fraction: float = 0.5) -> np.ndarray:
    """
    Return the coarse depth grid (``size`` = (h, w), float32 metres) of an H×W depth map.

    Each cell holds the geometric mean of the valid depths (metres) of the pixels it covers
    (area resampling of log depth, so the grid is correct for any H×W); cells where less than
    ``min_valid_fraction`` of the covered pixels are valid are NaN. ``valid`` is an H×W bool mask
    (default: finite depth > 0).
    """
    import cv2

    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2 or min(d.shape) == 0:
        raise ValueError(f'expected an H×W depth map, got shape {d.shape}')
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(d) & (d > 0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    w = ok.astype(np.float32)
    log_d = np.log(np.where(ok, d, np.float32(1.0)))
    h_out, w_out = int(size[0]), int(size[1])
    mass = cv2.resize(w, (w_out, h_out), interpolation=cv2.INTER_AREA)
    total = cv2.resize(log_d * w, (w_out, h_out), interpolation=cv2.INTER_AREA)
    good = mass >= max(float(min_valid_fraction), 1e-6)
    return np.where(good, np.exp(total / np.maximum(mass, 1e-6)), np.nan).astype(np.float32)


def _fmt_float(x: float) -> str:
    x = float(x)
    return repr(x) if math.isfinite(x) else 'nan'


def plot_oracle_histogram(path: PathLike, scales: np.ndarray, kept: np.ndarray,
                          title: str = 'Oracle scales', bounds: Optional[Sequence[float]] = None
                          ) -> Path:
    """Write a PNG histogram of the oracle scales (kept vs filtered) to ``path``; return it."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    path = Path(path)
    s = np.asarray(scales, dtype=np.float64)
    k = np.asarray(kept, dtype=bool)
    finite = np.isfinite(s)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    try:
        if finite.any():
            lo = float(np.min(s[finite]))
            hi = float(np.max(s[finite]))
            if bounds is not None:
                lo = min(lo, float(bounds[0]))
                hi = max(hi, float(bounds[1]))
            if hi <= lo:
                hi = lo + 1e-3
            bins = np.linspace(lo, hi, 41)
            ax.hist(s[finite & k], bins=bins, color='tab:blue',
                    label=f'kept ({int((finite & k).sum())})')
            if (finite & ~k).any():
                ax.hist(s[finite & ~k], bins=bins, color='tab:orange',
                        label=f'filtered ({int((finite & ~k).sum())})')
            ax.legend()
        else:
            ax.text(0.5, 0.5, 'no finite scales', ha='center', va='center',
                    transform=ax.transAxes)
        ax.set_xlabel('oracle scale s*')
        ax.set_ylabel('images')
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        tmp = path.with_name(path.name + '.tmp.png')
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
    return path


def _write_optional(path: Path, array: Optional[np.ndarray], shape: Tuple[int, ...],
                    dtype: Any, what: str) -> None:
    """Save an optional per-sample array as ``dtype``, or remove a stale file when it is None."""
    if array is None:
        if path.exists():
            path.unlink()   # left from an earlier run: it would be stale
        return
    arr = np.asarray(array, dtype=dtype)
    if arr.shape != shape:
        raise ValueError(f'{what} must be {shape} {np.dtype(dtype).name}, got {arr.shape}')
    atomic_save_npy(path, arr)


def write_oracle_dir(directory: PathLike, names: Sequence[str], scales: Sequence[float],
                     w1: Sequence[float], n_valid: Sequence[int], kept: Sequence[bool],
                     images: Optional[np.ndarray],
                     meta: Union['OracleMeta', Dict[str, Any], None] = None,
                     histogram: bool = True, depth_grids: Optional[np.ndarray] = None,
                     relative_depths: Optional[np.ndarray] = None) -> Path:
    """
    Write an oracle directory (see the module docstring) and return its path.

    :param directory: output folder, created if needed; existing oracle files are replaced.
    :param names: N unique sample names.
    :param scales: N oracle scales s* (dimensionless; NaN where not computable).
    :param w1: N Wasserstein-1 distances at s* (metres; NaN where not computable).
    :param n_valid: N valid-pixel counts.
    :param kept: N bools, True for samples kept by the percentile filter.
    :param images: N×240×320×3 uint8 RGB training copies aligned with ``names`` (see
        :func:`resize_for_oracle`), or None when ``images.npy`` was already written in place
        (e.g. through :func:`open_images_memmap`); its row count is then checked.
    :param meta: the :class:`OracleMeta` record (or its ``oracle.json`` dict layout);
        ``counts``, ``scale_stats``, ``created`` (if unset), ``format_version``, ``image_size``,
        ``depth_grid_size`` and ``columns`` are filled in.
    :param histogram: also write ``scale_histogram.png``.
    :param depth_grids: optional N×24×32 float32 coarse ground-truth depths in metres (see
        :func:`coarse_depth_grid`), written to ``depth_grid.npy``.
    :param relative_depths: optional N×240×320 scale-free log depths of the base model's
        predictions (``scale_net.relative_depth_copy``), written as float16 to
        ``relative_depth.npy``.
    :raises ValueError: on mismatched lengths or a bad image or depth-grid array.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = [str(n) for n in names]
    n = len(names)
    s = np.asarray(scales, dtype=np.float64).reshape(-1)
    w = np.asarray(w1, dtype=np.float64).reshape(-1)
    nv = np.asarray(n_valid, dtype=np.int64).reshape(-1)
    k = np.asarray(kept, dtype=bool).reshape(-1)
    for label, arr in (('scales', s), ('w1', w), ('n_valid', nv), ('kept', k)):
        if arr.shape[0] != n:
            raise ValueError(f'{label} has {arr.shape[0]} entries but there are {n} names')
    if len(set(names)) != n:
        raise ValueError('sample names must be unique')
    image_path = directory / IMAGES_NPY
    if images is None:
        if not image_path.is_file():
            raise ValueError(f'images is None but {image_path} does not exist')
        existing = np.load(image_path, mmap_mode='r')
        if existing.shape != (n, IMAGE_SIZE[0], IMAGE_SIZE[1], 3) or existing.dtype != np.uint8:
            raise ValueError(f'{image_path} has shape {existing.shape} dtype {existing.dtype}, '
                             f'expected ({n}, {IMAGE_SIZE[0]}, {IMAGE_SIZE[1]}, 3) uint8')
        del existing
    else:
        img = np.asarray(images)
        if img.shape != (n, IMAGE_SIZE[0], IMAGE_SIZE[1], 3) or img.dtype != np.uint8:
            raise ValueError(f'images must be ({n}, {IMAGE_SIZE[0]}, {IMAGE_SIZE[1]}, 3) uint8, '
                             f'got {img.shape} {img.dtype}')
        atomic_save_npy(image_path, img)
    _write_optional(directory / DEPTH_GRID_NPY, depth_grids, (n,) + DEPTH_GRID_SIZE,
                    np.float32, 'depth_grids')
    _write_optional(directory / RELATIVE_DEPTH_NPY, relative_depths, (n,) + IMAGE_SIZE,
                    np.float16, 'relative_depths')

    with np.errstate(divide='ignore', invalid='ignore'):
        log_s = np.where(np.isfinite(s) & (s > 0), np.log(np.where(s > 0, s, 1.0)), np.nan)
    rows = []
    for i in range(n):
        rows.append([i, names[i], _fmt_float(s[i]), _fmt_float(log_s[i]), _fmt_float(w[i]),
                     int(nv[i]), int(bool(k[i]))])
    tmp_csv = directory / (ORACLE_CSV + '.tmp')
    with open(tmp_csv, 'w', newline='', encoding='utf-8') as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp_csv, directory / ORACLE_CSV)

    finite = np.isfinite(s)
    if isinstance(meta, OracleMeta):
        record = OracleMeta(**{f.name: getattr(meta, f.name) for f in fields(OracleMeta)})
    else:
        record = OracleMeta.from_dict(dict(meta or {}), 'meta')
    record.format_version = FORMAT_VERSION
    record.columns = CSV_COLUMNS
    record.image_size = IMAGE_SIZE
    record.depth_grid_size = DEPTH_GRID_SIZE if depth_grids is not None else None
    record.counts = {'total': n, 'valid': int(finite.sum()), 'kept': int(k.sum()),
                     'filtered': int((finite & ~k).sum()), 'failed': int((~finite).sum())}
    record.scale_stats = None
    if finite.any():
        record.scale_stats = {
            'min': float(s[finite].min()), 'max': float(s[finite].max()),
            'median': float(np.median(s[finite])),
            'p5': float(np.percentile(s[finite], 5)), 'p95': float(np.percentile(s[finite], 95))}
    if record.created is None:
        record.created = datetime.datetime.now(datetime.timezone.utc).isoformat()
    if histogram:
        title = 'Oracle scales' + (' [SIMULATED base model]' if record.simulated else '')
        if record.base_model_name and record.base_model_name != 'unknown':
            title += f'\n{record.base_model_name}'
        plot_oracle_histogram(directory / HISTOGRAM_PNG, s, k, title=title,
                              bounds=record.bounds)
    elif (directory / HISTOGRAM_PNG).exists():
        (directory / HISTOGRAM_PNG).unlink()   # left from an earlier run: it would be stale
    atomic_write_text(directory / ORACLE_JSON, dumps_json(record.to_dict()))
    return directory


def commit_oracle_dir(staging: PathLike, directory: PathLike) -> Path:
    """
    Move the complete oracle directory ``staging`` into ``directory``; return ``directory``.

    ``staging`` is checked with :func:`read_oracle_dir` first, so nothing in ``directory``
    changes unless the new files are complete and agree. While the files are moved (a few
    renames on one file system) ``directory`` holds the :data:`INCOMPLETE_MARKER`, so a process
    killed half-way leaves a directory that readers refuse instead of a silent mix of old and new
    files. ``staging`` is removed afterwards; other files in ``directory`` (e.g. the prediction
    cache) are left alone.
    """
    staging, directory = Path(staging), Path(directory)
    checked = read_oracle_dir(staging, mmap=True)
    del checked
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / INCOMPLETE_MARKER
    atomic_write_text(marker, f'{directory} is being replaced by {staging}; if this file stays, '
                              'the writer was interrupted: run it again\n')
    for name in ORACLE_FILES:
        source, target = staging / name, directory / name
        if source.exists():
            os.replace(source, target)
        elif target.exists():
            target.unlink()   # an optional file the new directory does not have
    marker.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    return directory


def open_images_memmap(directory: PathLike, count: int) -> np.ndarray:
    """
    Create ``images.npy`` in ``directory`` as a writable count×240×320×3 uint8 memmap.

    Lets a writer fill the training copies row by row without holding them in memory; pass
    ``images=None`` to :func:`write_oracle_dir` afterwards.
    """
    from numpy.lib.format import open_memmap

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return open_memmap(directory / IMAGES_NPY, mode='w+', dtype=np.uint8,
                       shape=(int(count), IMAGE_SIZE[0], IMAGE_SIZE[1], 3))


def _parse_float(text: str, path: Path, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise OracleFormatError(f'{path}: line {line}: bad {column} value {text!r}') from None


def _read_optional(path: Path, n: int, dtype: Any, what: str,
                   mmap: bool) -> Optional[np.ndarray]:
    """Return an optional N×h×w per-sample array (None when ``path`` is absent); check it."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode='r' if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise OracleFormatError(f'{path}: cannot read ({exc})') from None
    if arr.ndim != 3 or arr.shape[0] != n or arr.dtype != dtype:
        raise OracleFormatError(f'{path}: expected ({n}, h, w) {what} aligned with {ORACLE_CSV}, '
                                f'got {arr.shape} {arr.dtype}')
    return arr


def read_oracle_dir(path: PathLike, mmap: bool = False, load_images: bool = True) -> OracleData:
    """
    Read an oracle directory written by :func:`write_oracle_dir`.

    :param path: the oracle directory (or its ``oracle.csv``).
    :param mmap: memory-map ``images.npy`` read-only instead of loading it.
    :param load_images: if False, ``images`` is an empty 0×240×320×3 array (CSV + JSON only).
    :raises FileNotFoundError: if the directory or one of its files is missing.
    :raises OracleFormatError: (a ValueError) if a file is malformed; the message names it.
    """
    path = Path(path)
    if path.is_file() and path.name == ORACLE_CSV:
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f'oracle directory not found: {path}')
    if (path / INCOMPLETE_MARKER).exists():
        raise OracleFormatError(
            f'oracle directory {path} is incomplete ({INCOMPLETE_MARKER} present: a '
            'generate_oracle run was interrupted while replacing its files); run '
            'generate_oracle again into it with --overwrite')
    csv_path = path / ORACLE_CSV
    json_path = path / ORACLE_JSON
    for required in (csv_path, json_path):
        if not required.is_file():
            raise FileNotFoundError(f'oracle directory {path} lacks {required.name}: {required}')
    try:
        meta = json.loads(json_path.read_text(encoding='utf-8'))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OracleFormatError(f'{json_path}: not valid JSON ({exc})') from None
    record = OracleMeta.from_dict(meta, str(json_path))

    names: List[str] = []
    cols: Dict[str, List[float]] = {'scale': [], 'log_scale': [], 'w1': [], 'n_valid': [],
                                    'kept': []}
    try:
        with open(csv_path, newline='', encoding='utf-8') as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
                raise OracleFormatError(
                    f'{csv_path}: header must be {",".join(CSV_COLUMNS)}, got {header}')
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(CSV_COLUMNS):
                    raise OracleFormatError(
                        f'{csv_path}: line {line}: expected {len(CSV_COLUMNS)} fields, got '
                        f'{len(row)}')
                index = int(_parse_float(row[0], csv_path, line, 'index'))
                if index != len(names):
                    raise OracleFormatError(
                        f'{csv_path}: line {line}: index {index}, expected {len(names)}')
                names.append(row[1])
                for col, text in zip(('scale', 'log_scale', 'w1', 'n_valid'), row[2:6]):
                    cols[col].append(_parse_float(text, csv_path, line, col))
                kept_text = row[6].strip().lower()
                if kept_text not in ('0', '1', 'true', 'false'):
                    raise OracleFormatError(f'{csv_path}: line {line}: bad kept value {row[6]!r}')
                cols['kept'].append(kept_text in ('1', 'true'))

    except UnicodeDecodeError as exc:
        raise OracleFormatError(f'{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})') \
            from None

    n = len(names)
    total = record.counts.get('total')
    if total is not None and total != n:
        raise OracleFormatError(
            f'oracle directory {path}: {ORACLE_JSON} records {total} samples but {ORACLE_CSV} '
            f'has {n} rows (files from different runs?); regenerate it')
    if not load_images and (path / IMAGES_NPY).is_file():
        try:
            header = np.load(path / IMAGES_NPY, mmap_mode='r', allow_pickle=False)
            rows = header.shape[0] if header.ndim else -1
            del header
        except (ValueError, OSError, EOFError) as exc:
            raise OracleFormatError(f'{path / IMAGES_NPY}: cannot read ({exc})') from None
        if rows != n:
            raise OracleFormatError(
                f'{path / IMAGES_NPY}: {rows} rows but {ORACLE_CSV} has {n} (files from '
                'different runs?); regenerate the oracle directory')
    if load_images:
        img_path = path / IMAGES_NPY
        if not img_path.is_file():
            raise FileNotFoundError(f'oracle directory {path} lacks {IMAGES_NPY}: {img_path}')
        try:
            images = np.load(img_path, mmap_mode='r' if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise OracleFormatError(f'{img_path}: cannot read ({exc})') from None
        if images.ndim != 4 or images.shape[0] != n or images.shape[3] != 3 \
                or images.dtype != np.uint8:
            raise OracleFormatError(
                f'{img_path}: expected ({n}, H, W, 3) uint8 aligned with {ORACLE_CSV}, '
                f'got {images.shape} {images.dtype}')
    else:
        images = np.zeros((0, IMAGE_SIZE[0], IMAGE_SIZE[1], 3), dtype=np.uint8)

    grid_path = path / DEPTH_GRID_NPY
    if record.format_version >= 2 and (record.depth_grid_size is not None) != grid_path.is_file():
        raise OracleFormatError(
            f'oracle directory {path}: {ORACLE_JSON} says depth_grid_size '
            f'{record.depth_grid_size} but {DEPTH_GRID_NPY} is '
            f'{"present" if grid_path.is_file() else "missing"} (files from different runs?)')
    depth_grids = _read_optional(grid_path, n, np.float32, 'float32 metres', mmap=False)
    relative_depths = _read_optional(path / RELATIVE_DEPTH_NPY, n, np.float16, 'float16', mmap)

    return OracleData(
        names=names,
        scales=np.asarray(cols['scale'], dtype=np.float64),
        log_scales=np.asarray(cols['log_scale'], dtype=np.float64),
        w1=np.asarray(cols['w1'], dtype=np.float64),
        n_valid=np.asarray(cols['n_valid'], dtype=np.int64),
        kept=np.asarray(cols['kept'], dtype=bool),
        images=images,
        meta=meta,
        path=path,
        depth_grids=depth_grids,
        relative_depths=relative_depths,
    )


def concat_oracles(parts: Sequence[OracleData]) -> OracleData:
    """
    Return one :class:`OracleData` holding the rows of ``parts`` in order (several recordings).

    Each part keeps its own s*, percentile filter (``kept``) and dataset options; the parts must
    share the base model (``model_key``, else name and the simulated flag) and the size of the
    training copies, and no sample name may repeat. ``depth_grids`` and ``relative_depths`` are
    kept only when every part has them. ``meta`` is the first part's record with the dataset
    specs joined by ``' + '``, the counts summed and ``sources`` listing each part's directory,
    spec, options and rows.

    :raises OracleFormatError: (a ValueError) naming the parts that do not fit together.
    """
    parts = list(parts)
    if not parts:
        raise OracleFormatError('no oracle directory given')
    if len(parts) == 1:
        return parts[0]
    first, where = parts[0].record, [str(p.path or f'part {i + 1}') for i, p in enumerate(parts)]
    for part, name in zip(parts[1:], where[1:]):
        rec = part.record
        same = (rec.model_key == first.model_key if rec.model_key and first.model_key
                else (rec.base_model_name, rec.simulated)
                == (first.base_model_name, first.simulated))
        if not same:
            raise OracleFormatError(
                f'{name} was made for base model {rec.base_model_name} ({rec.model_key}) and '
                f'{where[0]} for {first.base_model_name} ({first.model_key}): a scale network '
                'learns the scale of one base model; generate every oracle directory with the '
                'same model and settings')
        if part.images.shape[1:] != parts[0].images.shape[1:]:
            raise OracleFormatError(
                f'{name} holds {part.images.shape[1:3]} training copies and {where[0]} '
                f'{parts[0].images.shape[1:3]}; regenerate them with one version of '
                'generate_oracle')
    names = [n for p in parts for n in p.names]
    unique, counts = np.unique(names, return_counts=True)
    if (counts > 1).any():
        raise OracleFormatError(
            f'sample {str(unique[counts > 1][0])!r} is in more than one of '
            f'{", ".join(where)} (the same directory twice, or two recordings with the same '
            'folder name)')

    def joined(attr: str) -> Optional[np.ndarray]:
        arrays = [getattr(p, attr) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    meta = dict(parts[0].meta)
    meta['dataset'] = {'spec': ' + '.join(str(p.record.dataset_spec) for p in parts),
                       'options': {}, 'limit': None}
    meta['sources'] = [{'path': w, 'spec': p.record.dataset_spec,
                        'options': p.record.dataset_options, 'rows': len(p)}
                       for w, p in zip(where, parts)]
    meta['counts'] = {k: sum(p.record.counts.get(k, 0) for p in parts) for k in first.counts}
    meta['prediction_cache'] = None
    return OracleData(
        names=names,
        **{attr: np.concatenate([getattr(p, attr) for p in parts])
           for attr in ('scales', 'log_scales', 'w1', 'n_valid', 'kept', 'images')},
        meta=meta, path=None,
        depth_grids=joined('depth_grids'), relative_depths=joined('relative_depths'))
