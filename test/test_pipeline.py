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

"""Tests of the metric-depth pipeline on real NYU frames with a tiny random-weight DA2."""

import math

from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.geometry import backproject, Intrinsics, NYU_INTRINSICS
from adaptive_depth.pipeline import (
    backproject_torch, DepthResult, FixedScale, LearnedScale, MetricDepthPipeline, NoScale)
from adaptive_depth.scale_net import save_scale_net, ScaleNet, ScaleNetConfig, ScalePredictor
import cv2
import numpy as np
import pytest
import torch

INPUT_SIZE = 112
STAGES = {'preprocess', 'depth_forward', 'scale_net', 'postprocess', 'backproject', 'total'}
SMALL_NET = {'input_size': (64, 64), 'channels': (8, 8, 16, 16), 'fc': (8,)}


@pytest.fixture(scope='module')
def runner(tiny_da2_dir):
    return DepthAnythingRunner(str(tiny_da2_dir), device='cpu', input_size=INPUT_SIZE)


@pytest.fixture(scope='module')
def frames(nyu_sample_dir):
    paths = sorted(nyu_sample_dir.glob('*_colors.png'))[:3]
    assert len(paths) == 3, f'expected NYU colour frames in {nyu_sample_dir}'
    return [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in paths]


def _predictor(bias):
    """Return a predictor whose output is ``bias`` plus an image-dependent term."""
    torch.manual_seed(0)
    cfg = ScaleNetConfig(**SMALL_NET)
    model = ScaleNet(cfg)
    with torch.no_grad():
        model.head[-1].weight.mul_(100.0)  # make the output depend on the image
        model.head[-1].bias.fill_(bias)
    return ScalePredictor(model, cfg)


def test_shapes_dtypes_and_timings(runner, frames):
    rgb = frames[0]
    result = MetricDepthPipeline(runner, NoScale()).process(rgb)
    assert isinstance(result, DepthResult)
    assert rgb.shape == (480, 640, 3)
    assert result.depth.shape == result.raw_depth.shape == (480, 640)
    assert result.depth.dtype == result.raw_depth.dtype == np.float32
    assert result.points is None and result.intrinsics is None
    assert result.scale == 1.0
    assert set(result.timings) == STAGES
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings['total'] >= result.timings['depth_forward']
    np.testing.assert_array_equal(result.raw_depth, runner.predict(rgb))
    np.testing.assert_array_equal(result.depth, result.raw_depth)


def test_fixed_scale_multiplies_depth_by_exactly_k(runner, frames):
    k = 0.37
    result = MetricDepthPipeline(runner, FixedScale(k)).process(frames[1])
    assert result.scale == k
    np.testing.assert_array_equal(result.depth, result.raw_depth * np.float32(k))
    for bad in (0.0, -1.0, float('nan'), float('inf')):
        with pytest.raises(ValueError, match='fixed scale'):
            FixedScale(bad)


def test_max_and_min_depth_mark_nan(runner, frames):
    raw = runner.predict(frames[0])
    k = 1.5
    max_depth = float(np.percentile(raw * k, 70))
    min_depth = float(np.percentile(raw * k, 10))
    pipe = MetricDepthPipeline(runner, FixedScale(k), max_depth=max_depth, min_depth=min_depth)
    result = pipe.process(frames[0])
    scaled = raw * np.float32(k)
    expect_invalid = (scaled > max_depth) | (scaled <= min_depth)
    assert 0.2 < expect_invalid.mean() < 0.5
    np.testing.assert_array_equal(np.isnan(result.depth), expect_invalid)
    np.testing.assert_array_equal(result.depth[~expect_invalid], scaled[~expect_invalid])
    assert np.all(np.isfinite(result.raw_depth))
    with pytest.raises(ValueError, match='max_depth'):
        MetricDepthPipeline(runner, NoScale(), max_depth=-1.0)
    with pytest.raises(ValueError, match='max_depth'):
        MetricDepthPipeline(runner, NoScale(), max_depth=1.0, min_depth=2.0)


def test_learned_scale_is_clamped_exp_of_network_output(runner, frames):
    for bias, in_bounds in ((math.log(0.6), True), (math.log(5.0), False),
                            (math.log(0.01), False)):
        predictor = _predictor(bias)
        log_s = predictor.predict_log_scale(frames[2])
        expected = min(max(math.exp(log_s), 0.1), 2.0)
        assert (0.1 < math.exp(log_s) < 2.0) == in_bounds
        source = LearnedScale(predictor)
        assert source.bounds == pytest.approx((0.1, 2.0))
        result = MetricDepthPipeline(runner, source).process(frames[2])
        assert result.scale == pytest.approx(expected, rel=1e-5)
        np.testing.assert_allclose(result.depth, result.raw_depth * np.float32(result.scale),
                                   rtol=1e-6)
    narrow = LearnedScale(_predictor(0.0), bounds=(0.5, 0.8))
    assert MetricDepthPipeline(runner, narrow).process(frames[2]).scale == 0.8
    with pytest.raises(ValueError, match='bounds'):
        LearnedScale(_predictor(0.0), bounds=(0.0, 2.0))


