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

"""Offline replay: the node's frame processor on every selected frame, as fast as possible."""

import argparse
from pathlib import Path
import sys
import time
from typing import Any, Optional, Set, Tuple

from adaptive_depth.bagio import BagReader, CameraTopics, FrameIndex, output_topics, \
    OutputBagWriter
from adaptive_depth.geometry import Intrinsics
from adaptive_depth.lens import Distortion
from adaptive_depth.replay.messages import node_outputs
from adaptive_depth.replay.recording import InputCopier, progress, write_outputs
from adaptive_depth.replay.scoring import MetricsCollector
from adaptive_depth.ros import conversions
from adaptive_depth.ros.params import NodeParams


def load_processor(params: NodeParams) -> Any:
    """Build the ``FrameProcessor`` exactly as the node does from its parameters."""
    from adaptive_depth.frame_processor import FrameProcessor

    warning = params.effective_scale_source()[1]
    if warning:
        print(f'replay_bag: warning: {warning}', file=sys.stderr)
    return FrameProcessor.from_paths(**params.processor_arguments())


def _camera(frame: Any, params: NodeParams, warned: Set[str]
            ) -> Tuple[Optional[Intrinsics], Optional[Distortion]]:
    """Return the frame's intrinsics and lens as the node reads them (each problem said once)."""
    if frame.info_msg is None:
        return None, None
    intr, distortion, problem = conversions.camera_info_to_camera(frame.info_msg,
                                                                  params.input_rectified)
    if problem and problem not in warned:
        warned.add(problem)
        print(f'replay_bag: warning: {problem}', file=sys.stderr)
    return intr, distortion


def run_offline(args: argparse.Namespace, params: NodeParams, bag: Path, topics: CameraTopics,
                index: FrameIndex, writer: OutputBagWriter,
                collector: Optional[MetricsCollector]) -> int:
    """Process the selected frames and write the node's outputs; return frames done."""
    processor = load_processor(params)
    names = output_topics(args.namespace)
    ts = writer.typestore
    copier = InputCopier(bag, topics.used, writer)
    done = 0
    last_log = 0
    warned: Set[str] = set()
    try:
        with BagReader(bag) as reader, progress(len(index), 'replay (offline)') as bar:
            for frame in reader.frames(topics, index=index):
                t0 = time.perf_counter()
                h, w = frame.rgb.shape[:2]
                intr, distortion = _camera(frame, params, warned)
                intr = intr or params.fallback_intrinsics(w, h)
                result = processor.process(frame.rgb, intr,
                                           compute_points=intr is not None and
                                           params.publish_points,
                                           return_raw=collector is not None,
                                           distortion=distortion)
                out = node_outputs(ts, frame.image_msg.header, result, frame.info_msg,
                                   params.input_rectified)
                latency_ms = (time.perf_counter() - t0) * 1e3
                # record time: input record time + latency, never before an earlier output
                log_time = max(frame.log_time_ns + int(latency_ms * 1e6), last_log)
                last_log = log_time
                copier.advance(log_time)
                write_outputs(writer, names, log_time, out)
                if collector is not None:
                    collector.add(frame.index, frame.stamp_ns, result.depth, result.scale,
                                  latency_ms, frame.depth, raw_depth=result.raw_depth)
                done += 1
                bar.update(1)
        copier.advance(None)
    finally:
        copier.close()
    return done
