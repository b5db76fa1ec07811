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

"""Tests of the frame processor: every output rule, on the CPU (and CUDA where present)."""

import math

from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.frame_processor import (FrameProcessor, FrameResult, organised_cloud,
                                            OutputSettings)
from adaptive_depth.geometry import (backproject, decimate, Intrinsics, NYU_INTRINSICS,
                                     pack_organized_cloud, project)
from adaptive_depth.lens import make_distortion
from adaptive_depth.scale_net import save_scale_net, ScaleNet, ScaleNetConfig, ScalePredictor
from adaptive_depth.scale_source import FixedScale, LearnedScale, NoScale, ScaleEstimate
import cv2
import numpy as np
import pytest
import torch

INPUT_SIZE = 112
STAGES = {'preprocess', 'depth_forward', 'scale', 'postprocess', 'cloud', 'download', 'total'}
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


class SequenceScale:
    """A scale source that returns the given log scales one after another."""

    name = 'fixed'
    bounds = (0.1, 2.0)

    def __init__(self, log_scales, std=None):
        self.log_scales = list(log_scales)
        self.stds = list(std) if isinstance(std, (list, tuple)) else [std] * len(log_scales)

    def estimate(self, rgb, raw_depth=None):
        return ScaleEstimate(self.log_scales.pop(0), self.stds.pop(0))


def test_shapes_dtypes_and_timings(runner, frames):
    rgb = frames[0]
    result = FrameProcessor(runner, NoScale()).process(rgb)
    assert isinstance(result, FrameResult)
    assert result.depth.shape == (480, 640) and result.depth.dtype == np.float32
    assert result.cloud is None and result.points is None and result.intrinsics is None
    assert (result.scale, result.raw_scale, result.log_scale) == (1.0, 1.0, 0.0)
    assert result.log_scale_std is None
    assert set(result.timings) == STAGES
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings['total'] >= result.timings['depth_forward']
    raw = runner.predict(rgb)
    assert (raw > 0).all()
    np.testing.assert_array_equal(result.depth, raw)


def test_fixed_scale_multiplies_depth_by_exactly_k(runner, frames):
    k = 0.37
    result = FrameProcessor(runner, FixedScale(k)).process(frames[1])
    assert result.scale == pytest.approx(k, rel=1e-12)
    np.testing.assert_array_equal(result.depth, runner.predict(frames[1]) * np.float32(k))
    for bad in (0.0, -1.0, float('nan'), float('inf')):
        with pytest.raises(ValueError, match='fixed scale'):
            FixedScale(bad)


def test_max_and_min_depth_mark_nan(runner, frames):
    raw = runner.predict(frames[0])
    k = 1.5
    scaled = raw * np.float32(k)
    max_depth = float(np.percentile(scaled, 70))
    min_depth = float(np.percentile(scaled, 10))
    proc = FrameProcessor(runner, FixedScale(k), max_depth=max_depth, min_depth=min_depth)
    result = proc.process(frames[0])
    expect_invalid = (scaled > max_depth) | (scaled < min_depth)
    assert 0.2 < expect_invalid.mean() < 0.5
    np.testing.assert_array_equal(np.isnan(result.depth), expect_invalid)
    np.testing.assert_array_equal(result.depth[~expect_invalid], scaled[~expect_invalid])
    assert not np.isinf(result.depth).any() and not (result.depth == 0).any()
    with pytest.raises(ValueError, match='max_depth'):
        FrameProcessor(runner, NoScale(), max_depth=-1.0)
    with pytest.raises(ValueError, match='max_depth'):
        FrameProcessor(runner, NoScale(), max_depth=1.0, min_depth=2.0)
    with pytest.raises(ValueError, match='point_decimation'):
        proc.configure(point_decimation=0)
    assert proc.settings.max_depth == max_depth  # a rejected change leaves the settings alone


def test_learned_scale_is_clamped_exp_of_network_output(runner, frames):
    raw = runner.predict(frames[2])
    for bias, in_bounds in ((math.log(0.6), True), (math.log(5.0), False),
                            (math.log(0.01), False)):
        predictor = _predictor(bias)
        log_s = predictor.predict_log_scale(frames[2])
        expected = min(max(math.exp(log_s), 0.1), 2.0)
        assert (0.1 < math.exp(log_s) < 2.0) == in_bounds
        source = LearnedScale(predictor)
        assert source.bounds == pytest.approx((0.1, 2.0))
        result = FrameProcessor(runner, source).process(frames[2])
        assert result.scale == pytest.approx(expected, rel=1e-5)
        assert result.raw_scale == result.scale
        np.testing.assert_allclose(result.depth, raw * np.float32(result.scale), rtol=1e-6)
    narrow = LearnedScale(_predictor(0.0), bounds=(0.5, 0.8))
    assert FrameProcessor(runner, narrow).process(frames[2]).scale == 0.8
    with pytest.raises(ValueError, match='bounds'):
        LearnedScale(_predictor(0.0), bounds=(0.0, 2.0))


