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
Live replay: play a bag into ``adaptive_depth_node`` in a real ROS 2 graph, record its outputs.

The node is started (``ros.node_process``) with the replay's validated parameters written to a
parameter file, plus the bag's topics and a reliable input subscription so it receives every
frame, however large; ``--lockstep`` sends a frame only after the previous one's outputs arrived,
re-sending a frame whose outputs do not come within a short timeout (see :func:`lockstep_frame`)
and counting it lost after ``--retries`` re-sends. When frames got no depth, the message names
the likely cause and the fix (:func:`missing_hint`).
"""

import argparse
import os
from pathlib import Path
import sys
import time
from typing import Any, Callable, Dict, Optional, Tuple

from adaptive_depth.bagio import BagFrame, BagReader, CAMERA_INFO, CameraTopics, \
    COMPRESSED_IMAGE, FrameIndex, output_topics, OUTPUT_TYPES, OutputBagWriter
from adaptive_depth.replay import ReplayError
from adaptive_depth.replay.recording import InputCopier, progress
from adaptive_depth.replay.scoring import MetricsCollector
from adaptive_depth.ros import conversions
from adaptive_depth.ros.node_process import node_env, NodeProcess
from adaptive_depth.ros.params import NodeParams

PROG = 'replay_bag'
MIN_RESEND_S = 5.0
"""
Shortest wait before a lockstep frame is re-sent (or 3× the slowest latency so far, if longer).

Not shorter: a frame that is only slow (not lost) would be processed twice, and with
``scale_smoothing`` > 0 the second pass moves the node's average once more, so later outputs
would no longer match offline mode bit for bit (under load, 1 s re-sent merely slow frames).
"""
DISCOVERY_RESEND_S = 2.0
"""Re-send period before the node's first output (it may not see our subscriptions yet)."""


def node_parameters(params: NodeParams, topics: CameraTopics) -> Dict[str, Any]:
    """Return the node's parameters for this bag: ``params`` with its topics and transport."""
    compressed = topics.image_type == COMPRESSED_IMAGE
    image_param = topics.image
    if compressed and image_param.endswith('/compressed'):
        image_param = image_param[:-len('/compressed')]
    values = dict(vars(params))
    values.update({'input_transport': 'compressed' if compressed else 'raw',
                   'image_topic': image_param,
                   'camera_info_topic': topics.info or 'camera_info',
                   # the replay publishes reliably: a reliable subscription takes every frame
                   'input_qos_reliability': 'reliable'})
    return NodeParams.from_mapping(values).__dict__


def write_params_file(path: Path, values: Dict[str, Any]) -> Path:
    """Write ``values`` as a ROS 2 parameter file for any node name (``/**``); return path."""
    import yaml

    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': values}}, sort_keys=False))
    return path


