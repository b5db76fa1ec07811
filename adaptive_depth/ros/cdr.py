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
Serialized (CDR, little-endian) ``sensor_msgs/Image`` and ``PointCloud2`` built with numpy only.

The node publishes these bytes with ``Publisher.publish(bytes)``: the large ``data`` payload is
copied once (into the serialized message) instead of three times (numpy → bytes → the message's
``array.array`` → serialization). ``benchmarks/bench_messages.py`` measures the difference; the
tests check the bytes against ``rclpy.serialization.serialize_message`` field for field.
"""

import struct
from typing import Any, List, Sequence, Tuple

import numpy as np

_ENCAPSULATION = b'\x00\x01\x00\x00'  # CDR, little-endian


class _Writer:
    """Append CDR primitives; alignment counts from the end of the encapsulation header."""

    def __init__(self) -> None:
        self.parts: List[Any] = [_ENCAPSULATION]
        self.pos = 0

    def _align(self, n: int) -> None:
        pad = -self.pos % n
        if pad:
            self.parts.append(b'\x00' * pad)
            self.pos += pad

    def u8(self, value: int) -> None:
        self.parts.append(struct.pack('<B', value))
        self.pos += 1

    def u32(self, value: int) -> None:
        self._align(4)
        self.parts.append(struct.pack('<I', value))
        self.pos += 4

    def i32(self, value: int) -> None:
        self._align(4)
        self.parts.append(struct.pack('<i', value))
        self.pos += 4

    def string(self, value: str) -> None:
        raw = value.encode('utf-8') + b'\x00'
        self.u32(len(raw))
        self.parts.append(raw)
        self.pos += len(raw)

    def blob(self, data: Any, nbytes: int) -> None:
        self.u32(nbytes)
        self.parts.append(data)
        self.pos += nbytes

    def header(self, stamp_sec: int, stamp_nanosec: int, frame_id: str) -> None:
        self.i32(stamp_sec)
        self.u32(stamp_nanosec)
        self.string(frame_id)

    def join(self) -> bytes:
        return b''.join(self.parts)


def _stamp(header: Any) -> Tuple[int, int, str]:
    return int(header.stamp.sec), int(header.stamp.nanosec), str(header.frame_id)


def _payload(data: Any, expected: int, what: str, rule: str) -> memoryview:
    """Return ``data`` as a byte view, checked to hold ``expected`` bytes (``rule`` says why)."""
    view = memoryview(data).cast('B')
    if view.nbytes != expected:
        raise ValueError(f'{what} has {view.nbytes} bytes, expected {rule} = {expected}')
    return view


def image_cdr(header: Any, height: int, width: int, encoding: str, step: int,
              data: Any) -> bytes:
    """
    Return a serialized ``sensor_msgs/Image`` (little-endian payload, ``is_bigendian`` 0).

    ``header`` is any message with ``stamp.sec``, ``stamp.nanosec`` and ``frame_id``; ``data``
    a C-contiguous numpy array or bytes-like object of ``step × height`` bytes.
    """
    view = _payload(data, step * height, 'image data', 'step*height')
    w = _Writer()
    w.header(*_stamp(header))
    w.u32(height)
    w.u32(width)
    w.string(encoding)
    w.u8(0)
    w.u32(step)
    w.blob(view, view.nbytes)
    return w.join()


def depth_image_cdr(header: Any, depth: np.ndarray) -> bytes:
    """Return a serialized 32FC1 ``sensor_msgs/Image`` of H×W little-endian float32 metres."""
    d = np.ascontiguousarray(depth, dtype='<f4')
    if d.ndim != 2:
        raise ValueError(f'depth must be an HxW array, got shape {d.shape}')
    h, w = d.shape
    return image_cdr(header, h, w, '32FC1', 4 * w, d)


def pointcloud2_cdr(header: Any, height: int, width: int,
                    fields: Sequence[Tuple[str, int, int, int]], point_step: int,
                    row_step: int, data: Any, is_dense: bool = False) -> bytes:
    """
    Return a serialized ``sensor_msgs/PointCloud2`` (little-endian; ``is_bigendian`` false).

    ``fields``: (name, offset, datatype, count) per field; ``data``: ``row_step × height``
    bytes (a C-contiguous numpy array or bytes-like object).
    """
    view = _payload(data, row_step * height, 'cloud data', 'row_step*height')
    w = _Writer()
    w.header(*_stamp(header))
    w.u32(height)
    w.u32(width)
    w.u32(len(fields))
    for name, offset, datatype, count in fields:
        w.string(name)
        w.u32(offset)
        w.u8(datatype)
        w.u32(count)
    w.u8(0)
    w.u32(point_step)
    w.u32(row_step)
    w.blob(view, view.nbytes)
    w.u8(1 if is_dense else 0)
    return w.join()