def test_smoothing_is_an_ema_of_log_scale_and_changeable_at_runtime(runner, frames):
    logs = [math.log(0.5), math.log(1.0), math.log(1.5), math.log(5.0), math.log(1.0)]
    source = SequenceScale(logs, std=0.25)
    proc = FrameProcessor(runner, source, scale_smoothing=0.5)
    raw = runner.predict(frames[0])
    ema = None
    for i, log_s in enumerate(logs[:4]):
        result = proc.process(frames[0])
        clamped = math.log(min(max(math.exp(log_s), 0.1), 2.0))
        ema = clamped if ema is None else 0.5 * ema + 0.5 * clamped
        assert result.raw_scale == pytest.approx(math.exp(clamped), rel=1e-12)
        assert result.log_scale == pytest.approx(ema, rel=1e-12)
        assert result.scale == pytest.approx(math.exp(ema), rel=1e-12)
        assert result.log_scale_std == 0.25
        np.testing.assert_array_equal(result.depth, raw * np.float32(result.scale))
    proc.set_smoothing(0.0)  # off: the raw (clamped) scale is applied as is
    result = proc.process(frames[0])
    assert result.scale == result.raw_scale == pytest.approx(1.0)


@pytest.mark.parametrize('alpha', [0.0, 0.5])
def test_uncertain_frames_hold_the_applied_scale(runner, frames, alpha):
    """scale_hold_uncertainty: a frame whose std of ln s exceeds it keeps the previous scale."""
    logs = [math.log(0.5), math.log(1.0), math.log(1.5), math.log(0.8), math.log(1.2)]
    stds = [0.9, 0.5, 0.1, None, 0.31]   # the first frame starts the average even if doubtful
    proc = FrameProcessor(runner, SequenceScale(logs, stds), scale_smoothing=alpha,
                          scale_hold_uncertainty=0.3)
    raw = runner.predict(frames[0])
    applied = None
    for log_s, std in zip(logs, stds):
        result = proc.process(frames[0])
        held = applied is not None and std is not None and std > 0.3
        if not held:
            applied = log_s if applied is None or alpha == 0 else \
                alpha * applied + (1 - alpha) * log_s
        assert result.scale_held == held
        assert result.log_scale_std == std
        assert result.raw_scale == pytest.approx(math.exp(log_s), rel=1e-12)
        assert result.scale == pytest.approx(math.exp(applied), rel=1e-12)
        np.testing.assert_array_equal(result.depth, raw * np.float32(result.scale))
    # the threshold changes at runtime without forgetting the applied scale; 0 turns it off
    proc.scale_source = SequenceScale([math.log(2.0), math.log(0.25)], [0.2, 0.2])
    proc.configure(scale_hold_uncertainty=0.1)
    assert proc.process(frames[0]).scale == pytest.approx(math.exp(applied), rel=1e-12)
    proc.configure(scale_hold_uncertainty=0.0)
    result = proc.process(frames[0])
    assert not result.scale_held and result.raw_scale == pytest.approx(0.25)
    with pytest.raises(ValueError, match='scale_hold_uncertainty'):
        proc.configure(scale_hold_uncertainty=-1.0)


def test_learned_scale_reports_the_ensemble_spread(runner, frames):
    """The learned source's std is ScalePredictor.estimate's; no spread gives None."""
    torch.manual_seed(3)
    cfg = ScaleNetConfig(**dict(SMALL_NET, members=3))
    predictor = ScalePredictor(ScaleNet(cfg), cfg)
    expected = predictor.estimate(frames[1])
    result = FrameProcessor(runner, LearnedScale(predictor)).process(frames[1])
    assert expected.log_scale_std > 0
    assert result.log_scale_std == pytest.approx(expected.log_scale_std, rel=1e-5)
    assert math.log(result.raw_scale) == pytest.approx(
        min(max(expected.log_scale, math.log(0.1)), math.log(2.0)), rel=1e-5)
    single = FrameProcessor(runner, LearnedScale(_predictor(0.0))).process(frames[1])
    assert single.log_scale_std is None and not single.scale_held


def _reference_cloud(depth, rgb, intr, factor, max_range, colour, distortion=None):
    depth_d, intr_d = decimate(depth, intr, factor) if factor > 1 else (depth, intr)
    points = backproject(depth_d, intr_d, distortion)
    if max_range > 0:
        with np.errstate(invalid='ignore'):
            points[np.linalg.norm(points.astype(np.float64), axis=2) > max_range] = np.nan
    colours = np.ascontiguousarray(rgb[::factor, ::factor]) if colour else None
    return pack_organized_cloud(points, colours)


