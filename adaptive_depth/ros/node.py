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
ROS 2 nodes ``adaptive_depth_node`` (plain) and ``adaptive_depth_managed_node`` (lifecycle).

Both are one class hierarchy: :class:`_DepthNodeCore` holds every step (load the models, create
the publishers, subscribe and start the worker, stop, free) and the processing; the plain node
runs them all in its constructor, the managed node runs them from its lifecycle transitions
(configure = load the models and create lifecycle publishers, activate = subscribe and start the
worker, deactivate = stop both, cleanup = free the models and the GPU memory).

Threading model: the executor thread only caches camera_info and drops each incoming image into
a one-slot mailbox (the newest frame replaces an unprocessed one, which is counted as dropped);
a single worker thread decodes, calls :class:`adaptive_depth.frame_processor.FrameProcessor`
(which owns every output rule and returns depth, scale and the packed cloud), fills the messages
and publishes them, so latency stays bounded by one inference whatever the input rate. Large
messages are published as serialized CDR (``ros/cdr.py``): one copy of each payload. Parameter
updates are validated in the on-set callback and applied in the post-set callback. See
docs/node.md.
"""

import ctypes
import gc
import os
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
import warnings

from adaptive_depth.errors import ModelLoadError
from adaptive_depth.geometry import Intrinsics
from adaptive_depth.ground_plane import pitch_roll
from adaptive_depth.input_limits import ImageSizeError
from adaptive_depth.lens import Distortion
from adaptive_depth.ros import cdr, conversions
from adaptive_depth.ros.params import (declare_node_params, describe_parameters, NODE_NAME,
                                       NodeParams, ParameterError)
from adaptive_depth.scale_source import loads_checkpoint
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Vector3Stamped
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

THROTTLE_S = 5.0
SHUTDOWN_GRACE_S = 2.0
"""Seconds a shutdown waits for the frame in progress before exiting without it."""


class LatestFrameMailbox:
    """A one-slot mailbox: ``put`` replaces an unconsumed item, ``get`` blocks for the next one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; return True when it replaced an item nobody had taken (a drop)."""
        with self._cond:
            replaced = self._has_item
            self._item = item
            self._has_item = True
            self._cond.notify()
            return replaced

    def get(self, timeout: Optional[float] = None) -> Tuple[bool, Any]:
        """Wait up to ``timeout`` seconds; return (True, item) or (False, None) if none/closed."""
        with self._cond:
            if not self._has_item and not self._closed:
                self._cond.wait(timeout)
            if self._closed or not self._has_item:
                return False, None
            item, self._item, self._has_item = self._item, None, False
            return True, item

    @property
    def closed(self) -> bool:
        """Return True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Wake the consumer and make every later ``get`` return (False, None)."""
        with self._cond:
            self._closed = True
            self._item = None
            self._has_item = False
            self._cond.notify_all()


class _Stats:
    """Thread-safe counters and a per-window latency record for the diagnostics."""

    COUNTERS = ('received', 'processed', 'dropped', 'idle', 'bad_images', 'rejected_images',
                'bad_camera_info', 'inference_errors', 'no_intrinsics', 'published_points',
                'scale_held')

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals = dict.fromkeys(self.COUNTERS, 0)
        self._window = dict.fromkeys(self.COUNTERS, 0)
        self._timings: Dict[str, List[float]] = {}
        self._window_start = time.monotonic()
        self.last_scale = float('nan')
        self.last_raw_scale = float('nan')
        self.last_log_scale_std = float('nan')

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.totals[key] += n
            self._window[key] += n

    def record(self, timings: Dict[str, float], scale: float, raw_scale: float,
               log_scale_std: Optional[float] = None) -> None:
        with self._lock:
            for key, value in timings.items():
                self._timings.setdefault(key, []).append(float(value))
            self.last_scale = scale
            self.last_raw_scale = raw_scale
            self.last_log_scale_std = float('nan') if log_scale_std is None else log_scale_std

    def take_window(self) -> Tuple[float, Dict[str, int], Dict[str, int], Dict[str, List[float]]]:
        with self._lock:
            now = time.monotonic()
            elapsed = max(now - self._window_start, 1e-6)
            window, timings = dict(self._window), self._timings
            self._window = dict.fromkeys(self.COUNTERS, 0)
            self._timings = {}
            self._window_start = now
            return elapsed, window, dict(self.totals), timings


def _stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _looks_like_path(name: str) -> bool:
    return name.startswith(('/', './', '../', '~')) or name.count('/') > 1 or '\\' in name


def _load_processor(params: NodeParams, scale_source: str) -> Any:
    # Fail fast (before importing torch) on paths that cannot exist.
    if _looks_like_path(params.model) and not Path(params.model).expanduser().exists():
        raise ModelLoadError(f'failed to load the depth pipeline: model directory '
                             f'{params.model!r} does not exist')
    if loads_checkpoint(scale_source, params.scale_checkpoint) and \
            not Path(params.scale_checkpoint).expanduser().exists():
        raise ModelLoadError(f'failed to load the depth pipeline: scale_checkpoint '
                             f'{params.scale_checkpoint!r} does not exist')
    try:
        from adaptive_depth.frame_processor import FrameProcessor
        return FrameProcessor.from_paths(**params.processor_arguments())
    except Exception as exc:
        raise ModelLoadError(
            f'failed to load the depth pipeline (model={params.model!r}, '
            f'scale_source={scale_source!r}, scale_checkpoint={params.scale_checkpoint!r}, '
            f'device={params.device!r}): {type(exc).__name__}: {exc}') from exc


def _lens_label(distortion: Optional[Distortion], rectified: bool) -> str:
    """Return the diagnostics' ``lens``: 'rectified', 'pinhole' or the distortion in use."""
    if rectified:
        return 'rectified'
    return 'pinhole' if distortion is None else str(distortion)


