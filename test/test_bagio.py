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

"""Tests of adaptive_depth.bagio and the bag dataset: reading, pairing, errors, writing."""

from pathlib import Path

from adaptive_depth import bagio
from adaptive_depth.bagio import (BagError, BagReader, BagReadError, BagTopicError,
                                  OutputBagWriter)
from adaptive_depth.datasets import open_dataset
from adaptive_depth.datasets.bag import BagDataset
from adaptive_depth.synthetic import render_scene
from adaptive_depth.testing import write_rgbd_bag
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / 'shared'
SPOT_BAG = SHARED / 'data' / 'bags' / 'spot_hand_color_raw.bag'
W, H = 160, 120
COLOR = '/camera/color/image_raw'
INFO = '/camera/color/camera_info'
DEPTH = '/camera/aligned_depth_to_color/image_raw'
START = 1_700_000_000_000_000_000


@pytest.fixture(scope='module')
def scenes():
    return [render_scene(seed, width=W, height=H) for seed in range(4)]


def _bag_path(tmp_path: Path, storage: str, name: str = 'rec') -> Path:
    return tmp_path / (f'{name}.bag' if storage == 'ros1' else name)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3', 'ros1'])
def test_read_all_formats(tmp_path, scenes, storage):
    path = write_rgbd_bag(_bag_path(tmp_path, storage), scenes, storage=storage,
                          depth_offset_ns=5_000_000)
    with BagReader(path) as reader:
        topics = reader.topics
        assert {COLOR, INFO, DEPTH} == set(topics)
        assert topics[COLOR].count == len(scenes)
        assert topics[INFO].msgtype == bagio.CAMERA_INFO
        assert reader.is_ros1 == (storage == 'ros1')
        sel = reader.select_topics()
        assert (sel.image, sel.info, sel.depth) == (COLOR, INFO, DEPTH)
        frames = list(reader.frames(sel, tolerance_s=0.02))
    assert len(frames) == len(scenes)
    for i, (frame, sample) in enumerate(zip(frames, scenes)):
        assert frame.index == i
        assert frame.stamp_ns == START + i * 100_000_000
        assert frame.depth_stamp_ns == frame.stamp_ns + 5_000_000
        assert frame.frame_id == 'camera_color_optical_frame'
        np.testing.assert_array_equal(frame.rgb, sample.rgb)
        assert frame.depth.dtype == np.float32 and frame.depth.shape == (H, W)
        gt_valid = sample.valid_mask()
        np.testing.assert_array_equal(np.isfinite(frame.depth), gt_valid)
        # 16UC1 millimetres: quantisation error <= 0.5 mm
        assert np.nanmax(np.abs(frame.depth - sample.depth)) <= 0.0005 + 1e-6
        intr = frame.intrinsics
        assert (intr.width, intr.height) == (W, H)
        assert intr.fx == pytest.approx(sample.intrinsics.fx)
        assert intr.cy == pytest.approx(sample.intrinsics.cy)
        # ROS 1 messages come out as Jazzy types (CameraInfo.k, no header.seq)
        assert hasattr(frame.info_msg, 'k') and not hasattr(frame.image_msg.header, 'seq')


def test_pairing_by_stamp_with_tolerance(tmp_path, scenes):
    path = write_rgbd_bag(tmp_path / 'off', scenes, depth_offset_ns=15_000_000,
                          depth_encoding='32FC1')
    with BagReader(path) as reader:
        sel = reader.select_topics()
        wide = list(reader.frames(sel, tolerance_s=0.02))
        narrow = list(reader.frames(sel, tolerance_s=0.01))
        every2 = list(reader.frames(sel, tolerance_s=0.02, every=2))
    assert [f.depth_stamp_ns - f.stamp_ns for f in wide] == [15_000_000] * len(scenes)
    # 32FC1 metres round-trips exactly
    np.testing.assert_array_equal(wide[2].depth, scenes[2].depth)
    assert all(f.depth is None and f.rgb is not None for f in narrow)
    assert [f.index for f in every2] == [0, 2]
    np.testing.assert_array_equal(every2[1].rgb, scenes[2].rgb)


