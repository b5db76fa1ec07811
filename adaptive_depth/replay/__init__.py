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
Replay a recorded bag through adaptive_depth, offline (in process) or live (through the node).

- :mod:`.offline` runs the node's :class:`~adaptive_depth.frame_processor.FrameProcessor` here;
- :mod:`.live` plays the bag into ``adaptive_depth_node`` in a real ROS 2 graph (needs rclpy);
- :mod:`.recording` copies the inputs and writes the outputs to the rosbag2 (MCAP) recording;
- :mod:`.messages` builds the node's output messages (rosbags) from a ``FrameResult``;
- :mod:`.scoring` computes per-frame metrics against a recorded depth topic, :mod:`.plots`
  draws them. The CLI is ``adaptive_depth.tools.replay_bag``. Only :mod:`.live` imports rclpy.
"""


class ReplayError(ValueError):
    """A user-facing problem with the replay (bad option, node failure, nothing processed)."""