def test_points_z_equals_depth_and_intrinsics_are_rescaled(runner, frames):
    pipe = MetricDepthPipeline(runner, FixedScale(0.8), max_depth=8.0)
    half = NYU_INTRINSICS.scaled(320, 240)
    result = pipe.process(frames[0], intrinsics=half, compute_points=True)
    assert result.points.shape == (480, 640, 3) and result.points.dtype == np.float32
    np.testing.assert_array_equal(result.points[..., 2], result.depth)
    assert np.isnan(result.points[np.isnan(result.depth)]).all()
    intr = result.intrinsics
    assert (intr.width, intr.height) == (640, 480)
    assert intr.fx == pytest.approx(NYU_INTRINSICS.fx) and intr.cx == pytest.approx(
        NYU_INTRINSICS.cx)
    u = np.arange(640, dtype=np.float64)[None, :]
    v = np.arange(480, dtype=np.float64)[:, None]
    finite = np.isfinite(result.depth)
    assert finite.mean() > 0.3
    np.testing.assert_allclose(result.points[..., 0][finite],
                               ((u - intr.cx) / intr.fx * result.depth)[finite], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(result.points[..., 1][finite],
                               ((v - intr.cy) / intr.fy * result.depth)[finite], rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match='intrinsics'):
        pipe.process(frames[0], compute_points=True)


def test_process_batch_matches_process(runner, frames):
    pipe = MetricDepthPipeline(runner, LearnedScale(_predictor(math.log(0.5))))
    batch = pipe.process_batch(np.stack(frames[:2]))
    assert len(batch) == 2
    for rgb, res in zip(frames[:2], batch):
        single = pipe.process(rgb)
        assert res.scale == pytest.approx(single.scale, rel=1e-5)
        np.testing.assert_allclose(res.depth, single.depth, rtol=1e-4, atol=1e-4)


def test_from_paths(tiny_da2_dir, tmp_path, frames):
    with pytest.raises(ValueError, match='scale_checkpoint'):
        MetricDepthPipeline.from_paths(str(tiny_da2_dir), scale='learned')
    with pytest.raises(ValueError, match='scale option'):
        MetricDepthPipeline.from_paths(str(tiny_da2_dir), scale='magic')
    fixed = MetricDepthPipeline.from_paths(str(tiny_da2_dir), scale='fixed', fixed_scale=0.5,
                                           device='cpu', input_size=INPUT_SIZE, max_depth=10.0)
    assert isinstance(fixed.scale_source, FixedScale) and fixed.max_depth == 10.0
    assert fixed.process(frames[0]).scale == 0.5
    predictor = _predictor(math.log(0.7))
    ckpt = save_scale_net(tmp_path / 'scale', predictor.model, predictor.cfg)
    learned = MetricDepthPipeline.from_paths(str(tiny_da2_dir), scale_checkpoint=ckpt,
                                             device='cpu', input_size=INPUT_SIZE)
    assert isinstance(learned.scale_source, LearnedScale)
    expected = min(max(math.exp(predictor.predict_log_scale(frames[1])), 0.1), 2.0)
    assert learned.process(frames[1]).scale == pytest.approx(expected, rel=1e-5)
    none = MetricDepthPipeline.from_paths(str(tiny_da2_dir), scale='none', device='cpu',
                                          input_size=INPUT_SIZE)
    assert isinstance(none.scale_source, NoScale)


def test_backproject_torch_matches_geometry_backproject():
    # The GPU path back-projects with torch; it must equal the numpy reference.
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, size=(2, 48, 64)).astype(np.float32)
    depth[0, 3, 4] = np.nan
    depth[0, 5, 6] = 0.0
    depth[1, 7, 8] = -1.0
    depth[1, 9, 10] = np.inf
    intr = Intrinsics(61.3, 59.7, 31.7, 23.2, 64, 48)
    out = backproject_torch(torch.from_numpy(depth), intr).numpy()
    assert out.shape == (2, 48, 64, 3) and out.dtype == np.float32
    for i in range(2):
        np.testing.assert_allclose(out[i], backproject(depth[i], intr), rtol=1e-6, atol=1e-7)
    assert np.isnan(out[1, 9, 10]).all() and np.isnan(out[0, 5, 6]).all()
    with pytest.raises(ValueError, match='does not match'):
        backproject_torch(torch.from_numpy(depth), NYU_INTRINSICS)
