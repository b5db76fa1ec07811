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

"""The node's output messages as ``rosbags`` (Jazzy) messages, built from a ``FrameResult``."""

import dataclasses
from typing import Any, Dict

from adaptive_depth.bagio import CAMERA_INFO, IMAGE, OUTPUT_TYPES
from adaptive_depth.ros import conversions
import numpy as np


def build_msg(ts: Any, msgtype: str, values: Dict[str, Any]) -> Any:
    """Build a ``rosbags`` message of ``msgtype`` from plain values (nested dicts allowed)."""
    from rosbags.convert.converter import default_message
    from rosbags.interfaces import Nodetype

    msg = default_message(ts, msgtype)
    defs = dict(ts.fielddefs[msgtype][1])
    changes = {}
    for name, value in values.items():
        if name not in defs:
            raise KeyError(f'{msgtype} has no field {name!r}')
        kind, arg = defs[name]
        if kind == Nodetype.NAME and isinstance(value, dict):
            value = build_msg(ts, arg, value)
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            sub = arg[0]
            if sub[0] == Nodetype.NAME:
                value = [build_msg(ts, sub[1], v) if isinstance(v, dict) else v for v in value]
            elif sub[1][0] != 'string':
                dtype = 'uint8' if sub[1][0] == 'char' else sub[1][0]
                value = np.ascontiguousarray(np.asarray(value).reshape(-1), dtype=dtype)
        elif kind == Nodetype.BASE and arg[0] == 'bool':
            value = bool(value)
        changes[name] = value
    return dataclasses.replace(msg, **changes)


@dataclasses.dataclass
class NodeOutputs:
    """What adaptive_depth_node publishes for one frame, as rosbags Jazzy messages."""

    depth: Any
    scale: Any
    info: Any = None
    points: Any = None


def node_outputs(ts: Any, header: Any, result: Any, source_info: Any = None,
                 rectified: bool = False) -> NodeOutputs:
    """
    Build the depth, scale, camera_info and points messages of one ``FrameResult``.

    The same fields as the node's messages: depth 32FC1, scale (x = s, y = ln s, z = unsmoothed
    s), camera_info at the depth resolution (``conversions.depth_camera_info_fields``: the lens
    of ``source_info`` unless the input is ``rectified``), the packed cloud as is.
    ``info``/``points`` are None when the result has none.
    """
    depth_msg = build_msg(ts, IMAGE, dict(conversions.depth_to_image_fields(result.depth),
                                          header=header))
    scale_msg = build_msg(ts, OUTPUT_TYPES['scale'], {
        'header': header, 'vector': {'x': float(result.scale), 'y': float(result.log_scale),
                                     'z': float(result.raw_scale)}})
    out = NodeOutputs(depth=depth_msg, scale=scale_msg)
    intr = result.intrinsics
    if intr is None:
        return out
    fields = dict(conversions.depth_camera_info_fields(intr, source_info, rectified),
                  header=header)
    out.info = build_msg(ts, CAMERA_INFO, fields)
    if result.cloud is not None:
        cloud: Dict[str, Any] = conversions.cloud_to_pointcloud2_fields(result.cloud)
        out.points = build_msg(ts, OUTPUT_TYPES['points'], dict(cloud, header=header))
    return out
