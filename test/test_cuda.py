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
The CUDA path against the CPU path (marker ``cuda``; skipped where torch sees no CUDA device).

Run on a GPU machine by ``benchmarks/gpu_check.sh``; needs no rclpy. The CPU results are the
reference: the frame processor on the device must give the same depth, points and packed cloud
bytes within float tolerances, fp16 autocast must stay close to fp32, the CUDA-graph replay and
``torch.compile`` must match the eager forward, and the scale network must agree. ``DEV`` is
the device under test (one name, so the logic can be dry-run on the CPU).
"""

import copy

from adaptive_depth.depth_model import (DepthAnythingRunner, IMAGENET_MEAN, IMAGENET_STD,
                                        normalisation_constants, resize_normalise)
from adaptive_depth.frame_processor import FrameProcessor, organised_cloud
from adaptive_depth.geometry import backproject, Intrinsics, pack_organized_cloud
from adaptive_depth.lens import make_distortion
from adaptive_depth.scale_net import ScaleNet, ScaleNetConfig, ScalePredictor
from adaptive_depth.scale_source import FixedScale, LearnedScale
import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device visible to torch'),
]

DEV = 'cuda'
INTR = Intrinsics(fx=520.0, fy=515.0, cx=319.5, cy=239.5, width=640, height=480)


@pytest.fixture
def no_tf32():
    """Full fp32 convolutions and matmuls on the GPU (TF32 is on for cuDNN by default)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _rgb(seed: int = 0, h: int = 480, w: int = 640) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([255 * u / (w - 1), 255 * v / (h - 1),
                    128 + 100 * np.sin(u / 9.0) * np.cos(v / 7.0)], axis=-1)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _median_rel(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b) & (np.abs(b) > 1e-6)
    assert ok.mean() > 0.5, 'too few finite values to compare'
    return float(np.median(np.abs(a[ok] - b[ok]) / np.abs(b[ok])))


def test_resize_normalise_on_cuda_matches_cpu_uint8_kernel():
    rgb = torch.from_numpy(_rgb(1))[None]
    size = (518, 686)
    scale_c, bias_c = normalisation_constants(IMAGENET_MEAN, IMAGENET_STD, torch.device('cpu'))
    scale_g, bias_g = normalisation_constants(IMAGENET_MEAN, IMAGENET_STD, torch.device(DEV))
    cpu = resize_normalise(rgb, size, scale_c, bias_c)
    gpu = resize_normalise(rgb.to(DEV), size, scale_g, bias_g).cpu()
    # The float emulation of the CPU uint8 kernel rounds after each pass: rare pixels are off by
    # up to two grey levels (1/255/std in normalised units), nearly all agree exactly.
    one_level = float((scale_c.max()).item()) + 1e-5
    diff = (gpu - cpu).abs()
    assert gpu.shape == cpu.shape
    assert float(diff.max()) <= 2 * one_level
    assert float((diff > 1e-4).float().mean()) < 0.02


def test_da2_forward_on_cuda_fp32_matches_cpu(tiny_da2_dir, no_tf32):
    cpu = DepthAnythingRunner(str(tiny_da2_dir), device='cpu', precision='fp32')
    gpu = DepthAnythingRunner(str(tiny_da2_dir), device=DEV, precision='fp32')
    with torch.inference_mode():
        x = cpu.preprocess(cpu.upload(_rgb(2)))
        ref = cpu.forward(x).numpy()
        out = gpu.forward(x.to(DEV)).cpu().numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    assert _median_rel(out, ref) < 1e-4


def test_fp16_autocast_path_is_used_and_close_to_fp32(tiny_da2_dir):
    fp32 = DepthAnythingRunner(str(tiny_da2_dir), device=DEV, precision='fp32')
    fp16 = DepthAnythingRunner(str(tiny_da2_dir), device=DEV, precision='auto')
    assert fp16.precision == 'fp16' and fp16.autocast_dtype == torch.float16
    rgb = _rgb(3)
    a = fp32.predict(rgb)
    b = fp16.predict(rgb)
    assert b.dtype == np.float32 and b.shape == (480, 640)
    assert np.isfinite(b).all()
    assert not np.array_equal(a, b), 'fp16 autocast gave bit-identical output: not applied?'
    assert _median_rel(b, a) < 2e-2


