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

"""Tests of the floor fit and the ground_plane scale source, on scenes whose floor is known."""

import math

from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.geometry import Intrinsics, NYU_INTRINSICS, pixel_rays
from adaptive_depth.ground_plane import (down_vector, fit_floor, floor_log_scale, mount_normal,
                                         pitch_roll)
from adaptive_depth.lens import make_distortion
from adaptive_depth.scale_net import save_scale_net, ScaleNet, ScaleNetConfig
from adaptive_depth.scale_source import (FLOOR_OFFSET_MEMORY, GroundPlaneScale, LearnedScale,
                                         ScaleEstimate)
from adaptive_depth.synthetic import render_scene
import numpy as np
import pytest
import torch

INTR = Intrinsics(260.0, 260.0, 159.5, 119.5, 320, 240)


def _rotation(pitch_deg, roll_deg):
    """Return M (level ← optical coordinates) of a camera pitched down, then rolled (degrees)."""
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    pitch = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return pitch @ roll


def _room(height=1.3, pitch=10.0, roll=0.0, table=None, floor=True, intr=INTR,
          distortion=None, wall=4.0):
    """
    Return the H×W z-depth (metres) of a room seen by a camera ``height`` m above the floor.

    The floor (y = height in the level frame), a wall ``wall`` m ahead, and optionally a table
    top ``table`` = (height above the floor, x0, x1, z0, z1) in the level frame.
    """
    rx, ry = pixel_rays(intr, distortion)
    rays = np.stack(np.broadcast_arrays(rx, ry, np.ones_like(rx * ry)), -1).astype(np.float64)
    level = rays @ _rotation(pitch, roll).T  # ray directions in the level frame
    t = np.full(rays.shape[:2], np.inf)
    with np.errstate(divide='ignore', invalid='ignore'):
        if floor:
            tf = height / level[..., 1]
            t = np.where((tf > 0) & (tf < t), tf, t)
        tw = wall / level[..., 2]
        t = np.where((tw > 0) & (tw < t), tw, t)
        if table is not None:
            top, x0, x1, z0, z1 = table
            tt = (height - top) / level[..., 1]
            x, z = tt * level[..., 0], tt * level[..., 2]
            hit = (tt > 0) & (x >= x0) & (x <= x1) & (z >= z0) & (z <= z1) & (tt < t)
            t = np.where(hit, tt, t)
    return np.where(np.isfinite(t), t, np.nan).astype(np.float32)  # t is the z-depth


def test_down_vector_convention():
    assert np.allclose(down_vector(), [0, 1, 0])
    assert np.allclose(down_vector(30, 0), [0, math.cos(math.radians(30)), 0.5])
    for pitch, roll in ((10, 0), (25, -7), (-5, 12)):
        v = down_vector(pitch, roll)
        assert np.isclose(np.linalg.norm(v), 1.0)
        assert np.allclose(v, _rotation(pitch, roll).T @ [0, 1, 0])


@pytest.mark.parametrize('tilt', [30.0, 0.0])
@pytest.mark.parametrize('pitch, roll', [(0.0, 0.0), (15.0, 0.0), (25.0, -6.0)])
def test_the_floor_of_a_room_is_found_at_the_camera_height(tilt, pitch, roll):
    depth = _room(1.3, pitch, roll)
    down = down_vector(pitch, roll)
    plane = fit_floor(depth, INTR, down=down if tilt == 0 else (0, 1, 0), max_tilt_deg=tilt)
    assert plane is not None
    assert plane.height == pytest.approx(1.3, rel=2e-3)
    assert math.degrees(math.acos(min(1.0, float(plane.normal @ down)))) < 0.5
    assert plane.support > 0.05


def test_the_fit_does_not_depend_on_the_depth_scale():
    depth = _room(1.1, 12.0)
    a = fit_floor(depth, INTR)
    b = fit_floor(depth * np.float32(0.37), INTR)
    assert b.height == pytest.approx(0.37 * a.height, rel=1e-5)
    assert b.support == a.support