def run_live(args: argparse.Namespace, params: NodeParams, bag: Path, topics: CameraTopics,
             index: FrameIndex, writer: OutputBagWriter,
             collector: Optional[MetricsCollector]) -> int:
    """Play the frames to adaptive_depth_node over ROS 2 and record its outputs."""
    env = node_env(args.domain_id, None if args.discovery_range in (None, '') else
                   args.discovery_range)
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    if 'ROS_AUTOMATIC_DISCOVERY_RANGE' in env:
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = env['ROS_AUTOMATIC_DISCOVERY_RANGE']
    try:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    except ImportError as exc:
        raise ReplayError(
            f'live mode needs rclpy and sensor_msgs (source your ROS 2 install): {exc}') from None
    from geometry_msgs.msg import Vector3Stamped
    from sensor_msgs.msg import PointCloud2

    names = output_topics(args.namespace)
    node_proc = None
    if not args.node_running:
        params_file = write_params_file(writer.work_dir / 'node_params.yaml',
                                        node_parameters(params, topics))
        node_proc = NodeProcess(None, args.domain_id, writer.work_dir / 'node.log',
                                params_file=params_file, env=env,
                                ros_args=['-r', f'__ns:={args.namespace}',
                                          '-r', f'__node:={args.node_name}'])
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(args.domain_id),
               signal_handler_options=SignalHandlerOptions.NO)
    node = None
    copier = InputCopier(bag, topics.used, writer)
    ts = writer.typestore
    try:
        node = rclpy.create_node(f'replay_bag_{os.getpid()}', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        compressed = topics.image_type == COMPRESSED_IMAGE
        image_topic = topics.image
        if compressed and not image_topic.endswith('/compressed'):
            image_topic = image_topic.rstrip('/') + '/compressed'
        pub_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        img_pub = node.create_publisher(CompressedImage if compressed else Image, image_topic,
                                        pub_qos)
        info_pub = (node.create_publisher(CameraInfo, topics.info, pub_qos)
                    if topics.info else None)
        sub_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        state = _LiveState(index, names, ts, writer, collector, copier, params)
        msg_classes = {'depth': Image, 'depth_info': CameraInfo, 'points': PointCloud2,
                       'scale': Vector3Stamped}
        subs = []
        for key, cls in msg_classes.items():
            if key == 'points' and not params.publish_points:
                continue
            subs.append(node.create_subscription(
                cls, names[key], lambda data, k=key: state.on_output(k, data), sub_qos,
                raw=True))

        # wait until the node is up and both directions are matched
        deadline = time.monotonic() + args.startup_timeout
        while True:
            if node_proc is not None:
                node_proc.check()
            ready = (img_pub.get_subscription_count() > 0 and
                     node.count_publishers(names['depth']) > 0 and
                     node.count_publishers(names['scale']) > 0)
            if ready:
                break
            if time.monotonic() > deadline:
                hint = ('' if node_proc is None else f'\nnode log:\n{node_proc.tail()}')
                raise ReplayError(
                    f'adaptive_depth_node did not connect within {args.startup_timeout} s '
                    f'(domain {args.domain_id}, namespace {args.namespace!r}, image topic '
                    f'{image_topic!r}){hint}')
            executor.spin_once(timeout_sec=0.1)
        _spin_for(executor, 1.0)  # let the node see our subscriptions too

        frames = BagReader(bag).open_bag()
        try:
            with progress(len(index), 'replay (live)') as bar:
                state.bar = bar
                _play(frames, topics, index, state, executor, img_pub, info_pub, ts, args,
                      node_proc)
        finally:
            frames.close()
        copier.advance(None)
        if state.resent:
            print(f'{PROG}: {state.resent} re-sends, {state.lost} frames lost after '
                  f'{args.retries} re-sends', file=sys.stderr)
        if state.completed == 0:
            raise ReplayError(f'none of the {len(index)} frames got depth/scale from the node: '
                              f'{missing_hint(args)}')
        if state.missing():
            tail = '' if node_proc is None else f'; node log:\n{node_proc.tail()}'
            print(f'{PROG}: warning: {state.missing()} of {len(index)} frames got no depth/scale '
                  f'output from the node: {missing_hint(args)}{tail}', file=sys.stderr)
        elif state.incomplete():
            tail = '' if node_proc is None else f'; node log:\n{node_proc.tail()}'
            print(f'{PROG}: warning: {state.incomplete()} frames lack depth/camera_info or points '
                  f'from the node{tail}', file=sys.stderr)
        return state.completed
    finally:
        copier.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        if node_proc is not None:
            node_proc.stop()


def missing_hint(args: argparse.Namespace) -> str:
    """Return the likely cause of frames without depth in this live replay, and the fix."""
    transport = ('the running node takes its input best-effort by default (large images get '
                 'lost between processes with the default Fast DDS settings): set its '
                 'input_qos_reliability:=reliable or launch it with fastdds_profile:=true '
                 '(docs/node.md, "Transport and performance")' if args.node_running else
                 'the node started here takes its input reliably, so look at its log for '
                 'errors, or raise --startup-timeout / --frame-timeout if it is slow to start')
    if not args.lockstep:
        return (f'frames were sent at {args.rate:g}x the recorded rate and the node keeps only '
                'the newest frame while it is busy (it drops the others by design); pass '
                f'--lockstep to score every frame, or a lower --rate; also, {transport}')
    return (f'each frame was re-sent up to {args.retries} times before it was counted lost; '
            f'{transport}')


def lockstep_frame(done: Callable[[], bool], answered: Callable[[], bool],
                   send: Callable[[], None], spin: Callable[[float], None],
                   attempt_timeout: float, retries: int, first_timeout: Optional[float] = None,
                   check: Callable[[], None] = lambda: None) -> int:
    """
    Send one frame and wait for its outputs, re-sending it when they do not come in time.

    ``done()`` says the frame's outputs are all in, ``answered()`` that depth and scale are.
    Each attempt waits ``attempt_timeout`` seconds (spinning with ``spin(seconds)``); after
    ``retries`` re-sends the frame is given up. ``first_timeout`` (the node's first frame:
    discovery, model warm-up) replaces that rule: re-send every :data:`DISCOVERY_RESEND_S`
    seconds until ``first_timeout`` seconds have passed. Once depth and scale arrived, the
    rest (camera_info, points) gets a one-second grace. Returns the number of sends.
    """
    sends = 0
    start = time.monotonic()
    while True:
        send()
        sends += 1
        period = DISCOVERY_RESEND_S if first_timeout is not None else attempt_timeout
        attempt_end = time.monotonic() + period
        while time.monotonic() < attempt_end:
            if done():
                return sends
            if answered():  # depth + scale are in: short grace for camera_info / points
                attempt_end = min(attempt_end, time.monotonic() + 1.0)
            spin(0.02)
            check()
        if answered():
            return sends
        if first_timeout is not None:
            if time.monotonic() - start >= first_timeout:
                return sends
        elif sends > retries:
            return sends


def _spin_for(executor: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        executor.spin_once(timeout_sec=min(left, 0.05))


class _LiveState:
    """Bookkeeping of published frames and received outputs in live mode."""

    def __init__(self, index: FrameIndex, names: Dict[str, str], ts: Any,
                 writer: OutputBagWriter, collector: Optional[MetricsCollector],
                 copier: InputCopier, params: NodeParams) -> None:
        self.index = index
        self.ts = ts
        self.writer = writer
        self.collector = collector
        self.copier = copier
        self.topic_of = names
        self.expect = {'depth', 'scale'}
        self.pos_of_stamp: Dict[int, int] = {}
        self.sent: Dict[int, Tuple[float, BagFrame]] = {}
        self.got: Dict[int, Dict[str, Any]] = {}
        self.complete: set = set()
        self.done: set = set()
        self.completed = 0
        self.bar: Any = None
        self.last_output = time.monotonic()
        self.max_latency_s = 0.0
        self.last_log = 0
        self.resent = 0
        self.lost = 0
        self.with_points = params.publish_points
        self.fallback_intrinsics = params.fx > 0 and params.fy > 0

    def expected_keys(self, frame: BagFrame) -> set:
        keys = set(self.expect)
        if frame.intrinsics is not None or self.fallback_intrinsics:
            keys.add('depth_info')
            if self.with_points:
                keys.add('points')
        return keys

    def on_output(self, key: str, data: bytes) -> None:
        now = time.monotonic()
        msgtype = OUTPUT_TYPES[key]
        msg = self.ts.deserialize_cdr(data, msgtype)
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        pos = self.pos_of_stamp.get(stamp)
        if pos is None or pos not in self.sent:
            return  # not one of ours
        got = self.got.setdefault(pos, {})
        if key in got:
            return  # duplicate (a re-sent frame)
        t_sent, frame = self.sent[pos]
        latency_ms = (now - t_sent) * 1e3
        self.last_output = now
        self.max_latency_s = max(self.max_latency_s, latency_ms * 1e-3)
        got[key] = (msg, latency_ms)
        # record time: input record time + latency, never before an earlier output
        log_time = max(frame.log_time_ns + int(latency_ms * 1e6), self.last_log)
        self.last_log = log_time
        self.copier.advance(log_time)
        self.writer.write_cdr(self.topic_of[key], msgtype, log_time, bytes(data))
        if 'depth' in got and 'scale' in got and pos not in self.done:
            self.done.add(pos)
            self.completed += 1
            if self.collector is not None:
                depth = conversions.image_msg_to_depth(got['depth'][0])
                scale = float(got['scale'][0].vector.x)
                self.collector.add(frame.index, frame.stamp_ns, depth, scale,
                                   got['depth'][1], frame.depth)
            frame.depth = None
            if self.bar is not None:
                self.bar.update(1)
        if pos not in self.complete and self.expected_keys(frame) <= set(got):
            self.complete.add(pos)

    def incomplete(self) -> int:
        """Return how many done frames lack camera_info or points they should have."""
        return len(self.done - self.complete)

    def missing(self) -> int:
        return len(self.index) - self.completed


def _play(reader: BagReader, topics: CameraTopics, index: FrameIndex, state: _LiveState,
          executor: Any, img_pub: Any, info_pub: Any, ts: Any, args: argparse.Namespace,
          node_proc: Optional[NodeProcess]) -> None:
    t_wall0 = None
    stamp0 = None
    for pos, frame in enumerate(reader.frames(topics, index=index, decode=False)):
        if node_proc is not None:
            node_proc.check()
        if frame.depth_msg is not None and state.collector is not None:
            frame.depth = conversions.image_msg_to_depth(frame.depth_msg)
        frame.depth_msg = None
        image_cdr = bytes(ts.serialize_cdr(frame.image_msg, topics.image_type))
        info_cdr = (bytes(ts.serialize_cdr(frame.info_msg, CAMERA_INFO))
                    if frame.info_msg is not None and info_pub is not None else None)
        frame.intrinsics = frame.intrinsics if info_cdr is not None else None
        frame.image_msg = None
        state.pos_of_stamp[frame.stamp_ns] = pos
        if args.lockstep:
            # Until the node has answered once it may not see our subscriptions yet, or still
            # warm up: re-send every few seconds up to --frame-timeout. Then a frame is re-sent
            # after 3x the slowest latency so far (at least MIN_RESEND_S), --retries times.
            # Latency and record time count from the last send.
            sends = lockstep_frame(
                done=lambda: pos in state.complete, answered=lambda: pos in state.done,
                send=lambda: _send(state, pos, frame, img_pub, info_pub, image_cdr, info_cdr,
                                   executor),
                spin=lambda seconds: executor.spin_once(timeout_sec=seconds),
                attempt_timeout=max(MIN_RESEND_S, 3.0 * state.max_latency_s),
                retries=args.retries,
                first_timeout=args.frame_timeout if state.completed == 0 else None,
                check=node_proc.check if node_proc is not None else (lambda: None))
            state.resent += sends - 1
            if pos not in state.done:
                state.lost += 1
            continue
        if t_wall0 is None:
            if info_cdr is not None:
                info_pub.publish(info_cdr)
                _spin_for(executor, 0.2)
            t_wall0, stamp0 = time.monotonic(), frame.stamp_ns
        due = t_wall0 + (frame.stamp_ns - stamp0) * 1e-9 / args.rate
        while time.monotonic() < due:
            executor.spin_once(timeout_sec=min(0.01, max(due - time.monotonic(), 0.0)))
        _send(state, pos, frame, img_pub, info_pub, image_cdr, info_cdr, executor)
    # wait for the outputs still in flight: stop after a quiet period without any output
    quiet = min(args.frame_timeout, max(3.0, 3.0 * state.max_latency_s))
    state.last_output = max(state.last_output, time.monotonic())
    while True:
        limit = quiet if state.missing() else (1.0 if state.incomplete() else 0.0)
        if time.monotonic() - state.last_output >= limit:
            break
        executor.spin_once(timeout_sec=0.02)
        if node_proc is not None and node_proc.proc.poll() is not None:
            break


def _send(state: _LiveState, pos: int, frame: BagFrame, img_pub: Any, info_pub: Any,
          image_cdr: bytes, info_cdr: Optional[bytes], executor: Any) -> None:
    if info_cdr is not None:
        info_pub.publish(info_cdr)
        if pos == 0:
            _spin_for(executor, 0.1)
    state.sent[pos] = (time.monotonic(), frame)
    img_pub.publish(image_cdr)
