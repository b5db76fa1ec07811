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
    scale_histogram.png   histogram of the oracle scales (kept vs filtered)

``scale`` is the dimensionless oracle scale s*, ``log_scale`` its natural log, ``w1`` the
Wasserstein-1 distance at s* in metres, ``n_valid`` the number of valid pixels used, ``kept`` 1 if
the sample survived the percentile filter (0 otherwise). A sample whose scale could not be
computed (no valid depth) has ``scale = nan`` and ``kept = 0``.
"""

import csv
from dataclasses import dataclass, field
import datetime
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, Path]

ORACLE_CSV = 'oracle.csv'
ORACLE_JSON = 'oracle.json'
IMAGES_NPY = 'images.npy'
HISTOGRAM_PNG = 'scale_histogram.png'
CSV_COLUMNS: Tuple[str, ...] = ('index', 'name', 'scale', 'log_scale', 'w1', 'n_valid', 'kept')
DEPTH_GRID_NPY = 'depth_grid.npy'
IMAGE_SIZE: Tuple[int, int] = (240, 320)
"""(height, width) of the training copies in ``images.npy``."""
DEPTH_GRID_SIZE: Tuple[int, int] = (24, 32)
"""(height, width) of the coarse ground-truth depth grids in ``depth_grid.npy``."""
FORMAT_VERSION = 1


class OracleFormatError(ValueError):
    """An oracle directory is missing a file or a file is malformed (the message names it)."""


@dataclass
class OracleData:
    """
    The contents of an oracle directory.

    ``names`` (N str), ``scales`` (N float64, dimensionless s*), ``log_scales`` (N float64),
    ``w1`` (N float64 metres), ``n_valid`` (N int64), ``kept`` (N bool), ``images``
    (N×240×320×3 uint8 RGB, memory-mapped read-only when read with ``mmap=True``) and ``meta``
    (the parsed ``oracle.json``). ``depth_grids`` is the N×24×32 float32 coarse ground-truth
    depth (metres, NaN for cells without enough valid pixels) or None when the directory has no
    ``depth_grid.npy`` (written by ``generate_oracle`` from 0.2.0 on).
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

    def __len__(self) -> int:
        """Return the number of samples N (all rows, kept or not)."""
        return len(self.names)

    @property
    def simulated(self) -> bool:
        """Return True if the scales come from the simulated base model (not a real network)."""
        return bool(self.meta.get('base_model', {}).get('simulated', False))

    @property
    def base_model_name(self) -> str:
        """Return the name of the base depth model the scales were computed for."""
        return str(self.meta.get('base_model', {}).get('name', 'unknown'))

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


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'wb') as fh:
        np.save(fh, np.ascontiguousarray(array))
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(text, encoding='utf-8')
    os.replace(tmp, path)


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(key): _finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(value) for value in obj]
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


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


def write_oracle_dir(directory: PathLike, names: Sequence[str], scales: Sequence[float],
                     w1: Sequence[float], n_valid: Sequence[int], kept: Sequence[bool],
                     images: Optional[np.ndarray], meta: Optional[Dict[str, Any]] = None,
                     histogram: bool = True, depth_grids: Optional[np.ndarray] = None) -> Path:
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
    :param meta: extra JSON-serialisable metadata (dataset spec and options, ``base_model``
        ``{'name', 'simulated'}``, ``prediction_cache``, ``bounds``, ``percentile_filter``...);
        ``counts``, ``created``, ``format_version``, ``image_size`` and ``columns`` are filled in.
    :param histogram: also write ``scale_histogram.png``.
    :param depth_grids: optional N×24×32 float32 coarse ground-truth depths in metres (see
        :func:`coarse_depth_grid`), written to ``depth_grid.npy``.
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
        _atomic_save_npy(image_path, img)
    if depth_grids is not None:
        grids = np.asarray(depth_grids, dtype=np.float32)
        if grids.shape != (n,) + DEPTH_GRID_SIZE:
            raise ValueError(f'depth_grids must be ({n}, {DEPTH_GRID_SIZE[0]}, '
                             f'{DEPTH_GRID_SIZE[1]}) float32 metres, got {grids.shape}')
        _atomic_save_npy(directory / DEPTH_GRID_NPY, grids)
    elif (directory / DEPTH_GRID_NPY).exists():
        (directory / DEPTH_GRID_NPY).unlink()   # left from an earlier run: it would be stale

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
    info: Dict[str, Any] = dict(meta or {})
    info['format_version'] = FORMAT_VERSION
    info['columns'] = list(CSV_COLUMNS)
    info['image_size'] = list(IMAGE_SIZE)
    if depth_grids is not None:
        info['depth_grid_size'] = list(DEPTH_GRID_SIZE)
    info['counts'] = {'total': n, 'valid': int(finite.sum()), 'kept': int(k.sum()),
                      'filtered': int((finite & ~k).sum()), 'failed': int((~finite).sum())}
    if finite.any():
        info['scale_stats'] = {
            'min': float(s[finite].min()), 'max': float(s[finite].max()),
            'median': float(np.median(s[finite])),
            'p5': float(np.percentile(s[finite], 5)), 'p95': float(np.percentile(s[finite], 95))}
    info.setdefault('created', datetime.datetime.now(datetime.timezone.utc).isoformat())
    plain = _finite_or_none(json.loads(json.dumps(info, default=_json_default)))
    info = plain
    _atomic_write_text(directory / ORACLE_JSON,
                       json.dumps(plain, indent=2, allow_nan=False) + '\n')
    if histogram:
        model = info.get('base_model', {}) if isinstance(info.get('base_model'), dict) else {}
        title = 'Oracle scales' + (' [SIMULATED base model]' if model.get('simulated') else '')
        if model.get('name'):
            title += f"\n{model['name']}"
        plot_oracle_histogram(directory / HISTOGRAM_PNG, s, k, title=title,
                              bounds=info.get('bounds'))
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
    csv_path = path / ORACLE_CSV
    json_path = path / ORACLE_JSON
    for required in (csv_path, json_path):
        if not required.is_file():
            raise FileNotFoundError(f'oracle directory {path} lacks {required.name}: {required}')
    try:
        meta = json.loads(json_path.read_text(encoding='utf-8'))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OracleFormatError(f'{json_path}: not valid JSON ({exc})') from None
    if not isinstance(meta, dict):
        raise OracleFormatError(f'{json_path}: expected a JSON object')

    names: List[str] = []
    cols: Dict[str, List[float]] = {'scale': [], 'log_scale': [], 'w1': [], 'n_valid': [],
                                    'kept': []}
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
                    f'{csv_path}: line {line}: expected {len(CSV_COLUMNS)} fields, got {len(row)}')
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

    n = len(names)
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

    depth_grids = None
    grid_path = path / DEPTH_GRID_NPY
    if grid_path.is_file():
        try:
            depth_grids = np.load(grid_path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise OracleFormatError(f'{grid_path}: cannot read ({exc})') from None
        if depth_grids.ndim != 3 or depth_grids.shape[0] != n \
                or depth_grids.dtype != np.float32:
            raise OracleFormatError(
                f'{grid_path}: expected ({n}, h, w) float32 metres aligned with {ORACLE_CSV}, '
                f'got {depth_grids.shape} {depth_grids.dtype}')

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
    )