def test_a_table_larger_than_the_visible_floor_is_not_taken_for_it():
    table = (0.75, -1.5, 1.5, 0.9, 3.0)  # top 0.55 m below a 1.3 m camera, most of the view
    depth = _room(1.3, 20.0, table=table)
    at_table = np.isclose(depth, _room(1.3, 20.0, table=table, floor=False), equal_nan=True)
    assert np.isfinite(depth).all() and at_table.mean() > 0.3  # the table dominates the view
    plane = fit_floor(depth, INTR, max_tilt_deg=30.0)
    assert plane.height == pytest.approx(1.3, rel=2e-3)


def test_no_floor_in_view_gives_none_not_a_wrong_plane():
    assert fit_floor(_room(1.3, -20.0, floor=False), INTR) is None  # a wall only
    # a table top with the wall continuing below it: points lie beyond the plane
    table = (0.75, -1.5, 1.5, 1.0, 4.0)
    assert fit_floor(_room(1.3, 20.0, table=table, floor=False), INTR) is None
    assert fit_floor(np.full((240, 320), np.nan, np.float32), INTR) is None


def test_a_distorted_image_is_fitted_along_its_lens_rays():
    lens = make_distortion('plumb_bob', [-0.3, 0.1, 0.0, 0.0, 0.0])
    depth = _room(1.4, 15.0, distortion=lens)
    plane = fit_floor(depth, INTR, lens)
    assert plane.height == pytest.approx(1.4, rel=2e-3)
    ignored = fit_floor(depth, INTR)  # the same pixels read as a pinhole image
    assert ignored is None or abs(ignored.height - 1.4) > 0.01


def test_synthetic_rooms_give_their_camera_height():
    found = 0
    for seed in range(6):
        sample = render_scene(seed, 160, 120)
        world = np.asarray(sample.meta['T_world_camera'])[:3, :3]
        down = world.T @ [0.0, 0.0, -1.0]
        plane = fit_floor(sample.depth, sample.intrinsics, down=down, max_tilt_deg=0.0)
        if plane is None:
            continue
        found += 1
        assert plane.height == pytest.approx(sample.meta['camera_height_m'], rel=0.02)
    assert found >= 4


def test_floor_log_scale_and_bad_arguments():
    plane = fit_floor(_room(1.3, 10.0) * np.float32(0.5), INTR)
    assert floor_log_scale(plane, 1.3) == pytest.approx(math.log(2.0), abs=2e-3)
    with pytest.raises(ValueError, match='camera_height'):
        floor_log_scale(plane, 0.0)
    with pytest.raises(ValueError, match='max_tilt_deg'):
        fit_floor(_room(), INTR, max_tilt_deg=90)
    with pytest.raises(ValueError, match='down'):
        fit_floor(_room(), INTR, down=(0, 0, 0))


def test_the_source_holds_the_last_floor_and_falls_back_before_one():
    source = GroundPlaneScale(1.3, pitch_deg=10.0, fallback_scale=0.8)
    camera = (INTR, None)
    floor = torch.from_numpy(_room(1.3, 10.0) * np.float32(0.5))[None]
    wall = torch.from_numpy(_room(1.3, -20.0, floor=False))[None]
    assert source.estimate(None, wall, camera).log_scale == pytest.approx(math.log(0.8))
    assert source.last_plane is None and not source.holding
    assert source.estimate(None, floor, camera).log_scale == pytest.approx(math.log(2), abs=2e-3)
    assert source.last_plane.height == pytest.approx(0.65, rel=2e-3)
    assert source.holding and source.frames_without_floor == 0
    assert source.estimate(None, wall, camera).log_scale == pytest.approx(math.log(2), abs=2e-3)
    assert source.estimate(None, floor, None).log_scale == pytest.approx(math.log(2), abs=2e-3)
    assert source.frames_without_floor == 2  # no camera: no floor either
    source.reset()
    assert not source.holding and source.frames_without_floor == 0
    assert source.estimate(None, wall, camera).log_scale == pytest.approx(math.log(0.8))
    with pytest.raises(ValueError, match='camera_height'):
        GroundPlaneScale(0.0)
    with pytest.raises(ValueError, match='max_tilt_deg'):
        GroundPlaneScale(1.0, max_tilt_deg=-1)