def test_nearest_and_latest_matching():
    depth = np.array([100, 210, 290, 500], dtype=np.int64)
    color = np.array([95, 200, 300, 400, 505], dtype=np.int64)
    np.testing.assert_array_equal(bagio._match_nearest(color, depth, 15), [0, 1, 2, -1, 3])
    # unsorted reference stamps give the same pairs
    perm = np.array([2, 0, 3, 1])
    got = bagio._match_nearest(color, depth[perm], 15)
    np.testing.assert_array_equal(np.where(got >= 0, perm[got], -1), [0, 1, 2, -1, 3])
    info = np.array([150, 300], dtype=np.int64)
    # latest at or before each image; the first info for images before any info
    np.testing.assert_array_equal(bagio._match_latest(color, info), [0, 0, 1, 1, 1])


def test_missing_topics_list_what_was_found(tmp_path, scenes):
    path = write_rgbd_bag(tmp_path / 'nodepth', scenes[:2], depth_topic=None, info_topic=None)
    with BagReader(path) as reader:
        with pytest.raises(BagTopicError) as err:
            reader.select_topics(image_topic='/nope/image')
        assert "'/nope/image' not found" in str(err.value) and COLOR in str(err.value)
        with pytest.raises(BagTopicError) as err:
            reader.select_topics(require_depth=True)
        assert 'no depth topic' in str(err.value) and COLOR in str(err.value)
        with pytest.raises(BagTopicError) as err:
            reader.select_topics(require_info=True)
        assert 'no camera_info' in str(err.value)
        with pytest.raises(BagTopicError, match='has type sensor_msgs/msg/Image'):
            reader.select_topics(info_topic=COLOR)
        sel = reader.select_topics()
        assert (sel.info, sel.depth) == (None, None)
        frame = next(reader.frames(sel))
        assert frame.intrinsics is None and frame.depth is None
    with pytest.raises(BagTopicError, match='no depth topic'):
        BagDataset(path)


def test_compressed_colour_topic(tmp_path, scenes):
    path = write_rgbd_bag(tmp_path / 'jpeg', scenes[:2], compressed=True)
    with BagReader(path) as reader:
        sel = reader.select_topics()
        assert sel.image == COLOR + '/compressed' and sel.image_type == bagio.COMPRESSED_IMAGE
        assert sel.info == INFO  # namespace lookup strips /compressed
        frames = list(reader.frames(sel))
    err = np.abs(frames[1].rgb.astype(np.int16) - scenes[1].rgb.astype(np.int16))
    assert frames[1].rgb.shape == (H, W, 3) and err.mean() < 6.0


def test_real_ros1_bag():
    if not SPOT_BAG.exists():
        pytest.skip(f'shared data folder not found: {SPOT_BAG}')
    with BagReader(SPOT_BAG) as reader:
        assert reader.is_ros1
        sel = reader.select_topics()
        assert sel.image == '/spot/camera/hand_color/image'
        assert sel.info is None and sel.depth is None
        frames = list(reader.frames(sel))
        cdr = list(reader.iter_cdr([sel.image]))
    assert len(frames) == 1
    frame = frames[0]
    assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
    assert frame.frame_id == 'gripper_color_camera_z_forward'
    assert frame.stamp_ns == 1648052479 * 10**9 + 616566426
    assert frame.rgb.std() > 5  # a real picture, not a constant buffer
    # the ROS 1 message converts to a Jazzy CDR Image that decodes to the same pixels
    from rosbags.typesys import get_typestore, Stores
    msg = get_typestore(Stores.ROS2_JAZZY).deserialize_cdr(cdr[0][3], bagio.IMAGE)
    assert msg.encoding == 'rgb8' and msg.header.frame_id == frame.frame_id
    with pytest.raises(BagTopicError, match='no depth topic'):
        BagDataset(SPOT_BAG)


