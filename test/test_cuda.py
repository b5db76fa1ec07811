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
reference: the device path must give the same depth, points and cloud bytes within float
tolerances, and fp16 autocast must stay close to fp32.
"""

import copy

from adaptive_depth.depth_model import (DepthAnythingRunner, IMAGENET_MEAN, IMAGENET_STD,
                                        normalisation_constants, resize_normalise)
from adaptive_depth.geometry import backproject, Intrinsics, pack_organized_cloud
from adaptive_depth.pipeline import backproject_torch, FixedScale, MetricDepthPipeline
from adaptive_depth.scale_net import ScaleNet, ScaleNetConfig, ScalePredictor
import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device visible to torch'),
]

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
    scale_g, bias_g = normalisation_constants(IMAGENET_MEAN, IMAGENET_STD, torch.device('cuda'))
    cpu = resize_normalise(rgb, size, scale_c, bias_c)
    gpu = resize_normalise(rgb.cuda(), size, scale_g, bias_g).cpu()
    # The float emulation of the CPU uint8 kernel rounds after each pass: rare pixels are off by
    # up to two grey levels (1/255/std in normalised units), nearly all agree exactly.
    one_level = float((scale_c.max()).item()) + 1e-5
    diff = (gpu - cpu).abs()
    assert gpu.shape == cpu.shape
    assert float(diff.max()) <= 2 * one_level
    assert float((diff > 1e-4).float().mean()) < 0.02


def test_da2_forward_on_cuda_fp32_matches_cpu(tiny_da2_dir, no_tf32):
    cpu = DepthAnythingRunner(str(tiny_da2_dir), device='cpu', precision='fp32')
    gpu = DepthAnythingRunner(str(tiny_da2_dir), device='cuda', precision='fp32')
    with torch.inference_mode():
        x = cpu.preprocess(cpu.upload(_rgb(2)))
        ref = cpu.forward(x).numpy()
        out = gpu.forward(x.cuda()).cpu().numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    assert _median_rel(out, ref) < 1e-4


def test_fp16_autocast_path_is_used_and_close_to_fp32(tiny_da2_dir):
    fp32 = DepthAnythingRunner(str(tiny_da2_dir), device='cuda', precision='fp32')
    fp16 = DepthAnythingRunner(str(tiny_da2_dir), device='cuda', precision='auto')
    assert fp16.precision == 'fp16' and fp16.autocast_dtype == torch.float16
    rgb = _rgb(3)
    a = fp32.predict(rgb)
    b = fp16.predict(rgb)
    assert b.dtype == np.float32 and b.shape == (480, 640)
    assert np.isfinite(b).all()
    assert not np.array_equal(a, b), 'fp16 autocast gave bit-identical output: not applied?'
    assert _median_rel(b, a) < 2e-2


def test_pipeline_on_cuda_matches_cpu_depth_and_points(tiny_da2_dir, no_tf32):
    rgb = _rgb(4)
    results = {}
    for device in ('cpu', 'cuda'):
        runner = DepthAnythingRunner(str(tiny_da2_dir), device=device, precision='fp32')
        pipe = MetricDepthPipeline(runner, FixedScale(0.8), max_depth=10.0)
        results[device] = pipe.process(rgb, INTR, compute_points=True)
    cpu, gpu = results['cpu'], results['cuda']
    assert gpu.depth.shape == (480, 640) and gpu.points.shape == (480, 640, 3)
    assert gpu.scale == cpu.scale == 0.8
    # Input resampling on CUDA is within one grey level of the CPU kernel: depth agrees to ~1 %.
    assert _median_rel(gpu.depth, cpu.depth) < 1e-2
    np.testing.assert_array_equal(np.isnan(gpu.points), np.isnan(gpu.depth)[..., None]
                                  .repeat(3, axis=2))
    # Points made on the device from the device depth equal the CPU back-projection of it.
    np.testing.assert_allclose(gpu.points, backproject(gpu.depth, INTR), rtol=1e-6, atol=1e-6,
                               equal_nan=True)


def test_backproject_and_cloud_bytes_on_cuda_match_cpu():
    rng = np.random.default_rng(5)
    depth = rng.uniform(0.3, 8.0, (480, 640)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = np.nan
    depth[0, :5] = [0.0, -1.0, np.inf, np.nan, 2.0]
    ref = backproject(depth, INTR)
    dev = backproject_torch(torch.from_numpy(depth).cuda(), INTR).cpu().numpy()
    np.testing.assert_allclose(dev, ref, rtol=1e-6, atol=1e-6, equal_nan=True)
    rgb = _rgb(6)
    # The organised cloud (x, y, z, rgb; 16 bytes a point) built from device points is the
    # CPU cloud: same NaN pattern, same colours, coordinates within float32 rounding.
    a = pack_organized_cloud(ref, rgb)
    b = pack_organized_cloud(dev, rgb)
    assert (a.point_step, a.row_step, a.data.shape) == (b.point_step, b.row_step, b.data.shape)
    fa = a.data.view(np.float32).reshape(480, 640, 4)
    fb = b.data.view(np.float32).reshape(480, 640, 4)
    np.testing.assert_array_equal(fa[..., 3].view(np.uint32), fb[..., 3].view(np.uint32))
    np.testing.assert_allclose(fb[..., :3], fa[..., :3], rtol=1e-6, atol=1e-6, equal_nan=True)


def test_scale_net_on_cuda_matches_cpu(no_tf32):
    torch.manual_seed(0)
    net = ScaleNet(ScaleNetConfig())
    cpu = ScalePredictor(copy.deepcopy(net), device=torch.device('cpu'))
    gpu = ScalePredictor(copy.deepcopy(net), device=torch.device('cuda'))
    rgb = _rgb(7)
    a = float(cpu.predict_log_scale(rgb))
    b = float(gpu.predict_log_scale(rgb))
    assert np.isfinite(b)
    assert abs(a - b) < 1e-3
