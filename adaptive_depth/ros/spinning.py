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
An rclpy node in a context of its own, spun by a background thread (tests, benchmarks).

The measuring side of a real-graph test or benchmark publishes and subscribes while the code
under test runs in another process; this class owns its context, node, executor and spin thread
and tears them down in :meth:`SpinningNode.close`. rclpy is imported on construction, so the
caller can set the ROS variables of the process (domain, discovery range, Fast DDS profile)
first.
"""

import threading
from typing import Optional


class SpinningNode:
    """
    A node ``name`` (in ``namespace``) in its own context, spun every ``spin_timeout`` seconds.

    ``domain_id`` None uses ``ROS_DOMAIN_ID``. With ``start=False`` the spin thread starts only
    at :meth:`start` (create publishers and subscriptions first).
    """

    def __init__(self, name: str, namespace: str = '', domain_id: Optional[int] = None,
                 spin_timeout: float = 0.05, start: bool = True) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        if domain_id is None:
            rclpy.init(context=self.context)
        else:
            rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context, namespace=namespace or None)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin_timeout = float(spin_timeout)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start the spin thread."""
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=self._spin_timeout)

    def close(self) -> None:
        """Stop spinning and shut the context down."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
