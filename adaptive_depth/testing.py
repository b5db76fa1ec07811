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
Helpers that build small, offline Depth Anything V2 models for tests, demos and benchmarks.

Nothing here downloads anything: models are built from a ``DepthAnythingConfig`` with random
weights and written with ``save_pretrained`` so they load through the same code path as a real
checkpoint directory. :func:`write_rgbd_bag` writes RGB-D samples as a camera recording (a test
fixture for bag readers, replay and format conversion).
"""

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch

PathLike = Union[str, Path]


def _depth_anything_config(size: str, max_depth: int):
    from transformers import DepthAnythingConfig, Dinov2Config

    if size == 'tiny':
        backbone = Dinov2Config(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
            patch_size=14, image_size=518, out_features=['stage1', 'stage2', 'stage3', 'stage4'],
            reshape_hidden_states=False)
        return DepthAnythingConfig(
            backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
            fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type='metric',
            max_depth=max_depth)
    if size == 'small':
        # The architecture of Depth-Anything-V2-Small (ViT-S/14 backbone, 24.8 M parameters).
        backbone = Dinov2Config(
            hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
            patch_size=14, image_size=518, layerscale_value=1.0,
            out_features=['stage3', 'stage6', 'stage9', 'stage12'], reshape_hidden_states=False)
        return DepthAnythingConfig(
            backbone_config=backbone, reassemble_hidden_size=384,
            neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64, head_hidden_size=32,
            depth_estimation_type='metric', max_depth=max_depth)
    raise ValueError(f"unknown model size {size!r}: expected 'tiny' or 'small'")


def make_untrained_depth_anything(directory: PathLike, size: str = 'tiny', seed: int = 0,
                                  max_depth: int = 20) -> Path:
    """
    Write a randomly initialised metric Depth Anything V2 model to ``directory``.

    ``size='tiny'`` builds a ~0.2 M-parameter model for tests; ``size='small'`` builds the
    DA2-Small architecture (24.8 M parameters) for speed benchmarks and for demos that have no
    access to the real weights. The depth head's last layers are re-drawn with a larger spread
    so that the untrained model's output varies across the image (a freshly initialised head
    predicts an almost constant ``max_depth / 2``). ``max_depth`` (metres) must be an int because
    transformers 5.x stores it as one. Returns the directory.
    """
    from transformers import DepthAnythingForDepthEstimation

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(_depth_anything_config(size, int(max_depth)))
    with torch.no_grad():
        for name, param in model.head.named_parameters():
            if name.endswith('weight'):
                param.normal_(0.0, 3.0)
            elif name.endswith('bias'):
                param.zero_()
    # Marks the weights as untrained so the node and tools can label everything they produce.
    model.config.adaptive_depth_untrained = True
    model.save_pretrained(directory)
    return directory


BAG_STORAGES = ('mcap', 'sqlite3', 'ros1')


def write_rgbd_bag(path: PathLike, samples: Sequence[Any], storage: str = 'mcap',
                   image_topic: str = '/camera/color/image_raw',
                   info_topic: Optional[str] = '/camera/color/camera_info',
                   depth_topic: Optional[str] = '/camera/aligned_depth_to_color/image_raw',
                   frame_id: str = 'camera_color_optical_frame', fps: float = 10.0,
                   start_ns: int = 1_700_000_000_000_000_000, depth_encoding: str = '16UC1',
                   depth_offset_ns: int = 0, compressed: bool = False,
                   distortion: Optional[Any] = None) -> Path:
    """
    Write ``RGBDSample``s as a camera recording (for tests, demos and format conversion).

    ``storage`` is 'mcap' or 'sqlite3' (rosbag2 directory) or 'ros1' (a .bag file). Frame i is
    stamped ``start_ns + i/fps`` (depth ``depth_offset_ns`` later); colour is rgb8 (or JPEG
    when ``compressed``, on ``<image_topic>/compressed``), depth 16UC1 millimetres or 32FC1
    metres (NaN → 0 for 16UC1). camera_info has the samples' intrinsics and ``distortion``
    (a ``lens.Distortion``; None: zero d). A topic set to None is not written. Returns the bag
    path.
    """
    import cv2
    from adaptive_depth.bagio import CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, ROSBAG2_VERSION
    from adaptive_depth.ros import conversions
    from rosbags.typesys import get_typestore, Stores

    if storage not in BAG_STORAGES:
        raise ValueError(f'storage must be one of {BAG_STORAGES}, got {storage!r}')
    if depth_encoding not in ('16UC1', '32FC1'):
        raise ValueError(f"depth_encoding must be '16UC1' or '32FC1', got {depth_encoding!r}")
    path = Path(path)
    ros1 = storage == 'ros1'
    ts = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_JAZZY)
    if ros1:
        from rosbags.rosbag1 import Writer as Writer1
        writer: Any = Writer1(path)
    else:
        from rosbags.rosbag2 import StoragePlugin, Writer as Writer2
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        writer = Writer2(path, version=ROSBAG2_VERSION, storage_plugin=plugin)
    types = ts.types
    header_t, time_t = types['std_msgs/msg/Header'], types['builtin_interfaces/msg/Time']
    roi_t = types['sensor_msgs/msg/RegionOfInterest']

    def header(stamp: int, seq: int) -> Any:
        t = time_t(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)
        if ros1:
            return header_t(seq=seq, stamp=t, frame_id=frame_id)
        return header_t(stamp=t, frame_id=frame_id)

    def serialize(msg: Any, msgtype: str) -> bytes:
        return bytes(ts.serialize_ros1(msg, msgtype) if ros1 else ts.serialize_cdr(msg, msgtype))

    def image(hdr: Any, fields: Dict[str, Any]) -> Any:
        return types[IMAGE](header=hdr, height=fields['height'], width=fields['width'],
                            encoding=fields['encoding'], is_bigendian=0, step=fields['step'],
                            data=np.ascontiguousarray(fields['data']).view(np.uint8).reshape(-1))

    with writer:
        color_name = image_topic + '/compressed' if compressed else image_topic
        color_type = COMPRESSED_IMAGE if compressed else IMAGE
        conns = {'color': writer.add_connection(color_name, color_type, typestore=ts)}
        if info_topic:
            conns['info'] = writer.add_connection(info_topic, CAMERA_INFO, typestore=ts)
        if depth_topic:
            conns['depth'] = writer.add_connection(depth_topic, IMAGE, typestore=ts)
        for i, sample in enumerate(samples):
            stamp = int(start_ns + round(i * 1e9 / fps))
            hdr = header(stamp, i)
            rgb = np.ascontiguousarray(sample.rgb, dtype=np.uint8)
            h, w = rgb.shape[:2]
            if compressed:
                ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                if not ok:
                    raise ValueError('JPEG encoding failed')
                color = types[COMPRESSED_IMAGE](header=hdr, format='rgb8; jpeg compressed bgr8',
                                                data=buf.reshape(-1).astype(np.uint8))
            else:
                color = image(hdr, conversions.rgb_to_image_fields(rgb))
            if 'info' in conns:
                fields = conversions.intrinsics_to_camera_info_fields(
                    sample.intrinsics, distortion.model if distortion else 'plumb_bob')
                if distortion is not None:
                    fields['d'] = list(distortion.d)
                arrays = {k: np.asarray(fields[k], dtype=np.float64) for k in 'dkrp'}
                if ros1:
                    arrays = {k.upper(): v for k, v in arrays.items()}
                info = types[CAMERA_INFO](
                    header=hdr, height=h, width=w, distortion_model=fields['distortion_model'],
                    binning_x=0, binning_y=0,
                    roi=roi_t(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
                    **arrays)
                writer.write(conns['info'], stamp, serialize(info, CAMERA_INFO))
            writer.write(conns['color'], stamp, serialize(color, color_type))
            if 'depth' in conns:
                depth = np.asarray(sample.depth, dtype=np.float32)
                if depth_encoding == '16UC1':
                    with np.errstate(invalid='ignore'):
                        mm = np.where(np.isfinite(depth) & (depth > 0),
                                      np.round(depth * 1000.0), 0)
                    data = np.clip(mm, 0, 65535).astype('<u2')
                    fields = {'encoding': '16UC1', 'height': h, 'width': w, 'step': 2 * w,
                              'data': data}
                else:
                    fields = conversions.depth_to_image_fields(depth)
                dstamp = stamp + int(depth_offset_ns)
                writer.write(conns['depth'], dstamp,
                             serialize(image(header(dstamp, i), fields), IMAGE))
    return path