class _ScriptedNetwork:
    """A scale network whose log s on each frame is the next of ``values`` (std 0.05)."""

    name = 'learned'
    bounds = (0.1, 2.0)

    def __init__(self, values):
        self.values = list(values)

    def estimate(self, rgb, raw_depth=None):
        return ScaleEstimate(self.values.pop(0), 0.05)


def test_a_scale_network_fills_the_frames_without_a_floor_offset_by_the_floors():
    camera = (INTR, None)
    floor2 = torch.from_numpy(_room(1.3, 10.0) * np.float32(0.5))[None]   # floor: s = 2
    floor3 = torch.from_numpy(_room(1.3, 10.0) / np.float32(3.0))[None]   # floor: s = 3
    wall = torch.from_numpy(_room(1.3, -20.0, floor=False))[None]
    network = _ScriptedNetwork([0.1, 0.5, 0.3, 0.2, -0.4, 5.0])
    source = GroundPlaneScale(1.3, pitch_deg=10.0, max_tilt_deg=0.0, fallback_scale=0.8,
                              network=network)
    first = source.estimate(None, wall, camera)  # no floor yet: the network alone
    assert (first.log_scale, first.log_scale_std, first.measured) == (0.1, 0.05, True)
    assert source.network_offset is None
    assert source.estimate(None, floor2, camera).log_scale == pytest.approx(math.log(2), abs=2e-3)
    offset = math.log(2) - 0.5
    assert source.network_offset == pytest.approx(offset, abs=2e-3)
    between = source.estimate(None, wall, camera)
    assert between.measured and not source.holding  # a measurement, not a held scale
    assert between.log_scale == pytest.approx(0.3 + offset, abs=2e-3)
    source.estimate(None, floor3, camera)  # the offset is the mean over the floors
    offset = (offset + math.log(3) - 0.2) / 2
    assert source.offset_floors == 2
    assert source.estimate(None, wall, camera).log_scale == pytest.approx(-0.4 + offset, abs=3e-3)
    # the network's log s is clamped to its bounds before the offset is added
    assert source.estimate(None, wall, camera).log_scale == pytest.approx(math.log(2) + offset,
                                                                          abs=3e-3)
    source.reset()
    assert source.network_offset is None and source.offset_floors == 0


def test_the_floor_offset_remembers_about_the_last_floors():
    camera = (INTR, None)
    floor = torch.from_numpy(_room(1.3, 10.0) * np.float32(0.5))[None]   # floor: s = 2
    n = 4 * FLOOR_OFFSET_MEMORY
    network = _ScriptedNetwork([math.log(2)] * n + [math.log(2) - 1.0])
    source = GroundPlaneScale(1.3, pitch_deg=10.0, max_tilt_deg=0.0, network=network)
    for _ in range(n):  # many floors that agree with the network
        source.estimate(None, floor, camera)
    assert abs(source.network_offset) < 2e-3
    source.estimate(None, floor, camera)  # one that is off by 1: weighs 1 / memory, not 1 / n
    assert source.network_offset == pytest.approx(1.0 / FLOOR_OFFSET_MEMORY, abs=2e-3)


def _angle_deg(a, b):
    return math.degrees(math.acos(min(1.0, float(np.dot(a, b)))))