def _floor_label(source: Any) -> str:
    """Return the ground_plane diagnostics' ``floor``: the last fit, or which scale applies."""
    plane = source.last_plane
    if plane is not None:
        return (f'{plane.height:.3f} m below the camera in the DA2 depth, {plane.support:.1%} '
                'of points')
    missing = source.frames_without_floor
    if source.network is not None:
        # read once: the worker thread writes them
        offset, floors = source.network_offset, source.offset_floors
        if offset is None:
            return f'none seen in {missing} frames (the scale network applies, no offset yet)'
        return (f'not found in the last {missing} frames (the scale network applies, offset '
                f'{offset:+.3f} ln s from {floors} floors)')
    if source.holding:
        return f'not found in the last {missing} frames (the last floor scale is held)'
    return f'none seen in {missing} frames (fixed_scale applies)'


def _mount_label(source: Any) -> str:
    """Return the ground_plane diagnostics' ``mount``: the floor normal in use, as pitch/roll."""
    def angles(normal: Any) -> str:
        pitch, roll = pitch_roll(normal)
        return f'pitch {pitch:.2f} deg, roll {roll:.2f} deg'

    if source.mount is not None:
        return f'{angles(source.mount)} (calibrated from {source.calibration_floors} floors)'
    if source.max_tilt_deg == 0:
        return f'{angles(source.down)} (configured, exact)'
    searched = f'searched within {source.max_tilt_deg:g} deg of {angles(source.down)}'
    if source.calibrating:
        return (f'calibrating: {source.calibration_count} of {source.calibration_floors} '
                f'floors ({searched})')
    return f'{searched} every frame (floor_calibration 0)'


def _untrained(model: str) -> bool:
    from adaptive_depth.depth_model import is_untrained_model
    return is_untrained_model(model)