def test_bag_dataset(tmp_path, scenes):
    path = write_rgbd_bag(tmp_path / 'ds', scenes, storage='sqlite3')
    ds = open_dataset(f'bag:{path}')
    assert isinstance(ds, BagDataset) and len(ds) == len(scenes)
    s2 = ds[2]
    assert s2.name == 'ds/000002' and ds.sample_name(-1) == 'ds/000003'
    np.testing.assert_array_equal(s2.rgb, scenes[2].rgb)
    assert np.nanmax(np.abs(s2.depth - scenes[2].depth)) <= 0.0005 + 1e-6
    assert s2.intrinsics.fx == pytest.approx(scenes[2].intrinsics.fx)
    assert s2.meta['stamp_ns'] == START + 200_000_000 and s2.meta['depth_topic'] == DEPTH
    streamed = list(ds)
    assert [s.name for s in streamed] == ds.names()
    np.testing.assert_array_equal(streamed[2].depth, s2.depth)
    assert len(BagDataset(path, every=2)) == 2
    with pytest.raises(IndexError):
        ds[len(scenes)]
    with pytest.raises(BagError, match='within 0.001 s'):
        BagDataset(write_rgbd_bag(tmp_path / 'late', scenes[:2], depth_offset_ns=30_000_000),
                   tolerance_s=0.001)
    ds.close()


@pytest.mark.parametrize('storage', ['mcap', 'ros1'])
def test_corrupt_bag_gives_clear_error(tmp_path, scenes, storage):
    path = write_rgbd_bag(_bag_path(tmp_path, storage), scenes, storage=storage)
    target = path if storage == 'ros1' else next(path.glob('*.mcap'))
    data = target.read_bytes()
    target.write_bytes(data[:len(data) // 2])
    with pytest.raises(BagReadError) as err:
        with BagReader(path) as reader:
            list(reader.frames(reader.select_topics()))
    assert str(path) in str(err.value)


def test_not_a_bag(tmp_path):
    with pytest.raises(FileNotFoundError):
        BagReader(tmp_path / 'missing.bag')
    (tmp_path / 'empty_dir').mkdir()
    with pytest.raises(BagReadError, match='metadata.yaml'):
        BagReader(tmp_path / 'empty_dir').open_bag()
    junk = tmp_path / 'junk.bag'
    junk.write_bytes(b'not a bag at all')
    with pytest.raises(BagReadError, match='junk.bag'):
        BagReader(junk).open_bag()


def test_output_writer_is_atomic(tmp_path, scenes):
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with OutputBagWriter(out) as writer:
            writer.add_topic('/x/scale', bagio.VECTOR3_STAMPED)
            assert writer.work_dir.exists() and not out.exists()
            raise RuntimeError('boom')
    assert list(tmp_path.iterdir()) == []

    from rosbags.convert.converter import default_message
    with OutputBagWriter(out) as writer:
        msg = default_message(writer.typestore, bagio.VECTOR3_STAMPED)
        msg.vector.x = 0.75
        writer.write_msg('/x/scale', bagio.VECTOR3_STAMPED, 5, msg)
        (writer.work_dir / 'extra.txt').write_text('moved along')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out']
    assert (out / 'extra.txt').read_text() == 'moved along'
    assert list(out.glob('*.mcap'))
    with BagReader(out) as reader:
        (_, log_time, got), = list(reader._iter_messages(['/x/scale']))
    assert log_time == 5 and got.vector.x == 0.75
    with pytest.raises(FileExistsError, match='already exists'):
        OutputBagWriter(out)


def test_unknown_encoding_is_reported(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores

    ts = get_typestore(Stores.ROS2_JAZZY)
    path = tmp_path / 'nv21'
    header = ts.types['std_msgs/msg/Header'](
        stamp=ts.types['builtin_interfaces/msg/Time'](sec=1, nanosec=0), frame_id='cam')
    msg = ts.types[bagio.IMAGE](header=header, height=4, width=6, encoding='nv21',
                                is_bigendian=0, step=6, data=np.zeros(24, np.uint8))
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/cam/image_raw', bagio.IMAGE, typestore=ts)
        writer.write(conn, 1_000_000_000, bytes(ts.serialize_cdr(msg, bagio.IMAGE)))
    with BagReader(path) as reader:
        with pytest.raises(BagTopicError, match='no colour camera topic') as err:
            reader.select_topics()
        assert '/cam/image_raw [sensor_msgs/msg/Image] (1 messages)' in str(err.value)
        sel = reader.select_topics(image_topic='/cam/image_raw')
        with pytest.raises(BagReadError, match='nv21') as err:
            list(reader.frames(sel))
        assert str(path) in str(err.value)