def test_pitch_roll_inverts_down_vector():
    for pitch, roll in ((0, 0), (12.5, -3.0), (-20, 40), (60, 5)):
        assert pitch_roll(down_vector(pitch, roll)) == pytest.approx((pitch, roll), abs=1e-9)
    assert pitch_roll(2.0 * down_vector(10, 2)) == pytest.approx((10, 2), abs=1e-9)


def test_mount_normal_leaves_out_the_tilted_planes():
    true = down_vector(12.0, 3.0)
    rng = np.random.default_rng(0)
    good = true + rng.normal(0.0, math.radians(0.7), (40, 3))  # ~1° scatter
    tilted = np.tile(down_vector(27.0, 3.0), (10, 1))           # a ramp in 10 of 50 fits
    normals = np.vstack([good, tilted])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    assert _angle_deg(mount_normal(normals), true) < 0.3
    mean = normals.mean(axis=0)
    assert _angle_deg(mean / np.linalg.norm(mean), true) > 2.0  # what the plain mean gives
    assert _angle_deg(mount_normal([true]), true) < 1e-6
    with pytest.raises(ValueError, match='at least one'):
        mount_normal(np.zeros((0, 3)))


def test_the_source_calibrates_a_rigid_mount_then_fits_along_it():
    camera = (INTR, None)
    rng = np.random.default_rng(1)
    wall = torch.from_numpy(_room(1.3, -20.0, floor=False))[None]
    source = GroundPlaneScale(1.3, max_tilt_deg=30.0, calibration_floors=3)  # mount unknown
    assert source.calibrating and source.mount is None
    for i in range(3):
        noisy = _room(1.3, 12.0, 3.0) * np.exp(rng.normal(0, 0.01, (240, 320)))
        source.estimate(None, torch.from_numpy(noisy.astype(np.float32))[None], camera)
        source.estimate(None, wall, camera)  # no floor: does not count
        assert source.calibration_count == (i + 1) % 3
    assert not source.calibrating and _angle_deg(source.mount, down_vector(12.0, 3.0)) < 0.3
    source.estimate(None, torch.from_numpy(_room(1.3, 12.0, 3.0) * np.float32(0.5))[None], camera)
    assert np.allclose(source.last_plane.normal, source.mount, atol=1e-12)  # fitted along it
    assert math.exp(source.estimate(None, wall, camera).log_scale) == pytest.approx(2, rel=1e-2)
    source.reset()  # a new camera: a new mount
    assert source.mount is None and source.calibrating
    assert not GroundPlaneScale(1.3, calibration_floors=0).calibrating  # handheld: search
    assert not GroundPlaneScale(1.3, max_tilt_deg=0.0).calibrating      # the mount is given
    with pytest.raises(ValueError, match='calibration floors'):
        GroundPlaneScale(1.3, calibration_floors=-1)


def test_a_robot_learns_its_mount_from_synthetic_rooms():
    """Rooms seen from one mount (0.8 m, 10° down, 2° roll) with the SIMULATED base model."""
    model = SimulatedBaseModel()
    source = GroundPlaneScale(0.8, max_tilt_deg=30.0, calibration_floors=8)
    for seed in range(100000, 100012):
        sample = render_scene(seed, 160, 120, mount=(0.8, -10.0, 2.0))
        depth = torch.from_numpy(model.predict(sample))[None]
        source.estimate(None, depth, (sample.intrinsics, None))
        if source.mount is not None:
            break
    assert source.mount is not None
    assert _angle_deg(source.mount, down_vector(10.0, 2.0)) < 1.0


