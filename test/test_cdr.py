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
The node's serialized messages equal rclpy's serialization of the same message objects.

Same length and the same message when read back (rclpy leaves alignment padding uninitialised,
so the padding bytes themselves may differ).
"""

from adaptive_depth.ros import cdr
import numpy as np
import pytest


@pytest.mark.parametrize('frame_id,width', [('camera_color_optical_frame', 7), ('', 8),
                                            ('abc', 5)])
def test_cdr_bytes_equal_rclpy_serialization(frame_id, width):
    pytest.importorskip('rclpy')
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image, PointCloud2, PointField

    rng = np.random.default_rng(width)
    depth = rng.uniform(0.1, 5.0, (3, width)).astype(np.float32)
    depth[0, 0] = np.nan
    msg = Image(height=3, width=width, encoding='32FC1', is_bigendian=0, step=4 * width,
                data=depth.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = -5, 123456789
    msg.header.frame_id = frame_id
    raw = cdr.depth_image_cdr(msg.header, depth)
    assert len(raw) == len(serialize_message(msg))
    back = deserialize_message(raw, Image)
    assert back == msg
    assert back.header.frame_id == frame_id and bytes(back.data) == depth.tobytes()

    fields = [('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)][:2 + width % 3]
    data = rng.integers(0, 256, (3, 16 * width), dtype=np.uint8)
    cloud = PointCloud2(header=msg.header, height=3, width=width, is_bigendian=False,
                        point_step=16, row_step=16 * width, data=data.tobytes(), is_dense=False,
                        fields=[PointField(name=n, offset=o, datatype=d, count=c)
                                for n, o, d, c in fields])
    raw = cdr.pointcloud2_cdr(msg.header, 3, width, fields, 16, 16 * width, data)
    assert len(raw) == len(serialize_message(cloud))
    assert deserialize_message(raw, PointCloud2) == cloud


def test_cdr_rejects_a_wrong_payload_size():
    class Header:
        frame_id = 'f'

        class stamp:  # noqa: N801 - mimics the message field
            sec, nanosec = 1, 2

    with pytest.raises(ValueError, match='expected step'):
        cdr.image_cdr(Header, 2, 2, '32FC1', 8, b'\0' * 15)
    with pytest.raises(ValueError, match='expected row_step'):
        cdr.pointcloud2_cdr(Header, 2, 2, [('x', 0, 7, 1)], 16, 32, b'\0' * 63)