def _cloud_floats(result) -> np.ndarray:
    c = result.cloud
    return c.data.view('<f4').reshape(c.height, c.width, 4)


def _process_on(device: str, tiny_da2_dir, rgb: np.ndarray, **settings):
    runner = DepthAnythingRunner(str(tiny_da2_dir), device=device, precision='fp32')
    return FrameProcessor(runner, FixedScale(0.8), max_depth=10.0, **settings).process(rgb, INTR)


@pytest.mark.parametrize('settings', [{}, {'point_decimation': 2, 'points_max_range': 8.0,
                                           'min_depth': 3.0, 'colorize_points': False}],
                         ids=['defaults', 'decimated-range-limited-no-colour'])
def test_frame_processor_on_cuda_matches_cpu(tiny_da2_dir, no_tf32, settings):
    rgb = _rgb(4)
    cpu = _process_on('cpu', tiny_da2_dir, rgb, **settings)
    gpu = _process_on(DEV, tiny_da2_dir, rgb, **settings)
    f = settings.get('point_decimation', 1)
    assert gpu.depth.shape == (480, 640) and gpu.depth.dtype == np.float32
    assert gpu.points.shape == cpu.points.shape == (480 // f, 640 // f, 3)
    assert gpu.scale == cpu.scale == pytest.approx(0.8)
    # Input resampling on CUDA is within one grey level of the CPU kernel: depth agrees to ~1 %.
    assert _median_rel(gpu.depth, cpu.depth) < 1e-2
    assert not np.isinf(gpu.depth).any() and not np.isinf(_cloud_floats(gpu)).any()
    # The packed cloud has the CPU layout (fields, steps, size) ...
    assert (gpu.cloud.height, gpu.cloud.width, gpu.cloud.point_step, gpu.cloud.row_step,
            gpu.cloud.fields) == (cpu.cloud.height, cpu.cloud.width, cpu.cloud.point_step,
                                  cpu.cloud.row_step, cpu.cloud.fields)
    assert gpu.cloud.data.shape == cpu.cloud.data.shape and gpu.cloud.data.dtype == np.uint8
    # ... and is, within float32 rounding, the CPU packing of the device's own depth map.
    intr = gpu.intrinsics
    depth = gpu.depth[::f, ::f]
    intr_d = Intrinsics(intr.fx / f, intr.fy / f, intr.cx / f, intr.cy / f,
                        depth.shape[1], depth.shape[0])
    points = backproject(depth, intr_d)
    limit = settings.get('points_max_range', 0.0)
    border = np.zeros(points.shape[:2], dtype=bool)
    if limit:
        range2 = (points ** 2).sum(axis=-1)  # the processor's test: x² + y² + z² > limit²
        points[range2 > np.float32(limit) ** 2] = np.nan
        # points within float32 rounding of the limit may fall either way on the device
        border = np.abs(range2 - np.float32(limit) ** 2) < 1e-4 * limit ** 2
    colours = rgb[::f, ::f] if settings.get('colorize_points', True) else None
    ref = pack_organized_cloud(points, colours)
    want = ref.data.view('<f4').reshape(ref.height, ref.width, 4)
    got = _cloud_floats(gpu)
    assert border.mean() < 1e-3
    got_xyz, want_xyz = got[~border][:, :3], want[~border][:, :3]
    np.testing.assert_array_equal(np.isnan(got_xyz), np.isnan(want_xyz))
    np.testing.assert_allclose(got_xyz, want_xyz, rtol=1e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(gpu.cloud.data.reshape(-1, 16)[:, 12:],
                                  ref.data.reshape(-1, 16)[:, 12:])
    # Most points are finite; with the limits set, the limits bite but leave some points (the
    # tiny DA2's depth range depends on its random weights, so no fixed fraction is asserted).
    finite = np.isfinite(got[..., :3]).all(-1).mean()
    assert (0.0 < finite < 0.9) if settings else finite > 0.2


def test_organised_cloud_bytes_on_cuda_match_cpu():
    rng = np.random.default_rng(5)
    depth = rng.uniform(0.3, 8.0, (480, 640)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = np.nan
    depth[0, :3] = [np.inf, np.nan, 2.0]  # inf: no depth bound given, so the point is NaN
    rgb = _rgb(6)
    lens = make_distortion('plumb_bob', [-0.3, 0.1, 0.001, -0.002, 0.0])
    for max_range, distortion in ((0.0, None), (5.0, None), (5.0, lens)):
        a = organised_cloud(torch.from_numpy(depth), INTR, max_range,
                            torch.from_numpy(rgb), distortion=distortion).numpy()
        b = organised_cloud(torch.from_numpy(depth).to(DEV), INTR, max_range,
                            torch.from_numpy(rgb).to(DEV), distortion=distortion).cpu().numpy()
        assert a.shape == b.shape == (480, 640, 4)
        assert np.isnan(b[0, 0, :3]).all() and not np.isinf(b).any()
        # Same NaN pattern, same colour bits, coordinates within float32 rounding.
        np.testing.assert_array_equal(np.isnan(a[..., :3]), np.isnan(b[..., :3]))
        np.testing.assert_array_equal(a[..., 3].view(np.uint32), b[..., 3].view(np.uint32))
        np.testing.assert_allclose(b[..., :3], a[..., :3], rtol=1e-6, atol=1e-6, equal_nan=True)
        if max_range:
            assert np.isnan(b[..., 0]).mean() > np.isnan(depth).mean() + 0.05


def test_frame_processor_fp16_on_cuda_close_to_fp32(tiny_da2_dir):
    rgb = _rgb(8)
    out = {}
    for precision in ('fp32', 'auto'):
        runner = DepthAnythingRunner(str(tiny_da2_dir), device=DEV, precision=precision)
        out[precision] = FrameProcessor(runner, FixedScale(0.8)).process(rgb, INTR)
    assert out['auto'].depth.dtype == np.float32
    assert np.isfinite(out['auto'].depth).mean() > 0.5
    assert not np.array_equal(out['auto'].depth, out['fp32'].depth), \
        'fp16 autocast gave bit-identical output: not applied?'
    assert _median_rel(out['auto'].depth, out['fp32'].depth) < 2e-2
    assert _median_rel(out['auto'].points[..., 0], out['fp32'].points[..., 0]) < 2e-2


def test_scale_net_on_cuda_matches_cpu(no_tf32):
    torch.manual_seed(0)
    net = ScaleNet(ScaleNetConfig())
    cpu = ScalePredictor(copy.deepcopy(net), device=torch.device('cpu'))
    gpu = ScalePredictor(copy.deepcopy(net), device=torch.device(DEV))
    rgb = _rgb(7)
    a = float(cpu.predict_log_scale(rgb))
    b = float(gpu.predict_log_scale(rgb))
    assert np.isfinite(b)
    assert abs(a - b) < 1e-3


def test_frame_processor_learned_scale_on_cuda_matches_cpu(tiny_da2_dir, no_tf32):
    torch.manual_seed(0)
    net = ScaleNet(ScaleNetConfig())
    rgb = _rgb(9)
    out = {}
    for device in ('cpu', DEV):
        runner = DepthAnythingRunner(str(tiny_da2_dir), device=device, precision='fp32')
        source = LearnedScale(ScalePredictor(copy.deepcopy(net), device=torch.device(device)))
        out[device] = FrameProcessor(runner, source).process(rgb)
    a, b = out['cpu'], out[DEV]
    assert np.isfinite(b.log_scale)
    assert abs(a.log_scale - b.log_scale) < 1e-3
    lo, hi = ScaleNetConfig().scale_bounds
    assert lo <= b.scale <= hi


def _runners(tiny_da2_dir, execution: str):
    eager = DepthAnythingRunner(str(tiny_da2_dir), device=DEV, execution='eager')
    fast = DepthAnythingRunner(str(tiny_da2_dir), device=DEV, execution=execution)
    assert fast.execution == execution and fast.precision == eager.precision == 'fp16'
    return eager, fast


def test_cuda_graph_replay_matches_eager_and_captures_once_per_size(tiny_da2_dir):
    eager, graphed = _runners(tiny_da2_dir, 'cuda_graph')
    a, b = _rgb(5), _rgb(6)
    out_a, out_b = graphed.predict(a), graphed.predict(b)
    assert graphed._graph_depth.captures == 1, 'a second frame of one size must replay'
    np.testing.assert_allclose(out_a, eager.predict(a), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(out_b, eager.predict(b), rtol=1e-3, atol=1e-4)
    assert not np.array_equal(out_a, out_b), 'the replay did not read the new input'
    # A returned tensor is a copy: the next replay does not overwrite it.
    with torch.inference_mode():
        xa, xb = (graphed.preprocess(graphed.upload(img)) for img in (a, b))
        da = graphed.forward(xa)
        kept = da.clone()
        graphed.forward(xb)
    torch.testing.assert_close(da, kept, rtol=0, atol=0)
    square = _rgb(7, 480, 480)  # another network input (518×518; 320×240 would be 686×518 too)
    np.testing.assert_allclose(graphed.predict(square), eager.predict(square), rtol=1e-3,
                               atol=1e-4)
    assert graphed._graph_depth.captures == 2 and len(graphed._graph_depth) == 2


def test_cuda_graph_features_forward_matches_eager(tiny_da2_dir):
    eager, graphed = _runners(tiny_da2_dir, 'cuda_graph')
    with torch.inference_mode():
        x = eager.preprocess(eager.upload(_rgb(8)))
        d0, f0 = eager.forward_with_features(x)
        d1, f1 = graphed.forward_with_features(x)
        d2, f2 = graphed.forward_with_features(x)
    assert graphed._graph_features.captures == 1
    torch.testing.assert_close(d1, d0, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(f1, f0, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(f2, f1, rtol=0, atol=0)


def test_compiled_forward_on_cuda_is_close_to_eager(tiny_da2_dir):
    eager, compiled = _runners(tiny_da2_dir, 'compile')
    a, b = _rgb(9), _rgb(10)
    out_a, out_b, again = compiled.predict(a), compiled.predict(b), compiled.predict(a)
    # Inductor fuses fp16 kernels differently from eager autocast: close, not identical.
    assert _median_rel(out_a, eager.predict(a)) < 1e-2
    assert _median_rel(out_b, eager.predict(b)) < 1e-2
    np.testing.assert_allclose(again, out_a, rtol=1e-3, atol=1e-4)
    assert not np.array_equal(out_a, out_b)


def test_frame_processor_with_cuda_graphs_matches_eager(tiny_da2_dir):
    rgb = _rgb(11)
    results = [FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='fixed', fixed_scale=0.8,
                                         device=DEV, execution=mode).process(rgb, INTR)
               for mode in ('eager', 'cuda_graph')]
    eager, graphed = results
    assert graphed.scale == eager.scale == pytest.approx(0.8)
    both = np.isfinite(graphed.depth) & np.isfinite(eager.depth)
    # Pixels within rounding of max_depth may fall on either side of it; nearly all agree.
    assert (np.isnan(graphed.depth) == np.isnan(eager.depth)).mean() > 0.999 and both.mean() > 0.5
    np.testing.assert_allclose(graphed.depth[both], eager.depth[both], rtol=1e-3, atol=1e-4)


def test_cuda_graph_forward_keeps_the_most_recent_shapes():
    from adaptive_depth.fast_forward import CudaGraphForward

    graphed = CudaGraphForward(lambda x: (x * 2.0, x.sum(dim=(1, 2, 3))), max_graphs=2)
    a, b, c = (torch.rand(shape, device=DEV) for shape in
               ((1, 3, 14, 14), (1, 3, 28, 14), (2, 3, 14, 14)))
    for x in (a, b, a, c):  # c evicts b, the least recently used; a stays
        doubled, total = graphed(x)
        torch.testing.assert_close(doubled, x * 2.0)
        torch.testing.assert_close(total, x.sum(dim=(1, 2, 3)))
    assert graphed.captures == 3 and len(graphed) == 2
    graphed(a)
    assert graphed.captures == 3, 'a was evicted although used after b'
    graphed(b)
    assert graphed.captures == 4 and len(graphed) == 2