def test_render_scene_takes_a_robot_mount():
    sample = render_scene(7, 64, 48, mount=(0.5, -15.0, 1.5))
    assert sample.name == 'synthetic/000007@mount(0.5,-15,1.5)'
    meta = sample.meta
    assert (meta['camera_height_m'], meta['camera_pitch_deg'], meta['camera_roll_deg']) == \
        pytest.approx((0.5, -15.0, 1.5))
    down = np.asarray(meta['T_world_camera'])[:3, :3].T @ [0.0, 0.0, -1.0]
    assert pitch_roll(down) == pytest.approx((15.0, 1.5))
    assert np.asarray(meta['T_world_camera'])[2][3] == pytest.approx(0.5)
    plain = render_scene(7, 64, 48)
    assert np.allclose(np.asarray(plain.meta['T_world_camera'])[:2, 3],
                       np.asarray(meta['T_world_camera'])[:2, 3])  # same place in the room
    with pytest.raises(ValueError, match='mount must be'):
        render_scene(7, 64, 48, mount=(9.0, 0.0, 0.0))  # above the ceiling


class _FloorRunner(DepthAnythingRunner):
    """The tiny DA2 whose depth is replaced by a room seen from 1.3 m, at half its scale."""

    def postprocess(self, predicted, height, width):
        intr = NYU_INTRINSICS.scaled(width, height)
        return torch.from_numpy(_room(1.3, 12.0, intr=intr) * np.float32(0.5))[None]


def test_frame_processor_applies_the_floor_scale(tiny_da2_dir):
    runner = _FloorRunner(str(tiny_da2_dir), device='cpu', input_size=56)
    processor = FrameProcessor(runner, GroundPlaneScale(1.3, pitch_deg=12.0, max_tilt_deg=0.0))
    rgb = np.zeros((120, 160, 3), np.uint8)
    result = processor.process(rgb, NYU_INTRINSICS)
    assert result.scale == pytest.approx(2.0, rel=2e-3)
    expected = _room(1.3, 12.0, intr=NYU_INTRINSICS.scaled(160, 120))
    assert np.allclose(result.depth, expected, rtol=3e-3, equal_nan=True)
    processor.reset_smoothing()  # a new camera: the held floor goes too
    assert processor.scale_source.last_plane is None and processor.scale_source._held is None
    with pytest.raises(ValueError, match='camera_height'):
        FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='ground_plane')
    built = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='ground_plane',
                                      camera_height=0.4, floor_calibration=3)
    assert built.scale_source.calibration_floors == 3 and built.scale_source.calibrating


class _ScriptedRunner(DepthAnythingRunner):
    """The tiny DA2 whose depth is the next room of ``rooms`` (each a callable of intrinsics)."""

    rooms = []

    def postprocess(self, predicted, height, width):
        room = self.rooms.pop(0)(NYU_INTRINSICS.scaled(width, height))
        return torch.from_numpy(room.astype(np.float32))[None]


def test_from_paths_gives_the_floor_a_scale_network_from_scale_checkpoint(
        tiny_da2_dir, tmp_path):
    torch.manual_seed(0)
    cfg = ScaleNetConfig(input_size=(32, 32), channels=(4, 4, 8, 8), fc=(8,))
    checkpoint = save_scale_net(tmp_path / 'scale', ScaleNet(cfg), cfg)
    plain = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='ground_plane',
                                      camera_height=1.3, input_size=56)
    assert plain.scale_source.network is None
    processor = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='ground_plane',
                                          scale_checkpoint=checkpoint, camera_height=1.3,
                                          camera_pitch=12.0, floor_max_tilt=0.0, input_size=56)
    assert isinstance(processor.scale_source.network, LearnedScale)
    runner = _ScriptedRunner(str(tiny_da2_dir), device='cpu', input_size=56)
    half = lambda intr: _room(1.3, 12.0, intr=intr) * 0.5  # noqa: E731  s = 2
    wall = lambda intr: _room(1.3, -20.0, floor=False, intr=intr)  # noqa: E731  no floor
    runner.rooms = [wall, half, wall]
    processor.depth_model = runner
    rgb = np.full((120, 160, 3), 90, np.uint8)
    network = processor.scale_source.network.estimate(
        torch.from_numpy(rgb)[None]).log_scale
    results = [processor.process(rgb, NYU_INTRINSICS) for _ in range(3)]
    expected = min(max(math.exp(network), 0.1), 2.0)  # the network alone before a floor
    assert results[0].raw_scale == pytest.approx(expected, rel=1e-4)
    assert results[1].scale == pytest.approx(2.0, rel=3e-3)
    # the same image without a floor: the network, offset by the floor it has seen
    assert results[2].scale == pytest.approx(2.0, rel=3e-3) and not results[2].scale_held