@pytest.mark.parametrize('factor,max_range,colour', [(1, 0.0, True), (3, 2.5, False),
                                                     (2, 1.8, True)])
def test_cloud_bytes_match_the_numpy_reference(runner, frames, factor, max_range, colour):
    proc = FrameProcessor(runner, FixedScale(0.8), max_depth=8.0, point_decimation=factor,
                          points_max_range=max_range, colorize_points=colour)
    half = NYU_INTRINSICS.scaled(320, 240)
    result = proc.process(frames[0], intrinsics=half)
    intr = result.intrinsics  # rescaled to the depth resolution
    assert (intr.width, intr.height) == (640, 480)
    assert intr.fx == pytest.approx(NYU_INTRINSICS.fx) and intr.cx == pytest.approx(
        NYU_INTRINSICS.cx)
    ref = _reference_cloud(result.depth, frames[0], intr, factor, max_range, colour)
    c = result.cloud
    assert (c.height, c.width, c.point_step, c.row_step) == (ref.height, ref.width, 16,
                                                             ref.row_step)
    assert c.fields == ref.fields and c.data.dtype == np.uint8
    assert c.data.shape == ref.data.shape
    got = c.data.view('<f4').reshape(c.height, c.width, 4)
    want = ref.data.view('<f4').reshape(ref.height, ref.width, 4)
    # the range test may round the other way within 1e-5 m of the limit: compare elsewhere
    norm = np.linalg.norm(want[..., :3].astype(np.float64), axis=2)
    if max_range > 0:
        assert np.isnan(want[..., 0]).mean() > 0.05  # the range limit removed points
    with np.errstate(invalid='ignore'):
        sure = ~(np.abs(norm - max_range) < 1e-5)
    np.testing.assert_array_equal(c.data.reshape(c.height, c.width, 16)[sure],
                                  ref.data.reshape(ref.height, ref.width, 16)[sure])
    kept = np.isfinite(got[..., 2])
    np.testing.assert_array_equal(got[..., 2][kept], result.depth[::factor, ::factor][kept])
    np.testing.assert_array_equal(result.points, got[..., :3])
    with pytest.raises(ValueError, match='intrinsics'):
        proc.process(frames[0], compute_points=True)


def test_from_paths(tiny_da2_dir, tmp_path, frames):
    with pytest.raises(ValueError, match='scale_checkpoint'):
        FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='learned')
    with pytest.raises(ValueError, match='scale_source'):
        FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='magic')
    fixed = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='fixed', fixed_scale=0.5,
                                      device='cpu', input_size=INPUT_SIZE, max_depth=10.0)
    assert isinstance(fixed.scale_source, FixedScale) and fixed.settings.max_depth == 10.0
    assert fixed.process(frames[0]).scale == 0.5
    predictor = _predictor(math.log(0.7))
    ckpt = save_scale_net(tmp_path / 'scale', predictor.model, predictor.cfg)
    learned = FrameProcessor.from_paths(str(tiny_da2_dir), scale_checkpoint=ckpt,
                                        device='cpu', input_size=INPUT_SIZE)
    assert isinstance(learned.scale_source, LearnedScale)
    expected = min(max(math.exp(predictor.predict_log_scale(frames[1])), 0.1), 2.0)
    assert learned.process(frames[1]).scale == pytest.approx(expected, rel=1e-5)
    none = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='none', device='cpu',
                                     input_size=INPUT_SIZE)
    assert isinstance(none.scale_source, NoScale)
    assert OutputSettings().max_depth is None


def test_organised_cloud_matches_geometry_packing():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, size=(48, 64)).astype(np.float32)
    depth[3, 4] = np.nan
    rgb = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    intr = Intrinsics(61.3, 59.7, 31.7, 23.2, 64, 48)
    for colours in (rgb, None):
        got = organised_cloud(torch.from_numpy(depth), intr, 0.0,
                              None if colours is None else torch.from_numpy(colours))
        assert got.shape == (48, 64, 4) and got.dtype == torch.float32
        ref = pack_organized_cloud(backproject(depth, intr), colours)
        np.testing.assert_array_equal(got.numpy().view(np.uint8).reshape(48, -1), ref.data)
    huge = depth.copy()
    huge[0, 63] = 3e38  # x = 1.57 z overflows float32: the point is NaN, never inf (REP 117)
    wide = Intrinsics(20.0, 20.0, 31.7, 23.2, 64, 48)
    got = organised_cloud(torch.from_numpy(huge), wide).numpy()
    assert np.isnan(got[0, 63, :3]).all() and not np.isinf(got).any()
    np.testing.assert_array_equal(got.view(np.uint8).reshape(48, -1),
                                  pack_organized_cloud(backproject(huge, wide)).data)
    with pytest.raises(ValueError, match='does not match'):
        organised_cloud(torch.from_numpy(depth), NYU_INTRINSICS)


