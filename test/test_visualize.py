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

"""Tests of depth colourisation, PLY I/O and the plots."""

from adaptive_depth import visualize
import cv2
import matplotlib
import numpy as np
import pytest


def _ramp(h=24, w=32):
    depth = np.tile(np.linspace(1.0, 5.0, w), (h, 1))
    depth[0, 0] = np.nan
    depth[1, 1] = 0.0
    return depth


def _read_png(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f'{path} is not a readable PNG'
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert image.std() > 1.0, f'{path} is blank'
    return image


def test_colorize_depth_endpoints_and_invalid():
    depth = _ramp()
    rgb = visualize.colorize_depth(depth)
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 0).all() and (rgb[1, 1] == 0).all()
    turbo = matplotlib.colormaps['turbo']
    start = np.round(np.array(turbo(0.0)[:3]) * 255)
    end = np.round(np.array(turbo(1.0)[:3]) * 255)
    np.testing.assert_allclose(rgb[5, 0], start, atol=1)
    np.testing.assert_allclose(rgb[5, -1], end, atol=1)
    assert len(np.unique(rgb[5].reshape(-1, 3), axis=0)) > 20
    # Explicit range: values beyond it saturate to the end colours.
    clipped = visualize.colorize_depth(depth, vmin=2.0, vmax=3.0)
    np.testing.assert_array_equal(clipped[5, -1], clipped[5, -3])
    np.testing.assert_allclose(clipped[5, 0], start, atol=1)


def test_colorize_depth_edge_cases():
    assert (visualize.colorize_depth(np.full((4, 5), np.nan)) == 0).all()
    constant = visualize.colorize_depth(np.full((4, 5), 2.0))
    assert (constant == constant[0, 0]).all() and constant[0, 0].any()
    with pytest.raises(ValueError, match='H×W'):
        visualize.colorize_depth(np.ones((4, 5, 3)))
    with pytest.raises(ValueError, match='colormap'):
        visualize.colorize_depth(np.ones((4, 5)), cmap='not-a-cmap')


def test_save_depth_png_is_rgb_order(tmp_path):
    depth = _ramp(60, 80)
    path = visualize.save_depth_png(tmp_path / 'sub' / 'depth.png', depth, cmap='viridis')
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(bgr[..., ::-1], visualize.colorize_depth(depth, cmap='viridis'))


def test_save_depth_figure(tmp_path):
    path = visualize.save_depth_figure(tmp_path / 'fig.png', _ramp(120, 160), title='ramp')
    _read_png(path)


def test_ply_round_trip_organised_with_colors(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(6, 8, 3)).astype(np.float32)
    points[2, 3] = np.nan
    points[4, 1, 2] = np.inf
    colors = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    path = visualize.write_ply(tmp_path / 'cloud.ply', points, colors)
    with open(path, 'rb') as f:
        head = f.read(60)
    assert head.startswith(b'ply\nformat binary_little_endian 1.0\n')
    pts, cols = visualize.read_ply(path)
    keep = np.isfinite(points.reshape(-1, 3)).all(axis=1)
    assert pts.shape == (46, 3) and keep.sum() == 46
    np.testing.assert_array_equal(pts, points.reshape(-1, 3)[keep])
    np.testing.assert_array_equal(cols, colors.reshape(-1, 3)[keep])


def test_ply_round_trip_without_and_with_float_colors(tmp_path):
    points = np.arange(12, dtype=np.float64).reshape(4, 3)
    pts, cols = visualize.read_ply(visualize.write_ply(tmp_path / 'a.ply', points))
    assert cols is None
    np.testing.assert_array_equal(pts, points.astype(np.float32))
    float_colors = np.array([[0.0, 0.5, 1.0]] * 4)
    _, cols = visualize.read_ply(visualize.write_ply(tmp_path / 'b.ply', points, float_colors))
    assert cols.tolist() == [[0, 128, 255]] * 4


