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
Visualisation helpers: colourised depth, PLY point clouds and the paper's plots.

Plots use matplotlib's object API with the Agg canvas (no pyplot, no global backend change) and
are written as PNG.  Depth is in metres, H×W; invalid depth (NaN, non-finite, <= 0) is drawn
black.  Point arrays are N×3 or organised H×W×3 (x right, y down, z forward, metres).  Every
writer creates missing parent folders and returns the path written.
"""

import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import cv2
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
import numpy as np
from numpy.typing import ArrayLike

PathLike = Union[str, os.PathLike]

_PLY_TYPES = {
    'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1', 'short': 'i2', 'int16': 'i2',
    'ushort': 'u2', 'uint16': 'u2', 'int': 'i4', 'int32': 'i4', 'uint': 'u4', 'uint32': 'u4',
    'float': 'f4', 'float32': 'f4', 'double': 'f8', 'float64': 'f8',
}
_CLOUD_COLORS = ('#e41a1c', '#377eb8', '#4daf4a', '#984ea3', '#ff7f00', '#a65628', '#f781bf')


def _prepare_path(path: PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _new_figure(figsize: Tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike) -> Path:
    out = _prepare_path(path)
    fig.savefig(str(out), format='png', bbox_inches='tight')
    return out


def _depth_2d(depth: ArrayLike) -> np.ndarray:
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f'depth must be an H×W array, got shape {d.shape}')
    return d


def _range(d: np.ndarray, valid: np.ndarray, vmin: Optional[float],
           vmax: Optional[float]) -> Tuple[float, float]:
    lo = float(vmin) if vmin is not None else (float(d[valid].min()) if valid.any() else 0.0)
    hi = float(vmax) if vmax is not None else (float(d[valid].max()) if valid.any() else 1.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f'vmin/vmax must be finite, got {vmin}, {vmax}')
    if hi <= lo:
        hi = lo + 1e-6
    return lo, hi


def colorize_depth(depth: ArrayLike, vmin: Optional[float] = None, vmax: Optional[float] = None,
                   cmap: str = 'turbo') -> np.ndarray:
    """
    Return an H×W×3 uint8 RGB colourisation of an H×W depth map (metres).

    :param depth: H×W depth in metres; NaN / non-finite / <= 0 pixels become black.
    :param vmin: depth mapped to the colormap's start (default: smallest valid depth).
    :param vmax: depth mapped to the colormap's end (default: largest valid depth).
    :param cmap: matplotlib colormap name.
    """
    d = _depth_2d(depth)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(d) & (d > 0)
    lo, hi = _range(d, valid, vmin, vmax)
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError as exc:
        raise ValueError(f'unknown matplotlib colormap {cmap!r}') from exc
    lut = (colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)
    normalised = np.clip((np.where(valid, d, lo) - lo) / (hi - lo), 0.0, 1.0)
    rgb = lut[np.rint(normalised * 255.0).astype(np.intp)]
    rgb[~valid] = 0
    return rgb


def save_depth_png(path: PathLike, depth: ArrayLike, vmin: Optional[float] = None,
                   vmax: Optional[float] = None, cmap: str = 'turbo') -> Path:
    """Write the colourised H×W depth (metres) as an H×W PNG (no axes); return the path."""
    rgb = colorize_depth(depth, vmin, vmax, cmap)
    out = _prepare_path(path)
    if not cv2.imwrite(str(out), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write PNG to {out}')
    return out


def save_depth_figure(path: PathLike, depth: ArrayLike, vmin: Optional[float] = None,
                      vmax: Optional[float] = None, cmap: str = 'turbo',
                      title: Optional[str] = None, label: str = 'depth [m]') -> Path:
    """Write the H×W depth (metres) as a matplotlib figure with a colour bar; return the path."""
    d = _depth_2d(depth)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(d) & (d > 0)
    lo, hi = _range(d, valid, vmin, vmax)
    colormap = matplotlib.colormaps[cmap].with_extremes(bad='black')
    h, w = d.shape
    fig = _new_figure((6.4, 6.4 * h / max(w, 1) + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(np.ma.masked_array(d, ~valid), cmap=colormap, vmin=lo, vmax=hi,
                      interpolation='nearest')
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    return _save(fig, path)


def write_ply(path: PathLike, points: ArrayLike, colors: Optional[ArrayLike] = None) -> Path:
    """
    Write a binary little-endian PLY point cloud; rows with a non-finite coordinate are dropped.

    :param points: N×3 or H×W×3 coordinates (metres), written as float32 x, y, z.
    :param colors: optional matching N×3 / H×W×3 RGB, uint8 or floats in [0, 1], written as uchar
        red, green, blue.
    :returns: the path written.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim < 2 or pts.shape[-1] != 3:
        raise ValueError(f'points must be N×3 or H×W×3, got shape {pts.shape}')
    pts = pts.reshape(-1, 3)
    keep = np.isfinite(pts).all(axis=1)
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
    col = None
    if colors is not None:
        col = np.asarray(colors)
        if col.shape[-1:] != (3,) or col.size != pts.size:
            raise ValueError(f'colors shape {col.shape} does not match points shape '
                             f'{np.shape(points)}')
        col = col.reshape(-1, 3)
        if col.dtype != np.uint8:
            col = np.clip(np.rint(col.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    vertices = np.empty(int(keep.sum()), dtype=np.dtype(fields))
    vertices['x'], vertices['y'], vertices['z'] = pts[keep].T
    if col is not None:
        vertices['red'], vertices['green'], vertices['blue'] = col[keep].T
    header = ['ply', 'format binary_little_endian 1.0', 'comment written by adaptive_depth',
              f'element vertex {vertices.size}', 'property float x', 'property float y',
              'property float z']
    if col is not None:
        header += ['property uchar red', 'property uchar green', 'property uchar blue']
    header.append('end_header')
    out = _prepare_path(path)
    with open(out, 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode('ascii'))
        f.write(vertices.tobytes())
    return out


def read_ply(path: PathLike) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """
    Read a binary little-endian PLY vertex list (as written by :func:`write_ply`).

    :returns: ``(points N×3 float32, colors N×3 uint8 or None)``.
    :raises FileNotFoundError: if the file does not exist.
    :raises ValueError: if the file is not a supported PLY.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f'PLY file not found: {p}')
    with open(p, 'rb') as f:
        if f.readline().strip() != b'ply':
            raise ValueError(f'{p} is not a PLY file (missing "ply" magic)')
        count = None
        fields = []
        in_vertex = False
        fmt = None
        while True:
            line = f.readline()
            if not line:
                raise ValueError(f'{p}: PLY header has no end_header')
            words = line.decode('ascii', errors='replace').split()
            if not words or words[0] == 'comment':
                continue
            if words[0] == 'end_header':
                break
            if words[0] == 'format':
                fmt = words[1]
            elif words[0] == 'element':
                in_vertex = words[1] == 'vertex'
                if in_vertex:
                    count = int(words[2])
                elif count is None:
                    raise ValueError(f'{p}: elements before "vertex" are not supported')
            elif words[0] == 'property' and in_vertex:
                if words[1] == 'list' or words[1] not in _PLY_TYPES:
                    raise ValueError(f'{p}: unsupported vertex property {" ".join(words[1:])}')
                fields.append((words[2], '<' + _PLY_TYPES[words[1]]))
        if fmt != 'binary_little_endian':
            raise ValueError(f'{p}: only binary_little_endian PLY is supported, got {fmt}')
        if count is None:
            raise ValueError(f'{p}: PLY has no vertex element')
        dtype = np.dtype(fields)
        data = f.read(count * dtype.itemsize)
    if len(data) < count * dtype.itemsize:
        raise ValueError(f'{p}: truncated PLY ({len(data)} of {count * dtype.itemsize} bytes)')
    vertices = np.frombuffer(data, dtype=dtype, count=count)
    names = dtype.names or ()
    if not {'x', 'y', 'z'} <= set(names):
        raise ValueError(f'{p}: PLY vertices lack x, y, z')
    pts = np.stack([vertices['x'], vertices['y'], vertices['z']], axis=1).astype(np.float32)
    colors = None
    if {'red', 'green', 'blue'} <= set(names):
        colors = np.stack([vertices['red'], vertices['green'], vertices['blue']],
                          axis=1).astype(np.uint8)
    return pts, colors


def plot_scale_histogram(path: PathLike, scales: ArrayLike,
                         kept_mask: Optional[ArrayLike] = None, bins: int = 50,
                         title: Optional[str] = None) -> Path:
    """
    Plot a histogram of scales (dimensionless), kept and discarded samples stacked.

    :param scales: N scales.
    :param kept_mask: optional N bool keep-mask (e.g. from ``oracle.percentile_mask``).
    """
    s = np.asarray(scales, dtype=np.float64).ravel()
    finite = np.isfinite(s)
    if not finite.any():
        raise ValueError('plot_scale_histogram needs at least one finite scale')
    fig = _new_figure((6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    edges = np.histogram_bin_edges(s[finite], bins=bins)
    if kept_mask is None:
        ax.hist(s[finite], bins=edges, color='#377eb8', label=f'all (n={finite.sum()})')
    else:
        keep = np.asarray(kept_mask, dtype=bool).ravel()
        if keep.shape != s.shape:
            raise ValueError(f'kept_mask length {keep.size} does not match {s.size} scales')
        kept, dropped = s[finite & keep], s[finite & ~keep]
        ax.hist([kept, dropped], bins=edges, stacked=True, color=['#377eb8', '#e41a1c'],
                label=[f'kept (n={kept.size})', f'discarded (n={dropped.size})'])
    ax.set_xlabel('scale s')
    ax.set_ylabel('count')
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_loss_curves(path: PathLike, train_losses: Sequence[float], val_epochs: Sequence[float],
                     val_losses: Sequence[float],
                     train_epochs: Optional[Sequence[float]] = None,
                     title: Optional[str] = None) -> Path:
    """
    Plot training and validation loss against epochs on a log y axis (the paper's Fig. 2).

    :param train_losses: training loss per epoch (epochs 1..N unless ``train_epochs`` is given).
    :param val_epochs: epochs at which validation ran.
    :param val_losses: validation losses at ``val_epochs``.
    """
    train = np.asarray(train_losses, dtype=np.float64).ravel()
    val_x = np.asarray(val_epochs, dtype=np.float64).ravel()
    val = np.asarray(val_losses, dtype=np.float64).ravel()
    if val_x.shape != val.shape:
        raise ValueError(f'val_epochs and val_losses lengths differ: {val_x.size} vs {val.size}')
    train_x = (np.arange(1, train.size + 1, dtype=np.float64) if train_epochs is None
               else np.asarray(train_epochs, dtype=np.float64).ravel())
    if train_x.shape != train.shape:
        raise ValueError(f'train_epochs and train_losses lengths differ: {train_x.size} vs '
                         f'{train.size}')
    if train.size + val.size == 0:
        raise ValueError('plot_loss_curves needs at least one loss value')
    fig = _new_figure((6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(train_x, train, color='#377eb8', label='training loss')
    ax.plot(val_x, val, 'o-', color='#e41a1c', markersize=3, label='validation loss')
    ax.set_yscale('log')
    ax.set_xlabel('epoch')
    ax.set_ylabel('loss')
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3, which='both')
    return _save(fig, path)


def plot_scale_scatter(path: PathLike, oracle: ArrayLike, learned: ArrayLike,
                       title: Optional[str] = None) -> Path:
    """Scatter learned against oracle scales (N each) with the identity line and the MAE."""
    o = np.asarray(oracle, dtype=np.float64).ravel()
    p = np.asarray(learned, dtype=np.float64).ravel()
    if o.shape != p.shape or o.size == 0:
        raise ValueError(f'oracle and learned must be non-empty and equal length, got {o.size} '
                         f'and {p.size}')
    finite = np.isfinite(o) & np.isfinite(p)
    fig = _new_figure((5.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(o[finite], p[finite], s=8, alpha=0.6, color='#377eb8', label='samples')
    if finite.any():
        lo = min(o[finite].min(), p[finite].min())
        hi = max(o[finite].max(), p[finite].max())
        ax.plot([lo, hi], [lo, hi], 'k--', linewidth=1, label='learned = oracle')
        mae = float(np.mean(np.abs(o[finite] - p[finite])))
        summary = f'MAE {mae:.4f} (n={int(finite.sum())})'
        ax.set_title(f'{title}\n{summary}' if title else summary)
    ax.set_xlabel('oracle scale s*')
    ax.set_ylabel('learned scale')
    ax.set_aspect('equal', adjustable='datalim')
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_metric_timeline(path: PathLike, t: ArrayLike, series: Mapping[str, ArrayLike],
                         xlabel: str = 'time [s]', title: Optional[str] = None) -> Path:
    """Plot each named series (same length as ``t``) against ``t``, one stacked panel each."""
    x = np.asarray(t, dtype=np.float64).ravel()
    if not series:
        raise ValueError('plot_metric_timeline needs at least one series')
    fig = _new_figure((7.0, 1.9 * len(series) + 0.6))
    axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, (name, values)) in enumerate(zip(axes, series.items())):
        y = np.asarray(values, dtype=np.float64).ravel()
        if y.shape != x.shape:
            raise ValueError(f'series {name!r} has {y.size} values but t has {x.size}')
        ax.plot(x, y, color=_CLOUD_COLORS[i % len(_CLOUD_COLORS)])
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    if title:
        axes[0].set_title(title)
    return _save(fig, path)


def _cloud_rows(points: ArrayLike, stride: int, name: str) -> Tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise ValueError(f'{name} must be an H×W×3 organised cloud, got shape {pts.shape}')
    sub = pts[::stride, ::stride].reshape(-1, 3)
    keep = np.isfinite(sub).all(axis=1)
    return sub[keep], keep


def render_cloud_overlay(path: PathLike, gt_points: ArrayLike, gt_rgb: ArrayLike,
                         clouds: Dict[str, ArrayLike], stride: int = 4,
                         title: Optional[str] = None) -> Path:
    """
    Render the paper's Fig. 3: the ground-truth cloud in its RGB colours overlaid with others.

    Three panels: top-down (x–z), side (z–y, y up on screen) and a 3-D view.  Each cloud of
    ``clouds`` (e.g. ``{'unscaled': ..., 'oracle': ..., 'learned': ...}``) is drawn in its own
    colour and named in the legend.

    :param gt_points: H×W×3 ground-truth points (metres, camera frame, NaN invalid).
    :param gt_rgb: H×W×3 uint8 colours of the ground-truth points.
    :param clouds: name → H×W×3 points (metres) to overlay.
    :param stride: sample every ``stride``-th row and column.
    """
    stride = int(stride)
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    rgb = np.asarray(gt_rgb)
    gt_shape = np.shape(gt_points)
    if rgb.shape != gt_shape:
        raise ValueError(f'gt_rgb shape {rgb.shape} does not match gt_points shape {gt_shape}')
    gt, keep = _cloud_rows(gt_points, stride, 'gt_points')
    gt_colors = rgb[::stride, ::stride].reshape(-1, 3)[keep]
    gt_colors = (gt_colors.astype(np.float64) / 255.0 if gt_colors.dtype == np.uint8
                 else np.clip(gt_colors.astype(np.float64), 0.0, 1.0))
    others = [(name, _cloud_rows(pts, stride, f'cloud {name!r}')[0])
              for name, pts in clouds.items()]
    gt_size = float(np.clip(12000.0 / max(gt.shape[0], 1), 0.4, 8.0))
    size = 0.5 * gt_size
    fig = _new_figure((16.0, 5.4))
    views = (('top-down view', 0, 2, 'x [m]', 'z [m]', 1.0),
             ('side view', 2, 1, 'z [m]', 'y [m] (up)', -1.0))
    for k, (name, a, b, xlabel, ylabel, sign) in enumerate(views):
        ax = fig.add_subplot(1, 3, k + 1)
        ax.scatter(gt[:, a], sign * gt[:, b], s=gt_size, c=gt_colors, linewidths=0)
        for i, (_, pts) in enumerate(others):
            ax.scatter(pts[:, a], sign * pts[:, b], s=size, alpha=0.5, linewidths=0,
                       color=_CLOUD_COLORS[i % len(_CLOUD_COLORS)])
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_aspect('equal', adjustable='datalim')
        ax.grid(alpha=0.3)
    ax3 = fig.add_subplot(1, 3, 3, projection='3d')
    ax3.scatter(gt[:, 0], gt[:, 2], -gt[:, 1], s=gt_size, c=gt_colors, linewidths=0,
                depthshade=False)
    for i, (_, pts) in enumerate(others):
        ax3.scatter(pts[:, 0], pts[:, 2], -pts[:, 1], s=size, alpha=0.5, linewidths=0,
                    color=_CLOUD_COLORS[i % len(_CLOUD_COLORS)], depthshade=False)
    ax3.set_xlabel('x [m]')
    ax3.set_ylabel('z [m]')
    ax3.set_zlabel('y [m] (up)')
    ax3.view_init(elev=20.0, azim=-60.0)
    ax3.set_title('3-D view')
    handles = [Line2D([], [], marker='o', linestyle='', color='0.45',
                      label=f'ground truth (RGB, {gt.shape[0]} pts)')]
    handles += [Line2D([], [], marker='o', linestyle='', color=_CLOUD_COLORS[i % len(
        _CLOUD_COLORS)], label=f'{name} ({pts.shape[0]} pts)') for i, (name, pts) in
        enumerate(others)]
    fig.legend(handles=handles, loc='lower center', ncol=len(handles), frameon=False)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(bottom=0.14)
    return _save(fig, path)
