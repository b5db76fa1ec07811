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
Parameters of ``adaptive_depth_node``: defaults, descriptions and validation.

The :class:`NodeParams` dataclass and :func:`check_value` are plain Python (no ``rclpy``), so the
same rules are used by the node at startup, by its runtime on-set-parameters callback, by the
launch/config tests and by tools. :func:`declare_node_params` (which needs ``rclpy``) declares
every parameter on a node with a descriptor built from :data:`PARAM_SPECS`.
"""

from dataclasses import asdict, dataclass, fields, replace
import math
from pathlib import Path
import textwrap
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from adaptive_depth.defaults import DEFAULT_EXECUTION, DEFAULT_MODEL_ID, EXECUTIONS
from adaptive_depth.geometry import (Intrinsics, MAX_DECIMATION, MAX_FOCAL_PX, MAX_PRINCIPAL_PX,
                                     MIN_FOCAL_PX)
from adaptive_depth.ground_plane import (check_calibration_floors, check_max_tilt,
                                         DEFAULT_CALIBRATION_FLOORS, DEFAULT_MAX_TILT_DEG)
from adaptive_depth.scale_source import SCALE_SOURCES


NODE_NAME = 'adaptive_depth_node'
OUTPUT_SETTINGS = ('min_depth', 'max_depth', 'scale_smoothing', 'point_decimation',
                   'points_max_range', 'colorize_points', 'scale_hold_uncertainty')
"""Parameters that are ``FrameProcessor`` output settings (changeable at runtime)."""
DEVICES_HINT = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
INPUT_TRANSPORTS = ('raw', 'compressed')
QOS_RELIABILITIES = ('reliable', 'best_effort')
QOS_HISTORIES = ('keep_last', 'keep_all')
PRINCIPAL_RANGE = f'finite, 0..{MAX_PRINCIPAL_PX:.4g}'


class ParameterError(ValueError):
    """A parameter value is invalid; the message names the parameter and the reason."""


@dataclass(frozen=True)
class ParamSpec:
    """Static description of one parameter (used for ROS descriptors and documentation)."""

    description: str
    constraints: str
    read_only: bool


PARAM_SPECS: Dict[str, ParamSpec] = {
    'model': ParamSpec(
        'Depth Anything V2 metric model: Hugging Face hub id (from the local cache, else '
        'downloaded when the hub is reachable) or a local directory written by save_pretrained.',
        'non-empty string', True),
    'scale_checkpoint': ParamSpec(
        "Scale-network checkpoint directory (model.safetensors + config.json); '' = use the DA2 "
        'metric output without learned rescaling (a warning is logged). With scale_source '
        "'ground_plane' the network fills the frames without a floor, offset by the floors seen.",
        'string', True),
    'scale_source': ParamSpec(
        "Where the per-image scale comes from: 'learned' (scale network), 'fixed' "
        "(fixed_scale), 'none' (scale 1), 'da2_head' (a head on DA2's own encoder features, "
        "checkpoint in scale_checkpoint; not yet measured for accuracy) or 'ground_plane' (the "
        'floor under a camera at camera_height; no training).',
        'one of ' + ', '.join(SCALE_SOURCES), True),
    'fixed_scale': ParamSpec(
        "Scale multiplied onto the DA2 depth when scale_source is 'fixed' (unitless); with "
        "'ground_plane' and no scale_checkpoint the scale used until the first floor is seen.",
        'finite, > 0', True),
    'camera_height': ParamSpec(
        "Height of the camera above a flat floor (metres, from the robot's mount), for "
        "scale_source 'ground_plane': s = camera_height / the floor's distance in the DA2 depth; "
        '0 = unset.', "finite, >= 0; > 0 with scale_source 'ground_plane'", True),
    'camera_pitch': ParamSpec(
        "Downward pitch of the optical axis (degrees; 'ground_plane'): where the floor normal "
        'is expected.', '-89 <= value <= 89', True),
    'camera_roll': ParamSpec(
        'Roll of the camera about its optical axis (degrees, clockwise seen from behind; '
        "'ground_plane').", '-89 <= value <= 89', True),
    'floor_max_tilt': ParamSpec(
        'How far the fitted floor normal may deviate from the one camera_pitch/camera_roll give '
        "(degrees; 'ground_plane'); 0 = use that normal exactly (a known, rigid mount).",
        '0 <= value < 90', True),
    'floor_calibration': ParamSpec(
        "With floor_max_tilt > 0 ('ground_plane'): the normals of this many searched floors "
        'calibrate the rigid mount, whose normal is then used exactly (as accurate as a known '
        'mount; the diagnostics show the pitch and roll it found); 0 = search every frame (a '
        'handheld camera).', 'integer >= 0', True),
    'device': ParamSpec('Torch device for inference.', DEVICES_HINT, True),
    'precision': ParamSpec(
        "Inference precision ('auto' = fp32 on CPU, fp16 on CUDA).",
        'one of ' + ', '.join(PRECISIONS), True),
    'input_size': ParamSpec(
        'Side length (pixels) the image is resized to before DA2; larger = slower, finer.',
        'integer > 0, multiple of 14', True),
    'execution': ParamSpec(
        "How the DA2 forward runs: 'auto' = cuda_graph on CUDA, eager elsewhere; 'eager'; "
        "'cuda_graph' (captured at the first frame of each size, then replayed; DA2-Small "
        "on an H200: 138 FPS end to end against 98 eager); 'compile' (torch.compile with CUDA "
        'graphs: 277 FPS, but the first frame of each size compiles for 10-30 s).',
        'one of ' + ', '.join(EXECUTIONS), True),
    'max_input_pixels': ParamSpec(
        'Largest accepted input image (width x height, pixels); bigger raw images and compressed '
        'images whose PNG/JPEG header declares more are refused before decoding (counted as '
        'rejected_images). Images with an aspect ratio above 4:1 are refused too.',
        'integer >= 1', False),
    'max_depth': ParamSpec(
        'Depth beyond this (metres) is published as NaN.', 'finite, > min_depth', False),
    'min_depth': ParamSpec(
        'Depth below this (metres) is published as NaN (depth is never published as 0).',
        'finite, >= 0, < max_depth', False),
    'publish_points': ParamSpec(
        'Publish the organised point cloud on the points topic.', 'bool', False),
    'point_decimation': ParamSpec(
        'Keep every N-th pixel (rows and columns) in the point cloud.',
        f'integer in [1, {MAX_DECIMATION}]', False),
    'points_max_range': ParamSpec(
        'Points farther than this Euclidean range (metres) from the camera are NaN; 0 = off.',
        'finite, >= 0', False),
    'colorize_points': ParamSpec(
        "Add an 'rgb' float field packed like depth_image_proc to the point cloud.", 'bool',
        False),
    'scale_smoothing': ParamSpec(
        'Exponential moving average factor on log(scale) across frames: '
        'log s = a*log s_prev + (1-a)*log s_new; 0 = off.', '0 <= value < 1', False),
    'scale_hold_uncertainty': ParamSpec(
        "Hold the applied (smoothed) scale when the frame's uncertainty of ln s (std, from the "
        "scale network's ensemble spread / variance head) exceeds this; 0 = off. Frames without "
        'an uncertainty are never held.', 'finite, >= 0', False),
    'input_transport': ParamSpec(
        "'raw' subscribes to sensor_msgs/Image on image_topic, 'compressed' to "
        'sensor_msgs/CompressedImage (jpeg/png) on <image_topic>/compressed.',
        'one of ' + ', '.join(INPUT_TRANSPORTS), True),
    'input_rectified': ParamSpec(
        'The input image is rectified (image_proc): intrinsics from camera_info p, distortion '
        'ignored, as depth_image_proc does. false = the image as the lens took it: intrinsics '
        'from k, and the point cloud follows the distortion d (plumb_bob, rational_polynomial, '
        'equidistant); all-zero d is a pinhole camera.', 'bool', True),
    'image_topic': ParamSpec('Input image topic (remappable).', 'non-empty topic name', True),
    'camera_info_topic': ParamSpec(
        'Input camera_info topic (remappable).', 'non-empty topic name', True),
    'depth_topic': ParamSpec('Output depth image topic (32FC1, metres).', 'non-empty', True),
    'depth_info_topic': ParamSpec(
        'Output camera_info at depth resolution.', 'non-empty topic name', True),
    'points_topic': ParamSpec('Output organised PointCloud2 topic.', 'non-empty topic name',
                              True),
    'scale_topic': ParamSpec(
        'Output scale topic (geometry_msgs/Vector3Stamped: x = scale, y = log scale, '
        'z = unsmoothed scale).', 'non-empty topic name', True),
    'scale_uncertainty_topic': ParamSpec(
        'Output scale-uncertainty topic (geometry_msgs/Vector3Stamped, stamped like the scale: '
        'x = std of ln s (NaN when the scale source gives none), y = 1 if the scale was held '
        'this frame else 0, z = scale_hold_uncertainty in effect).', 'non-empty topic name',
        True),
    'input_qos_reliability': ParamSpec(
        "Reliability of the image and camera_info subscriptions: 'best_effort' (sensor-data "
        "QoS, matches every publisher) or 'reliable' (only reliable publishers match; use it "
        'when large best-effort images arrive incomplete over UDP).',
        'one of ' + ', '.join(QOS_RELIABILITIES), True),
    'qos_reliability': ParamSpec(
        'Reliability of the output publishers.', 'one of ' + ', '.join(QOS_RELIABILITIES),
        True),
    'qos_history': ParamSpec(
        'History policy of the output publishers.', 'one of ' + ', '.join(QOS_HISTORIES), True),
    'qos_depth': ParamSpec('History depth of the output publishers.', 'integer >= 1', True),
    'fx': ParamSpec(
        'Fallback focal length x (pixels, at the image size) used without camera_info; 0 = unset '
        '(no fallback intrinsics).', f'0 or {MIN_FOCAL_PX:g}..{MAX_FOCAL_PX:.4g}', False),
    'fy': ParamSpec('Fallback focal length y (pixels); 0 = the same as fx.',
                    f'0 or {MIN_FOCAL_PX:g}..{MAX_FOCAL_PX:.4g}', False),
    'cx': ParamSpec(
        'Fallback principal point x (pixels); 0 = image centre.', PRINCIPAL_RANGE, False),
    'cy': ParamSpec(
        'Fallback principal point y (pixels); 0 = image centre.', PRINCIPAL_RANGE, False),
    'camera_info_stamp_tolerance': ParamSpec(
        'Warn (throttled) when the matched camera_info stamp differs from the image stamp by '
        'more than this (seconds); 0 = never warn.', 'finite, >= 0', False),
    'diagnostics_period': ParamSpec(
        'Period (seconds) of the /diagnostics status.', 'finite, > 0', True),
    'input_timeout': ParamSpec(
        'Diagnostics turn WARN (and a throttled warning is logged) when no image has arrived for '
        'this long (seconds); 0 = never warn.', 'finite, >= 0', False),
}


@dataclass
class NodeParams:
    """All parameters of ``adaptive_depth_node`` with their defaults (see :data:`PARAM_SPECS`)."""

    model: str = DEFAULT_MODEL_ID
    scale_checkpoint: str = ''
    scale_source: str = 'learned'
    fixed_scale: float = 1.0
    camera_height: float = 0.0
    camera_pitch: float = 0.0
    camera_roll: float = 0.0
    floor_max_tilt: float = DEFAULT_MAX_TILT_DEG
    floor_calibration: int = DEFAULT_CALIBRATION_FLOORS
    device: str = 'auto'
    precision: str = 'auto'
    input_size: int = 518
    execution: str = DEFAULT_EXECUTION
    max_input_pixels: int = 8_388_608
    max_depth: float = 10.0
    min_depth: float = 0.0
    publish_points: bool = True
    point_decimation: int = 1
    points_max_range: float = 0.0
    colorize_points: bool = True
    scale_smoothing: float = 0.0
    scale_hold_uncertainty: float = 0.0
    input_transport: str = 'raw'
    input_rectified: bool = False
    image_topic: str = 'image'
    camera_info_topic: str = 'camera_info'
    depth_topic: str = 'depth'
    depth_info_topic: str = 'depth/camera_info'
    points_topic: str = 'points'
    scale_topic: str = 'scale'
    scale_uncertainty_topic: str = 'scale/uncertainty'
    input_qos_reliability: str = 'best_effort'
    qos_reliability: str = 'reliable'
    qos_history: str = 'keep_last'
    qos_depth: int = 5
    fx: float = 0.0
    fy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    camera_info_stamp_tolerance: float = 0.5
    diagnostics_period: float = 1.0
    input_timeout: float = 5.0

    @classmethod
    def field_types(cls) -> Dict[str, type]:
        """Return the Python type (bool, int, float or str) of every parameter by name."""
        defaults = cls()
        return {f.name: type(getattr(defaults, f.name)) for f in fields(cls)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> 'NodeParams':
        """
        Build parameters from a name → value mapping; unknown names raise ParameterError.

        Integers are accepted for float parameters; every value is type-checked and the result
        is validated with :meth:`validate`.
        """
        return cls().with_values(values)

    def with_values(self, values: Mapping[str, Any]) -> 'NodeParams':
        """Return a copy with ``values`` applied (type-checked and validated)."""
        types = self.field_types()
        problems = [f'unknown parameter {name!r}' for name in values if name not in types]
        changes = {}
        for name, value in values.items():
            if name not in types:
                continue
            error = check_value(name, value)
            if error:
                problems.append(error)
            else:
                changes[name] = _coerce(types[name], value)
        if problems:
            raise ParameterError('invalid parameters: ' + '; '.join(problems))
        params = replace(self, **changes)
        params.validate()
        return params

    def errors(self) -> List[str]:
        """Return every problem with these values (empty list when all are valid)."""
        problems = []
        for name, value in asdict(self).items():
            error = check_value(name, value)
            if error:
                problems.append(error)
        if problems:
            return problems
        if self.min_depth >= self.max_depth:
            problems.append(f'min_depth ({self.min_depth} m) must be smaller than max_depth '
                            f'({self.max_depth} m)')
        if self.scale_source == 'da2_head' and not self.scale_checkpoint:
            problems.append("scale_source 'da2_head' needs scale_checkpoint (a DA2 feature-head "
                            'checkpoint directory)')
        if self.scale_source == 'ground_plane' and not self.camera_height > 0:
            problems.append("scale_source 'ground_plane' needs camera_height > 0 (metres above "
                            'the floor)')
        return problems

    def validate(self) -> None:
        """Raise :class:`ParameterError` listing every invalid value, or return None."""
        problems = self.errors()
        if problems:
            raise ParameterError('invalid parameters: ' + '; '.join(problems))

    def output_settings(self) -> Dict[str, Any]:
        """Return the ``OutputSettings`` keywords of the frame processor for these values."""
        return {name: getattr(self, name) for name in OUTPUT_SETTINGS}

    def processor_arguments(self) -> Dict[str, Any]:
        """
        Return the keywords of ``FrameProcessor.from_paths`` for these parameters.

        The node and ``replay_bag`` build their processor from this one mapping; the scale
        source is :meth:`effective_scale_source`'s.
        """
        return {'model': self.model, 'scale_source': self.effective_scale_source()[0],
                'scale_checkpoint': self.scale_checkpoint or None,
                'fixed_scale': self.fixed_scale, 'camera_height': self.camera_height,
                'camera_pitch': self.camera_pitch, 'camera_roll': self.camera_roll,
                'floor_max_tilt': self.floor_max_tilt,
                'floor_calibration': self.floor_calibration, 'device': self.device,
                'precision': self.precision, 'input_size': self.input_size,
                'execution': self.execution,
                **self.output_settings()}

    def fallback_intrinsics(self, width: int, height: int) -> Optional[Intrinsics]:
        """
        Return the intrinsics of the fx/fy/cx/cy parameters for a W×H image, or None if unset.

        Used when no camera_info was received; fy = 0 means fx, cx/cy = 0 the image centre.
        """
        if not self.fx > 0:
            return None
        fy = self.fy if self.fy > 0 else self.fx
        cx = self.cx if self.cx > 0 else (width - 1) / 2.0
        cy = self.cy if self.cy > 0 else (height - 1) / 2.0
        return Intrinsics(self.fx, fy, cx, cy, width, height)

    def effective_scale_source(self) -> Tuple[str, Optional[str]]:
        """
        Return the scale source actually used and a warning (or None).

        ``scale_source='learned'`` with an empty ``scale_checkpoint`` falls back to ``'none'``
        (DA2's metric output alone).
        """
        if self.scale_source == 'learned' and not self.scale_checkpoint:
            return 'none', ("scale_source is 'learned' but scale_checkpoint is empty: publishing "
                            'the Depth Anything V2 metric depth without learned rescaling')
        return self.scale_source, None


def _coerce(kind: type, value: Any) -> Any:
    if kind is float:
        return float(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_topic(name: str, value: str) -> Optional[str]:
    if not value.strip():
        return f'{name} must be a non-empty topic name'
    if any(c.isspace() for c in value):
        return f'{name} must not contain whitespace (got {value!r})'
    return None


def check_value(name: str, value: Any) -> Optional[str]:
    """
    Check one parameter value on its own; return a reason naming the problem or None.

    Cross-parameter rules (such as min_depth < max_depth) live in
    :meth:`NodeParams.errors`.
    """
    types = NodeParams.field_types()
    if name not in types:
        return f'unknown parameter {name!r}'
    kind = types[name]
    if kind is bool and not isinstance(value, bool):
        return f'{name} must be a bool, got {value!r}'
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        return f'{name} must be an integer, got {value!r}'
    if kind is float and not _is_number(value):
        return f'{name} must be a number, got {value!r}'
    if kind is str and not isinstance(value, str):
        return f'{name} must be a string, got {value!r}'
    if kind is float and not math.isfinite(float(value)):
        return f'{name} must be finite, got {value!r}'

    if name == 'model' and not value.strip():
        return 'model must be a Hugging Face model id or a local directory, got an empty string'
    if name == 'scale_source' and value not in SCALE_SOURCES:
        return f'scale_source must be one of {SCALE_SOURCES}, got {value!r}'
    if name == 'fixed_scale' and value <= 0:
        return f'fixed_scale must be > 0, got {value}'
    if name == 'device':
        dev = value.strip()
        if not (dev in ('auto', 'cpu', 'cuda', 'mps') or
                (dev.startswith('cuda:') and dev[5:].isdigit())):
            return f'device must be {DEVICES_HINT}, got {value!r}'
    if name == 'precision' and value not in PRECISIONS:
        return f'precision must be one of {PRECISIONS}, got {value!r}'
    if name == 'execution' and value not in EXECUTIONS:
        return f'execution must be one of {EXECUTIONS}, got {value!r}'
    if name == 'input_size' and (value <= 0 or value % 14):
        return f'input_size must be a positive multiple of 14 (DA2 patch size), got {value}'
    if name == 'max_depth' and value <= 0:
        return f'max_depth must be > 0 metres, got {value}'
    if name in ('min_depth', 'points_max_range', 'fx', 'fy', 'cx', 'cy',
                'camera_info_stamp_tolerance', 'input_timeout', 'camera_height',
                'scale_hold_uncertainty') and value < 0:
        return f'{name} must be >= 0, got {value}'
    if name == 'max_input_pixels' and value < 1:
        return f'max_input_pixels must be >= 1, got {value}'
    if name in ('fx', 'fy') and value != 0 and not MIN_FOCAL_PX <= value <= MAX_FOCAL_PX:
        return (f'{name} must be 0 (unset) or {MIN_FOCAL_PX:g}..{MAX_FOCAL_PX:.4g} pixels, got '
                f'{value}')
    if name in ('cx', 'cy') and value > MAX_PRINCIPAL_PX:
        return f'{name} must be <= {MAX_PRINCIPAL_PX:g} pixels, got {value}'
    if name in ('camera_pitch', 'camera_roll') and abs(value) > 89:
        return f'{name} must be within [-89, 89] degrees, got {value}'
    floor_rule = {'floor_max_tilt': check_max_tilt,
                  'floor_calibration': check_calibration_floors}.get(name)
    if floor_rule is not None:  # the floor fit's own rules, under the parameter's name
        try:
            floor_rule(value, name)
        except ValueError as exc:
            return str(exc)
    if name == 'point_decimation' and not 1 <= value <= MAX_DECIMATION:
        return f'point_decimation must be in [1, {MAX_DECIMATION}], got {value}'
    if name == 'scale_smoothing' and not 0.0 <= value < 1.0:
        return f'scale_smoothing must be in [0, 1), got {value}'
    if name == 'input_transport' and value not in INPUT_TRANSPORTS:
        return f'input_transport must be one of {INPUT_TRANSPORTS}, got {value!r}'
    if name.endswith('_topic'):
        return _check_topic(name, value)
    if name == 'input_qos_reliability' and value not in QOS_RELIABILITIES:
        return f'input_qos_reliability must be one of {QOS_RELIABILITIES}, got {value!r}'
    if name == 'qos_reliability' and value not in QOS_RELIABILITIES:
        return f'qos_reliability must be one of {QOS_RELIABILITIES}, got {value!r}'
    if name == 'qos_history' and value not in QOS_HISTORIES:
        return f'qos_history must be one of {QOS_HISTORIES}, got {value!r}'
    if name == 'qos_depth' and value < 1:
        return f'qos_depth must be >= 1, got {value}'
    if name == 'diagnostics_period' and value <= 0:
        return f'diagnostics_period must be > 0 seconds, got {value}'
    return None


def load_params_file(path: Union[str, Path], node_name: str = NODE_NAME) -> Dict[str, Any]:
    """
    Read the node's parameters from a ROS 2 YAML parameter file (as ``--params-file`` does).

    Takes ``ros__parameters`` of the ``/**`` wildcard, then of ``/**/<node_name>`` and of the
    ``node_name`` key (with or without a leading '/'); later keys win. Raises
    :class:`ParameterError` for an unreadable file or one without parameters for this node;
    values are checked by :class:`NodeParams`.
    """
    import yaml

    path = Path(path).expanduser()
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f'cannot read parameter file {path}: {exc}') from None
    if not isinstance(doc, dict):
        raise ParameterError(f'parameter file {path} is not a YAML mapping')
    values: Dict[str, Any] = {}
    found = False
    name = node_name.lstrip('/')
    for key in ('/**', f'/**/{name}', name, '/' + name):
        entry = doc.get(key)
        if isinstance(entry, dict) and isinstance(entry.get('ros__parameters'), dict):
            values.update(entry['ros__parameters'])
            found = True
    if not found:
        raise ParameterError(f'parameter file {path} has no "{node_name}: ros__parameters:" '
                             f'section (keys: {", ".join(map(str, doc))})')
    return values


def parse_param_assignment(text: str) -> Tuple[str, Any]:
    """Parse ``NAME:=VALUE`` (VALUE read as YAML, like ``ros2 run ... -p``); return both."""
    import yaml

    name, sep, raw = text.partition(':=')
    if not sep or not name.strip():
        raise ParameterError(f'expected NAME:=VALUE, got {text!r}')
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError:
        value = raw
    return name.strip(), value


def describe_parameters() -> str:
    """Return a human-readable table of every parameter: name, type, default and constraints."""
    defaults = NodeParams()
    lines = []
    for name, kind in NodeParams.field_types().items():
        spec = PARAM_SPECS[name]
        startup = ' [startup: read-only at runtime]' if spec.read_only else ''
        lines.append(f'  {name} ({kind.__name__}, default {getattr(defaults, name)!r})')
        lines += textwrap.wrap(f'{spec.description} ({spec.constraints}){startup}', width=96,
                               initial_indent='      ', subsequent_indent='      ')
    return '\n'.join(lines)


def declare_node_params(node: Any) -> NodeParams:
    """
    Declare every parameter on an ``rclpy`` node and return the validated values.

    Float parameters accept integer overrides (``-p fx:=500``) and store them as doubles.
    Raises :class:`ParameterError` with every reason when an override has the wrong type or an
    invalid value.
    """
    from rcl_interfaces.msg import ParameterDescriptor, ParameterType
    from rclpy.parameter import Parameter

    ros_types = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                 float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
    defaults = NodeParams()
    values = {}
    problems = []
    for name, kind in NodeParams.field_types().items():
        spec = PARAM_SPECS[name]
        descriptor = ParameterDescriptor(
            name=name, type=ros_types[kind], description=spec.description,
            additional_constraints=spec.constraints, read_only=spec.read_only,
            dynamic_typing=kind is float)
        try:
            param = node.declare_parameter(name, getattr(defaults, name), descriptor)
        except Exception as exc:  # InvalidParameterTypeException, InvalidParameterValueException
            problems.append(f'{name}: {exc}')
            continue
        if kind is float and isinstance(param.value, int) and not isinstance(param.value, bool):
            # A startup override such as ``-p fx:=500`` arrives as an INTEGER; store it as the
            # declared double so that ``ros2 param get`` and later sets see one type.
            param = Parameter(name, Parameter.Type.DOUBLE, float(param.value))
            node.set_parameters([param])
        values[name] = param.value
    if problems:
        raise ParameterError('invalid parameters: ' + '; '.join(problems))
    return NodeParams.from_mapping(values)