def test_ply_errors(tmp_path):
    with pytest.raises(ValueError, match='N×3'):
        visualize.write_ply(tmp_path / 'x.ply', np.ones((4, 2)))
    with pytest.raises(ValueError, match='colors shape'):
        visualize.write_ply(tmp_path / 'x.ply', np.ones((4, 3)), np.ones((3, 3), np.uint8))
    with pytest.raises(FileNotFoundError):
        visualize.read_ply(tmp_path / 'missing.ply')
    (tmp_path / 'bad.ply').write_bytes(b'not a ply\n')
    with pytest.raises(ValueError, match='not a PLY'):
        visualize.read_ply(tmp_path / 'bad.ply')
    (tmp_path / 'ascii.ply').write_bytes(
        b'ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n'
        b'property float z\nend_header\n1 2 3\n')
    with pytest.raises(ValueError, match='binary_little_endian'):
        visualize.read_ply(tmp_path / 'ascii.ply')


def test_scale_plots(tmp_path):
    rng = np.random.default_rng(1)
    scales = rng.lognormal(0.0, 0.3, size=300)
    keep = (scales > np.percentile(scales, 5)) & (scales < np.percentile(scales, 95))
    _read_png(visualize.plot_scale_histogram(tmp_path / 'hist.png', scales, keep))
    _read_png(visualize.plot_scale_histogram(tmp_path / 'hist_all.png', scales))
    learned = scales * rng.lognormal(0.0, 0.05, size=scales.size)
    _read_png(visualize.plot_scale_scatter(tmp_path / 'scatter.png', scales, learned,
                                           title='learned vs oracle'))
    with pytest.raises(ValueError, match='kept_mask'):
        visualize.plot_scale_histogram(tmp_path / 'h.png', scales, keep[:10])
    with pytest.raises(ValueError, match='equal length'):
        visualize.plot_scale_scatter(tmp_path / 's.png', scales, learned[:5])


def test_loss_and_timeline_plots(tmp_path):
    epochs = np.arange(1, 41)
    train = 0.5 * np.exp(-epochs / 10.0) + 0.01
    _read_png(visualize.plot_loss_curves(tmp_path / 'loss.png', train, epochs[::5],
                                         train[::5] * 1.3, title='Fig. 2'))
    t = np.linspace(0.0, 10.0, 50)
    series = {'scale': 1.0 + 0.1 * np.sin(t), 'latency [ms]': 30.0 + t}
    _read_png(visualize.plot_metric_timeline(tmp_path / 'timeline.png', t, series))
    with pytest.raises(ValueError, match='lengths differ'):
        visualize.plot_loss_curves(tmp_path / 'l.png', train, [1, 2], [0.1])
    with pytest.raises(ValueError, match="series 'scale'"):
        visualize.plot_metric_timeline(tmp_path / 't.png', t[:10], series)


def test_render_cloud_overlay(tmp_path):
    h, w = 48, 64
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    z = 2.0 + 2.0 * rows / h
    gt = np.stack([(cols - w / 2) / 50.0 * z, (rows - h / 2) / 50.0 * z, z], axis=-1)
    gt[:5, :5] = np.nan
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = (cols * 4).astype(np.uint8)
    rgb[..., 1] = (rows * 5).astype(np.uint8)
    clouds = {'unscaled': gt * 0.6, 'oracle': gt * 0.98, 'learned': gt * 1.05}
    path = visualize.render_cloud_overlay(tmp_path / 'overlay.png', gt, rgb, clouds, stride=2,
                                          title='overlay')
    image = _read_png(path)
    assert image.shape[1] > 2 * image.shape[0]  # three panels side by side
    with pytest.raises(ValueError, match='gt_rgb shape'):
        visualize.render_cloud_overlay(tmp_path / 'x.png', gt, rgb[:10], clouds)
    with pytest.raises(ValueError, match="cloud 'bad'"):
        visualize.render_cloud_overlay(tmp_path / 'x.png', gt, rgb, {'bad': gt[..., :2]})
    with pytest.raises(ValueError, match='stride'):
        visualize.render_cloud_overlay(tmp_path / 'x.png', gt, rgb, clouds, stride=0)