WEBCAM_LENS = make_distortion('plumb_bob', [-0.31, 0.11, 0.001, -0.002, -0.02])


def test_organised_cloud_follows_the_lens_rays_byte_for_byte():
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 8.0, size=(48, 64)).astype(np.float32)
    depth[5, 6] = np.nan
    intr = Intrinsics(45.0, 44.0, 31.2, 23.9, 64, 48)
    got = organised_cloud(torch.from_numpy(depth), intr, 0.0, distortion=WEBCAM_LENS).numpy()
    ref = pack_organized_cloud(backproject(depth, intr, WEBCAM_LENS))
    np.testing.assert_array_equal(got.view(np.uint8).reshape(48, -1), ref.data)
    pinhole = organised_cloud(torch.from_numpy(depth), intr).numpy()
    # barrel distortion: a corner pixel looks further out than the pinhole model says
    assert abs(got[0, 0, 0]) > 1.1 * abs(pinhole[0, 0, 0])
    np.testing.assert_array_equal(got[..., 2], pinhole[..., 2])  # z is the depth either way
    strong = make_distortion('plumb_bob', [-1.0, 0.0, 0.0, 0.0, 0.0])  # corners have no ray
    got = organised_cloud(torch.from_numpy(depth), intr, 0.0, distortion=strong).numpy()
    ref = pack_organized_cloud(backproject(depth, intr, strong))
    np.testing.assert_array_equal(got.view(np.uint8).reshape(48, -1), ref.data)
    assert np.isnan(got[0, 0, :3]).all() and np.isfinite(got[24, 32, :3]).all()


def test_process_with_distortion_puts_every_point_on_its_pixel(runner, frames):
    proc = FrameProcessor(runner, FixedScale(0.8), max_depth=8.0, point_decimation=2)
    result = proc.process(frames[0], intrinsics=NYU_INTRINSICS, distortion=WEBCAM_LENS)
    plain = proc.process(frames[0], intrinsics=NYU_INTRINSICS)
    np.testing.assert_array_equal(result.depth, plain.depth)   # the depth map is untouched
    ref = _reference_cloud(result.depth, frames[0], result.intrinsics, 2, 0.0, True, WEBCAM_LENS)
    np.testing.assert_array_equal(result.cloud.data, ref.data)
    points = result.points.reshape(-1, 3).astype(np.float64)
    ok = np.isfinite(points).all(axis=1)
    assert ok.mean() > 0.5
    uv = project(points[ok], NYU_INTRINSICS, WEBCAM_LENS)  # through the full-size lens
    v, u = np.mgrid[0:480:2, 0:640:2]
    np.testing.assert_allclose(uv[:, 0], u.ravel()[ok], atol=0.01)
    np.testing.assert_allclose(uv[:, 1], v.ravel()[ok], atol=0.01)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device (GPU check)')
def test_cuda_matches_cpu(tiny_da2_dir, frames):
    kwargs = {'scale_source': 'fixed', 'fixed_scale': 0.7, 'precision': 'fp32',
              'input_size': INPUT_SIZE, 'max_depth': 8.0, 'point_decimation': 2,
              'points_max_range': 6.0}
    cpu = FrameProcessor.from_paths(str(tiny_da2_dir), device='cpu', **kwargs)
    gpu = FrameProcessor.from_paths(str(tiny_da2_dir), device='cuda', **kwargs)
    a = cpu.process(frames[0], NYU_INTRINSICS)
    b = gpu.process(frames[0], NYU_INTRINSICS)
    np.testing.assert_array_equal(np.isnan(a.depth), np.isnan(b.depth))
    np.testing.assert_allclose(a.depth, b.depth, rtol=1e-3, atol=1e-3)
    assert b.cloud.data.shape == a.cloud.data.shape and b.cloud.fields == a.cloud.fields
    pa = a.points.reshape(-1, 3)
    pb = b.points.reshape(-1, 3)
    both = np.isfinite(pa).all(1) & np.isfinite(pb).all(1)
    assert both.mean() > 0.5
    np.testing.assert_allclose(pa[both], pb[both], rtol=1e-3, atol=1e-3)
    # the packed colour is moved as bits: identical on both devices
    np.testing.assert_array_equal(a.cloud.data.reshape(-1, 16)[:, 12:],
                                  b.cloud.data.reshape(-1, 16)[:, 12:])