class _DepthNodeCore:
    """
    The depth node's behaviour, shared by the plain and the managed node (mixed into ``Node``).

    Each step is one method: :meth:`_init_core` (parameters, counters, callbacks; no model),
    :meth:`_load` (the frame processor), :meth:`_create_outputs` (publishers, diagnostics timer),
    :meth:`_start_input` (worker thread, subscriptions), :meth:`_stop_input`,
    :meth:`_destroy_outputs` and :meth:`_unload`. The subclasses only decide when they run.
    """

    def _init_core(self) -> None:
        """Declare and validate the parameters (raises :class:`ParameterError`); load nothing."""
        self._params = declare_node_params(self)
        self.get_logger().debug(f'parameters: {self._params}')
        self._scale_source, warning = self._params.effective_scale_source()
        if warning:
            self.get_logger().warn(warning)
        self._stats = _Stats()
        self._mailbox = LatestFrameMailbox()
        self._mailbox.close()  # no input until _start_input
        self._worker: Optional[threading.Thread] = None
        self._info_lock = threading.Lock()
        # (width, height) -> (intrinsics, lens distortion, the camera_info message)
        self._infos: Dict[Tuple[int, int], Tuple[Intrinsics, Optional[Distortion], Any]] = {}
        self._latest_info: Optional[Tuple[Intrinsics, Optional[Distortion], Any]] = None
        self._last_distortion: Optional[Distortion] = None  # the last frame's, for diagnostics
        self._input_seen = (0, time.monotonic())  # (received total, when it last changed)
        self._processor: Any = None
        self._outputs: Optional[Tuple[Any, ...]] = None
        self._diag_timer: Any = None
        self._image_sub: Any = None
        self._info_sub: Any = None
        self._untrained = False
        self._mount_logged = False  # ground_plane: the calibrated mount was logged
        self._model_name = self._params.model
        self._device = self._params.device
        self._execution = self._params.execution
        self.add_pre_set_parameters_callback(self._as_declared)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._on_parameters_set)

    def _load(self, processor: Any = None) -> None:
        """Build the frame processor from the parameters (or take ``processor``)."""
        if processor is None:
            self.get_logger().info(
                f'loading model {self._params.model!r} (scale source {self._scale_source!r}, '
                f'device {self._params.device!r}, input size {self._params.input_size}, '
                f'execution {self._params.execution!r})')
            if self._params.execution == 'compile':
                self.get_logger().info('execution compile: the first frame of each image size '
                                       'compiles the DA2 forward (10-30 s on a GPU, minutes on '
                                       'a CPU) before any output')
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always', RuntimeWarning)
                processor = _load_processor(self._params, self._scale_source)
            self._relay_warnings(caught)
        runner = getattr(processor, 'depth_model', None)
        self._untrained = _untrained(self._params.model)
        self._model_name = str(getattr(runner, 'name', self._params.model))
        self._device = str(getattr(runner, 'device', self._params.device))
        self._execution = str(getattr(runner, 'execution', self._params.execution))
        self._processor = processor
        if self._untrained:
            self.get_logger().warn(
                f'model {self._params.model!r} has untrained (random) weights: depth is '
                'meaningless; use it for testing only')

    def _relay_warnings(self, caught: List[warnings.WarningMessage]) -> None:
        """
        Log the loader's RuntimeWarnings (a setting that fell back) as ROS WARN.

        A Python warning would reach stderr only, never /rosout, so a user who asked for fp16 or
        cuda_graph on a CPU would not see why they did not apply. Other categories are shown as
        Python would have shown them.
        """
        for item in caught:
            if issubclass(item.category, RuntimeWarning):
                self.get_logger().warn(str(item.message))
            else:
                warnings.showwarning(item.message, item.category, item.filename, item.lineno)

    def _unload(self) -> None:
        """Drop the frame processor and return its memory (the CUDA cache too, on a GPU)."""
        self._processor = None
        gc.collect()
        if self._device.startswith('cuda'):
            import torch
            torch.cuda.empty_cache()

    def _create_outputs(self, create_publisher: Callable[..., Any]) -> None:
        """Create the output publishers with ``create_publisher``, and the diagnostics."""
        p = self._params
        qos = QoSProfile(
            depth=p.qos_depth,
            history=(HistoryPolicy.KEEP_LAST if p.qos_history == 'keep_last'
                     else HistoryPolicy.KEEP_ALL),
            reliability=(ReliabilityPolicy.RELIABLE if p.qos_reliability == 'reliable'
                         else ReliabilityPolicy.BEST_EFFORT))
        self._depth_pub = create_publisher(Image, p.depth_topic, qos)
        self._info_pub = create_publisher(CameraInfo, p.depth_info_topic, qos)
        self._points_pub = create_publisher(PointCloud2, p.points_topic, qos)
        self._scale_pub = create_publisher(Vector3Stamped, p.scale_topic, qos)
        self._uncertainty_pub = create_publisher(Vector3Stamped, p.scale_uncertainty_topic, qos)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._outputs = (self._depth_pub, self._info_pub, self._points_pub, self._scale_pub,
                         self._uncertainty_pub)
        self._diag_timer = self.create_timer(p.diagnostics_period, self._publish_diagnostics)

    def _destroy_outputs(self, destroy_publisher: Callable[[Any], Any]) -> None:
        """Destroy what :meth:`_create_outputs` created."""
        if self._outputs is None:
            return
        self.destroy_timer(self._diag_timer)
        for pub in self._outputs:
            destroy_publisher(pub)
        self.destroy_publisher(self._diag_pub)
        self._outputs = self._diag_timer = None

    def _start_input(self) -> str:
        """Start the worker and subscribe to the images and camera_info; return the image topic."""
        p = self._params
        self._mailbox = LatestFrameMailbox()
        self._worker = threading.Thread(target=self._worker_loop, args=(self._mailbox,),
                                        name='adaptive_depth_worker', daemon=True)
        self._worker.start()
        self._input_seen = (self._stats.totals['received'], time.monotonic())
        input_qos = qos_profile_sensor_data
        if p.input_qos_reliability == 'reliable':
            input_qos = QoSProfile(depth=qos_profile_sensor_data.depth,
                                   history=HistoryPolicy.KEEP_LAST,
                                   reliability=ReliabilityPolicy.RELIABLE)
        if p.input_transport == 'compressed':
            # image_transport's rule: the transport's topic under the (remapped) image topic, so
            # `-r image:=/cam/image_raw` subscribes to /cam/image_raw/compressed
            image_topic = self.resolve_topic_name(p.image_topic).rstrip('/') + '/compressed'
            self._image_sub = self.create_subscription(
                CompressedImage, image_topic, self._on_compressed, input_qos)
        else:
            image_topic = p.image_topic
            self._image_sub = self.create_subscription(
                Image, image_topic, self._on_image, input_qos)
        self._info_sub = self.create_subscription(
            CameraInfo, p.camera_info_topic, self._on_camera_info, input_qos)
        return image_topic

    def _stop_input(self, timeout: float = SHUTDOWN_GRACE_S) -> bool:
        """
        Unsubscribe, stop taking frames and wait up to ``timeout`` seconds for the worker.

        Returns True when the worker has ended; False while it is still inside one frame (it
        is a daemon thread and publishes nothing after this call).
        """
        for sub in (self._image_sub, self._info_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self._image_sub = self._info_sub = None
        self._mailbox.close()
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=timeout)
        return worker is None or not worker.is_alive()

    def stop_worker(self, timeout: float = SHUTDOWN_GRACE_S) -> bool:
        """Stop the input and the worker thread (see :meth:`_stop_input`)."""
        return self._stop_input(timeout)

    def _log_ready(self, image_topic: str) -> None:
        p = self._params
        self.get_logger().info(
            f'ready: {p.input_transport} images on {self.resolve_topic_name(image_topic)!r}, '
            f'camera_info on {self.resolve_topic_name(p.camera_info_topic)!r}')

    # ------------------------------------------------------------------ parameters
    @property
    def params(self) -> NodeParams:
        """Return the current (validated) parameter values."""
        return self._params

    @staticmethod
    def _ours(parameters: List[Any]) -> Dict[str, Any]:
        known = NodeParams.field_types()
        # use_sim_time, qos_overrides... belong to rclpy, not to us.
        return {param.name: param.value for param in parameters if param.name in known}

    @staticmethod
    def _as_declared(parameters: List[Parameter]) -> List[Parameter]:
        """Pre-set: an integer for a float parameter is stored as a float, its declared type."""
        types = NodeParams.field_types()
        return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
                if types.get(p.name) is float and p.type_ == Parameter.Type.INTEGER else p
                for p in parameters]

    def _on_set_parameters(self, parameters: List[Any]) -> SetParametersResult:
        """Validate a parameter update (nothing is stored here; see _on_parameters_set)."""
        try:
            self._params.with_values(self._ours(parameters))
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_parameters_set(self, parameters: List[Any]) -> None:
        """Store an accepted update and hand the output rules to the processor."""
        self._params = self._params.with_values(self._ours(parameters))
        if self._processor is not None:
            self._processor.configure(**self._params.output_settings())

    # ------------------------------------------------------------------ callbacks (executor)
    def _has_subscribers(self) -> bool:
        pubs = self._outputs
        return pubs is not None and any(pub.get_subscription_count() > 0 for pub in pubs)

    def _enqueue(self, kind: str, msg: Any) -> None:
        self._stats.count('received')
        if not self._has_subscribers():
            self._stats.count('idle')
            return
        if self._mailbox.put((kind, msg, time.monotonic())):
            self._stats.count('dropped')

    def _on_image(self, msg: Image) -> None:
        self._enqueue('raw', msg)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._enqueue('compressed', msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intr, distortion, problem = conversions.camera_info_to_camera(
                msg, self._params.input_rectified)  # validated, size included
        except ValueError as exc:  # ImageConversionError is a ValueError
            self._stats.count('bad_camera_info')
            self.get_logger().warn(f'dropping invalid camera_info: {exc}',
                                   throttle_duration_sec=THROTTLE_S)
            return
        if problem:
            self.get_logger().warn(f'camera_info: {problem}', throttle_duration_sec=THROTTLE_S)
        with self._info_lock:
            if len(self._infos) >= 8 and (intr.width, intr.height) not in self._infos:
                self._infos.clear()
            self._infos[(intr.width, intr.height)] = (intr, distortion, msg)
            self._latest_info = (intr, distortion, msg)

    # ------------------------------------------------------------------ worker
    def _worker_loop(self, mailbox: LatestFrameMailbox) -> None:
        while True:
            ok, item = mailbox.get(timeout=0.5)
            if not ok:
                if mailbox.closed:
                    return
                continue
            try:
                self._process(*item, mailbox=mailbox)
            except Exception as exc:  # keep the node alive whatever happens to one frame
                self._stats.count('inference_errors')
                self.get_logger().error(f'processing a frame failed: {type(exc).__name__}: {exc}',
                                        throttle_duration_sec=THROTTLE_S)

    def _lookup_intrinsics(self, width: int, height: int, header: Any
                           ) -> Tuple[Optional[Intrinsics], Optional[Distortion], Any]:
        """Return the intrinsics, the lens distortion and the camera_info for this image."""
        with self._info_lock:
            exact = self._infos.get((width, height))
            latest = self._latest_info
        p = self._params
        if exact is not None:
            intr, distortion, info = exact
        elif latest is not None:  # the distortion holds at any size (normalised coordinates)
            intr, distortion, info = latest[0].scaled(width, height), latest[1], latest[2]
            self.get_logger().warn(
                f'camera_info is {latest[0].width}x{latest[0].height} but the image is '
                f'{width}x{height}: scaling the intrinsics', throttle_duration_sec=THROTTLE_S)
        else:
            return p.fallback_intrinsics(width, height), None, None
        tolerance = p.camera_info_stamp_tolerance
        if tolerance > 0:
            drift = abs(_stamp_ns(header) - _stamp_ns(info.header)) * 1e-9
            if drift > tolerance:
                self.get_logger().warn(
                    f'camera_info stamp differs from the image stamp by {drift:.3f} s '
                    f'(> camera_info_stamp_tolerance {tolerance} s); using it anyway',
                    throttle_duration_sec=THROTTLE_S)
        return intr, distortion, info

    def _decode(self, kind: str, msg: Any) -> Optional[np.ndarray]:
        limit = self._params.max_input_pixels
        try:
            if kind == 'compressed':
                rgb = conversions.compressed_msg_to_rgb(msg, max_pixels=limit)
            else:
                rgb = conversions.image_msg_to_rgb(msg, max_pixels=limit)
            if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
                raise ValueError(f'decoded image has shape {rgb.shape}')
            return rgb
        except ImageSizeError as exc:  # well formed, but outside the input limits
            self._stats.count('rejected_images')
            self.get_logger().warn(f'rejecting {kind} image: {exc}',
                                   throttle_duration_sec=THROTTLE_S)
        except Exception as exc:
            self._stats.count('bad_images')
            what = (f'format {getattr(msg, "format", "?")!r}' if kind == 'compressed' else
                    f'encoding {getattr(msg, "encoding", "?")!r}, '
                    f'{getattr(msg, "width", "?")}x{getattr(msg, "height", "?")}')
            self.get_logger().warn(f'dropping undecodable {kind} image ({what}): {exc}',
                                   throttle_duration_sec=THROTTLE_S)
        return None

    def _process(self, kind: str, msg: Any, received: float,
                 mailbox: LatestFrameMailbox) -> None:
        """Process one frame taken from ``mailbox`` (its worker's: closed = do not publish)."""
        p = self._params
        t0 = time.perf_counter()
        rgb = self._decode(kind, msg)
        if rgb is None:
            return
        t_decode = time.perf_counter()
        height, width = rgb.shape[:2]
        intr, distortion, info = self._lookup_intrinsics(width, height, msg.header)
        want_points = (intr is not None and p.publish_points and
                       self._points_pub.get_subscription_count() > 0)
        result = self._processor.process(rgb, intrinsics=intr, compute_points=want_points,
                                         distortion=distortion)
        self._last_distortion = distortion
        t_infer = time.perf_counter()
        if mailbox.closed:  # stopped (shutdown, deactivate) while in inference: drop it
            return

        header = msg.header
        self._depth_pub.publish(cdr.depth_image_cdr(header, result.depth))
        scale_msg = Vector3Stamped(header=header)
        scale_msg.vector.x = float(result.scale)
        scale_msg.vector.y = float(result.log_scale)
        scale_msg.vector.z = float(result.raw_scale)
        self._scale_pub.publish(scale_msg)
        self._uncertainty_pub.publish(self._uncertainty_msg(header, result))
        if result.scale_held:
            self._stats.count('scale_held')
        if result.intrinsics is None:
            self._stats.count('no_intrinsics')
            self.get_logger().warn(
                'no camera_info received and no fx/fy parameters: publishing depth only '
                '(no depth/camera_info, no point cloud) until intrinsics arrive',
                throttle_duration_sec=THROTTLE_S)
        else:
            self._info_pub.publish(self._camera_info_msg(header, result.intrinsics,
                                                         info, distortion))
        if result.cloud is not None:
            c = result.cloud
            self._points_pub.publish(cdr.pointcloud2_cdr(
                header, c.height, c.width,
                [(f.name, f.offset, f.datatype, f.count) for f in c.fields],
                c.point_step, c.row_step, c.data))
            self._stats.count('published_points')
        t_end = time.perf_counter()

        timings = {f'processor_{k}': float(v) for k, v in result.timings.items()}
        timings.update({
            'decode': (t_decode - t0) * 1e3,
            'inference': (t_infer - t_decode) * 1e3,
            'publish': (t_end - t_infer) * 1e3,
            # everything but the two networks' forward passes
            'node_overhead': ((t_end - t0) * 1e3 - result.timings['depth_forward'] -
                              result.timings['scale']),
            'total_since_receipt': (time.monotonic() - received) * 1e3,
        })
        self._stats.count('processed')
        self._stats.record(timings, result.scale, result.raw_scale, result.log_scale_std)

    def _uncertainty_msg(self, header: Any, result: Any) -> Vector3Stamped:
        """Return the scale-uncertainty message (docs/node.md: x std ln s, y held, z threshold)."""
        msg = Vector3Stamped(header=header)
        std = result.log_scale_std
        msg.vector.x = float('nan') if std is None else float(std)
        msg.vector.y = 1.0 if result.scale_held else 0.0
        msg.vector.z = float(self._processor.settings.scale_hold_uncertainty)
        return msg

    def _camera_info_msg(self, header: Any, intr: Intrinsics, source: Any,
                         distortion: Optional[Distortion]) -> CameraInfo:
        """Return the depth camera_info: the input's lens only where the node used it."""
        lens = source if distortion is not None else None  # a refused lens was not applied
        fields = conversions.depth_camera_info_fields(intr, lens, self._params.input_rectified)
        return conversions.fill_message(CameraInfo(header=header), fields)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        elapsed, window, totals, timings = self._stats.take_window()
        status = DiagnosticStatus(name=f'{self.get_fully_qualified_name()}: depth pipeline',
                                  hardware_id=self._device)
        values = {
            'input_rate_hz': f'{window["received"] / elapsed:.2f}',
            'output_rate_hz': f'{window["processed"] / elapsed:.2f}',
            'current_scale': f'{self._stats.last_scale:.6g}',
            'raw_scale': f'{self._stats.last_raw_scale:.6g}',
            'scale_log_std': f'{self._stats.last_log_scale_std:.6g}',
            'scale_hold_uncertainty': f'{self._processor.settings.scale_hold_uncertainty:g}',
            'scale_source': self._scale_source,
            'model': self._model_name,
            'device': self._device,
            'execution': self._execution,
            'lens': _lens_label(self._last_distortion, self._params.input_rectified),
            'untrained_weights': str(self._untrained).lower(),
            'input_transport': self._params.input_transport,
            'subscribers_depth': str(self._depth_pub.get_subscription_count()),
            'subscribers_points': str(self._points_pub.get_subscription_count()),
        }
        source = self._processor.scale_source
        if hasattr(source, 'last_plane'):
            values['floor'] = _floor_label(source)
            values['mount'] = _mount_label(source)
            if source.mount is not None and not self._mount_logged:
                self._mount_logged = True
                pitch, roll = pitch_roll(source.mount)
                self.get_logger().info(
                    f'floor: mount calibrated from {source.calibration_floors} floors: '
                    f'camera_pitch {pitch:.2f}, camera_roll {roll:.2f} (degrees); set them with '
                    'floor_max_tilt 0 to start calibrated')
        for key, value in totals.items():
            values[f'{key}_total'] = str(value)
        for key, samples in sorted(timings.items()):
            values[f'latency_{key}_ms_mean'] = f'{float(np.mean(samples)):.3f}'
            values[f'latency_{key}_ms_max'] = f'{float(np.max(samples)):.3f}'
        problems = []
        silence = self._input_silence(totals['received'])
        values['seconds_since_last_image'] = f'{silence:.1f}'
        timeout = self._params.input_timeout
        inactive = self._image_sub is None  # managed node, configured but not active
        starved = not inactive and 0 < timeout <= silence
        if window['inference_errors']:
            status.level = DiagnosticStatus.ERROR
            problems.append(f'{window["inference_errors"]} frames failed')
        elif window['bad_images'] or window['rejected_images'] or window['bad_camera_info'] or \
                window['no_intrinsics'] or self._untrained or starved:
            status.level = DiagnosticStatus.WARN
        else:
            status.level = DiagnosticStatus.OK
        if window['bad_images']:
            problems.append(f'{window["bad_images"]} bad images')
        if window['rejected_images']:
            problems.append(f'{window["rejected_images"]} images rejected (size limits)')
        if window['bad_camera_info']:
            problems.append(f'{window["bad_camera_info"]} bad camera_info')
        if window['no_intrinsics']:
            problems.append('no intrinsics: no point cloud')
        if self._untrained:
            problems.append('untrained weights')
        if starved:
            topic = self._image_sub.topic_name
            problems.append(f'no image for {silence:.0f} s')
            self.get_logger().warn(
                f'no image received on {topic!r} for {silence:.0f} s (input_timeout '
                f'{timeout:g} s): is the camera running and the topic remapped?',
                throttle_duration_sec=max(THROTTLE_S, timeout))
        elif inactive:
            problems.append('inactive')
        elif not window['received']:
            problems.append('no input')
        elif not window['processed'] and window['idle'] == window['received']:
            problems.append('idle: no subscribers')
        status.message = ', '.join(problems) if problems else 'ok'
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def _input_silence(self, received_total: int) -> float:
        """Return the seconds since the received-image count last grew (since start if never)."""
        now = time.monotonic()
        if received_total != self._input_seen[0]:
            self._input_seen = (received_total, now)
        return now - self._input_seen[1]

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        """Stop the input and the worker thread (see :meth:`_stop_input`), then destroy."""
        if not self._mailbox.closed:
            self._stop_input()
        super().destroy_node()


class AdaptiveDepthNode(_DepthNodeCore, Node):
    """
    Publishes metric depth, depth camera_info, an organised cloud and the scale per image.

    Runs as soon as it is constructed. ``processor`` may be injected (a ``FrameProcessor``);
    by default it is built from the parameters and a failure raises :class:`ModelLoadError`.
    Invalid parameters raise :class:`ParameterError`.
    """

    def __init__(self, processor: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._init_core()
        self._load(processor)
        self._create_outputs(self.create_publisher)
        self._log_ready(self._start_input())


class ManagedAdaptiveDepthNode(_DepthNodeCore, LifecycleNode):
    """
    The same node as a managed (lifecycle) node, for nav2-style lifecycle managers.

    Constructed unconfigured (parameters declared, no model). configure loads the models and
    creates the (lifecycle) publishers: a model that fails to load answers FAILURE and the node
    stays unconfigured, ready for another try. activate subscribes and starts the worker;
    deactivate stops both; cleanup frees the models and the GPU memory; shutdown does what is
    left from any state and sets :attr:`finished`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._init_core()
        self.finished = threading.Event()
        """Set once the node reached the finalized state (its process may exit)."""
        service = getattr(self, '_service_change_state', None)
        if service is not None:
            service.callback = self._refusing_unavailable(service.callback)

    def _refusing_unavailable(self, change_state: Callable[[Any, Any], Any]
                              ) -> Callable[[Any, Any], Any]:
        """
        Wrap the change_state service: a transition id not available now answers failure.

        rclpy 7 (Jazzy) raises from the executor on such a request, which ends the process
        (ros2/rclpy#1209, fixed upstream by checking first, as here): a lifecycle manager that
        retries configure, or two managers, must not take the node down.
        """
        def guarded(request: Any, response: Any) -> Any:
            transition = request.transition
            available = {t[0] for t in self._state_machine.available_transitions}
            if not transition.label and transition.id not in available:
                state = self._state_machine.current_state[1]
                self.get_logger().warn(f'refusing lifecycle transition {transition.id}: not '
                                       f'available in state {state!r}')
                response.success = False
                return response
            return change_state(request, response)
        return guarded

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the models and create the publishers; FAILURE (reason logged) if loading fails."""
        try:
            self._load()
        except ModelLoadError as exc:
            self.get_logger().error(f'configure failed, staying unconfigured: {exc}')
            return TransitionCallbackReturn.FAILURE
        self._create_outputs(self.create_lifecycle_publisher)
        self.get_logger().info('configured (inactive): activate to start processing')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers, subscribe and start the worker."""
        result = super().on_activate(state)
        if result == TransitionCallbackReturn.SUCCESS:
            self._log_ready(self._start_input())
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the worker, then disable the publishers."""
        if not self._stop_input():
            self.get_logger().warn('deactivated while a frame is still in inference: its '
                                   'outputs are not published')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the publishers and free the models (and the GPU memory they held)."""
        self._destroy_outputs(self.destroy_lifecycle_publisher)
        self._unload()
        self.get_logger().info('cleaned up (unconfigured): models freed')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop and free everything from any primary state; the process may then exit."""
        self._stop_input()
        self._destroy_outputs(self.destroy_lifecycle_publisher)
        self._unload()
        self.finished.set()
        return TransitionCallbackReturn.SUCCESS


def _exit_now(code: int) -> None:
    """Flush every output stream and end the process at once, without interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(code)


def _config_file() -> str:
    """Return where the parameter YAML of this installation is (share/ or the source tree)."""
    try:
        from ament_index_python.packages import get_package_share_directory
        return str(Path(get_package_share_directory('adaptive_depth')) / 'config' /
                   'adaptive_depth.yaml')
    except Exception:  # noqa: B902 - not in an ament index (pip / editable install)
        source = Path(__file__).resolve().parents[2] / 'config' / 'adaptive_depth.yaml'
        return str(source) if source.is_file() else 'config/adaptive_depth.yaml (not found)'


USAGE = """usage: {prog} [-h] [--ros-args ...]

Monocular RGB -> metric depth (REP 118 32FC1, metres), depth camera_info and an organised
PointCloud2. Subscribes to 'image' (or 'image/compressed') and 'camera_info'; publishes
'depth', 'depth/camera_info', 'points', 'scale', 'scale/uncertainty' and /diagnostics.
{kind}
Examples:
  ros2 run adaptive_depth {prog} --ros-args --params-file {config} \\
      -r image:=/camera/color/image_raw -r camera_info:=/camera/color/camera_info
  ros2 launch adaptive_depth depth.launch.py namespace:=front model:=~/models/da2-indoor-small
  ros2 launch adaptive_depth depth.launch.py managed:=true autostart:=false

Parameter file: {config}
Exit codes: {codes}

Parameters (-p name:=value, or the YAML file):
{parameters}
"""
PLAIN_KIND = """Runs at once (adaptive_depth_managed_node is the same node as a lifecycle node).
"""
MANAGED_KIND = """Lifecycle (managed) node: starts unconfigured; configure loads the models (a
failure answers FAILURE and the node stays unconfigured), activate starts processing, deactivate
stops, cleanup frees the models; drive it with a lifecycle manager or `ros2 lifecycle set`.
"""
PLAIN_CODES = '0 clean shutdown, 1 model failed to load, 2 invalid parameters or arguments.'
MANAGED_CODES = ('0 clean shutdown (signal, or the shutdown transition), 2 invalid parameters '
                 'or arguments.')
MANAGED_NODE_EXECUTABLE = 'adaptive_depth_managed_node'


def _check_arguments(argv: List[str], prog: str, managed: bool) -> Optional[int]:
    """Handle the non-ROS command-line arguments; return an exit code to stop with, or None."""
    user_args = argv[1:argv.index('--ros-args')] if '--ros-args' in argv else argv[1:]
    if any(arg in ('-h', '--help') for arg in user_args):
        print(USAGE.format(prog=prog, config=_config_file(), parameters=describe_parameters(),
                           kind=MANAGED_KIND if managed else PLAIN_KIND,
                           codes=MANAGED_CODES if managed else PLAIN_CODES))
        return 0
    if user_args:
        print(f'{prog}: error: unknown argument {user_args[0]!r} (the node takes '
              '--help, and ROS arguments after --ros-args)', file=sys.stderr)
        return 2
    return None


def _run(args: Optional[List[str]], managed: bool) -> int:
    """
    Run the plain or the managed node until SIGINT/SIGTERM; return the process exit code.

    0 after a clean shutdown (or ``--help``; the managed node also after its shutdown
    transition), 2 for invalid parameters or arguments, 1 when the plain node's model fails to
    load. A frame still in inference :data:`SHUTDOWN_GRACE_S` seconds after the signal is
    abandoned: the node is destroyed, rclpy shut down, and the process ends at once with the
    same code (tearing the interpreter down under a thread that is inside torch can abort the
    process).
    """
    prog = MANAGED_NODE_EXECUTABLE if managed else NODE_NAME
    code = _check_arguments(list(sys.argv if args is None else args), prog, managed)
    if code is not None:
        return code
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    loading = threading.Event()  # set while the plain node loads its models

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()
        if loading.is_set():  # a model load can take long: abandon it (ros2 launch escalates)
            loading.clear()
            raise KeyboardInterrupt

    # Installed for the rest of the process: a second signal during shutdown must not kill the
    # process half-way (the exit code stays 0 and the worker is still joined).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    logger = get_logger(NODE_NAME)
    node = None
    code = 0
    worker_busy = False
    try:
        try:
            loading.set()
            node = ManagedAdaptiveDepthNode() if managed else AdaptiveDepthNode()
            loading.clear()
        except KeyboardInterrupt:  # from _on_signal; stop is set, so nothing spins
            logger.info('signal while loading: shutting down')
        except ParameterError as exc:
            logger.fatal(f'{exc}')
            code = 2
        except ModelLoadError as exc:
            logger.fatal(f'{exc}')
            code = 1
        if node is not None:
            finished = getattr(node, 'finished', threading.Event())
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while not stop.is_set() and not finished.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=0.1)
            executor.remove_node(node)
            logger.info('shutting down')
    finally:
        if node is not None:
            worker_busy = not node.stop_worker(SHUTDOWN_GRACE_S)
            if worker_busy:
                logger.warn(f'a frame is still in inference {SHUTDOWN_GRACE_S:g} s after the '
                            'shutdown request: exiting without waiting for it')
            node.destroy_node()
        rclpy.try_shutdown()
    if worker_busy:
        _exit_now(code)
    return code


def main(args: Optional[List[str]] = None) -> int:
    """Run ``adaptive_depth_node`` (plain: loads and runs at once); return the exit code."""
    return _run(args, managed=False)


def managed_main(args: Optional[List[str]] = None) -> int:
    """Run ``adaptive_depth_managed_node`` (lifecycle); return the exit code."""
    return _run(args, managed=True)


if __name__ == '__main__':
    # `python -m adaptive_depth.ros.node [--managed] ...` (node_process uses it when the console
    # scripts are not installed)
    if sys.argv[1:2] == ['--managed']:
        del sys.argv[1]
        sys.exit(managed_main())
    sys.exit(main())