def test_smoothing_starts_at_the_first_floor_and_holds_without_one(tiny_da2_dir):
    runner = _ScriptedRunner(str(tiny_da2_dir), device='cpu', input_size=56)
    half = lambda intr: _room(1.3, 12.0, intr=intr) * 0.5  # noqa: E731  s = 2
    third = lambda intr: _room(1.3, 12.0, intr=intr) / 3.0  # noqa: E731  s = 3
    wall = lambda intr: _room(1.3, -20.0, floor=False, intr=intr)  # noqa: E731  no floor
    runner.rooms = [wall, wall, half, wall, third]
    source = GroundPlaneScale(1.3, pitch_deg=12.0, max_tilt_deg=0.0, fallback_scale=0.8)
    processor = FrameProcessor(runner, source, scale_smoothing=0.9)
    rgb = np.zeros((120, 160, 3), np.uint8)
    results = [processor.process(rgb, NYU_INTRINSICS) for _ in range(5)]
    assert [r.scale_held for r in results] == [True, True, False, True, False]
    assert results[0].scale == pytest.approx(0.8)  # the fallback, not averaged in
    assert results[2].scale == pytest.approx(2.0, rel=3e-3)  # the first floor starts the EMA
    assert results[3].scale == pytest.approx(results[2].scale)
    expected = math.exp(0.9 * math.log(2.0) + 0.1 * math.log(3.0))
    assert results[4].scale == pytest.approx(expected, rel=3e-3)


@pytest.mark.parametrize('pitch, wall', [(12.0, 1.0), (0.0, 1.0), (12.0, 2.0), (0.0, 3.0)])
def test_the_foot_of_a_wall_is_no_floor_even_with_the_normal_fixed(pitch, wall):
    depth = _room(1.3, pitch, floor=False, wall=wall)  # the floor is out of view
    for tilt in (0.0, 30.0):  # fixed, the band at the wall's foot is a strip, not an area
        assert fit_floor(depth, INTR, down=down_vector(pitch), max_tilt_deg=tilt) is None


@pytest.mark.parametrize('pitch, roll', [(0.0, 180.0), (100.0, 0.0), (0.0, 120.0)])
def test_a_mount_of_any_orientation_finds_its_floor(pitch, roll):
    depth = _room(1.3, pitch, roll)
    for tilt in (0.0, 30.0):  # normals are oriented along down, not along the image's y
        plane = fit_floor(depth, INTR, down=down_vector(pitch, roll), max_tilt_deg=tilt)
        assert plane.height == pytest.approx(1.3, rel=2e-3)
    with pytest.raises(ValueError, match='finite'):
        GroundPlaneScale(1.3, pitch_deg=float('nan'))


def test_a_tiny_image_is_no_proof_of_a_floor():
    intr = Intrinsics(50.0, 50.0, 3.0, 2.0, 7, 5)
    random = np.random.default_rng(0).uniform(0.5, 5.0, (5, 7)).astype(np.float32)
    assert fit_floor(random, intr) is None  # 35 points: too few to show a plane
    assert fit_floor(np.full((5, 7), 2.0, np.float32), intr) is None


def test_a_floor_outside_the_tilt_cone_is_not_accepted():
    depth = _room(1.3, 40.0)  # pitched 40° down, searched around a level camera
    assert fit_floor(depth, INTR, max_tilt_deg=30.0) is None
    assert fit_floor(depth, INTR, max_tilt_deg=45.0).height == pytest.approx(1.3, rel=2e-3)
