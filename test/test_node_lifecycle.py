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
``adaptive_depth_managed_node`` driven through its lifecycle services in a real ROS 2 graph.

The node subprocess starts with a model directory that does not exist yet: configure must answer
FAILURE and leave the process up and unconfigured. Once the directory exists (a link to the tiny
model), configure succeeds; while inactive no output is published; activate brings the outputs,
deactivate stops them, cleanup returns to unconfigured and shutdown ends the process with 0 —
every step through lifecycle_msgs ChangeState / GetState, as a lifecycle manager does it.
"""

import time

from node_harness import (make_camera_info_msg, make_image_msg, NodeProcess, pick_domain_id,
                          RosTester, synthetic_rgb)
import pytest

pytestmark = pytest.mark.ros

W, H = 160, 120
SERVICE_TIMEOUT_S = 60.0


class _Lifecycle:
    """ChangeState / GetState clients of the node ``name`` (what nav2's manager calls)."""

    def __init__(self, tester: RosTester, node: NodeProcess, name: str = '/adaptive_depth_node'):
        from lifecycle_msgs.srv import ChangeState, GetState
        self.tester, self.node = tester, node
        self.change = tester.node.create_client(ChangeState, f'{name}/change_state')
        self.get = tester.node.create_client(GetState, f'{name}/get_state')
        tester.wait_for(lambda: self.change.service_is_ready() and self.get.service_is_ready(),
                        SERVICE_TIMEOUT_S, 'the lifecycle services', node)

    def _call(self, client, request):
        future = client.call_async(request)
        return self.tester.wait_for(lambda: future.done(), SERVICE_TIMEOUT_S,
                                    f'{client.srv_name}', self.node) and future.result()

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState
        return self._call(self.get, GetState.Request()).current_state.label

    def transition(self, transition_id: int) -> bool:
        from lifecycle_msgs.srv import ChangeState
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self._call(self.change, request).success


def test_lifecycle_transitions_in_a_real_graph(tmp_path, tiny_da2_dir):
    from geometry_msgs.msg import Vector3Stamped
    from lifecycle_msgs.msg import Transition
    from sensor_msgs.msg import CameraInfo, Image
    model = tmp_path / 'model'  # appears only after the first configure
    domain = pick_domain_id()
    node = NodeProcess({'model': str(model), 'device': 'cpu', 'precision': 'fp32',
                        'input_size': 70, 'scale_source': 'fixed', 'fixed_scale': 0.5},
                       domain, tmp_path / 'node.log', managed=True)
    tester = RosTester(domain)
    try:
        tester.subscribe(Image, '/depth')
        tester.subscribe(Vector3Stamped, '/scale')
        image_pub = tester.node.create_publisher(Image, '/image', 10)
        info_pub = tester.node.create_publisher(CameraInfo, '/camera_info', 10)
        rgb = synthetic_rgb(W, H)
        sent = [0]

        def send() -> None:
            sent[0] += 1
            info_pub.publish(make_camera_info_msg(W, H, sent[0], 'cam', 140.0, 150.0, 80.0, 60.0))
            image_pub.publish(make_image_msg(rgb, sent[0], 'cam'))

        def feed(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                send()
                time.sleep(0.1)

        def outputs() -> int:
            return len(tester.messages('/depth')) + len(tester.messages('/scale'))

        life = _Lifecycle(tester, node)
        assert life.state() == 'unconfigured'
        # a transition not available in this state is refused, and the node lives on
        assert life.transition(Transition.TRANSITION_ACTIVATE) is False
        assert node.poll() is None and life.state() == 'unconfigured', node.log()
        assert 'not available in state' in node.log()

        # configure with a model that is not there: FAILURE, process alive, still unconfigured
        assert life.transition(Transition.TRANSITION_CONFIGURE) is False
        assert node.poll() is None, node.log()
        assert life.state() == 'unconfigured'
        assert 'configure failed' in node.log() and 'does not exist' in node.log()

        # the model appears: configure again → inactive, and nothing is published while inactive
        model.symlink_to(tiny_da2_dir, target_is_directory=True)
        assert life.transition(Transition.TRANSITION_CONFIGURE) is True, node.log()
        assert life.state() == 'inactive'
        tester.wait_for(lambda: image_pub.get_subscription_count() == 0 and
                        tester.node.count_publishers('/depth') == 1, 10,
                        'an inactive node: publishers up, no image subscription', node)
        feed(1.5)
        assert outputs() == 0, 'an inactive node published outputs'

        assert life.transition(Transition.TRANSITION_CONFIGURE) is False  # a manager's retry
        assert node.poll() is None and life.state() == 'inactive', node.log()

        # activate → outputs arrive
        assert life.transition(Transition.TRANSITION_ACTIVATE) is True, node.log()
        assert life.state() == 'active'
        tester.wait_for(lambda: image_pub.get_subscription_count() > 0, 10,
                        'the image subscription', node)

        def answered() -> bool:
            send()
            time.sleep(0.1)
            return bool(tester.messages('/depth')) and bool(tester.messages('/scale'))
        tester.wait_for(answered, 30, 'depth and scale from the active node', node)
        depth = tester.messages('/depth')[-1]
        assert (depth.width, depth.height, depth.encoding) == (W, H, '32FC1')

        # deactivate → no more outputs
        assert life.transition(Transition.TRANSITION_DEACTIVATE) is True, node.log()
        assert life.state() == 'inactive'
        time.sleep(0.5)  # messages already on the wire
        before = outputs()
        feed(1.5)
        assert outputs() == before, 'a deactivated node kept publishing'
        assert image_pub.get_subscription_count() == 0

        # cleanup → unconfigured, models freed; shutdown → the process exits 0
        assert life.transition(Transition.TRANSITION_CLEANUP) is True, node.log()
        assert life.state() == 'unconfigured'
        tester.wait_for(lambda: tester.node.count_publishers('/depth') == 0, 10,
                        'the publishers to go with cleanup', node)
        assert 'models freed' in node.log()
        assert life.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN) is True
        assert node.wait(timeout=15) == 0, node.log()
    finally:
        tester.close()
        node.stop()


def _with_managed_node_in_process(body):
    """
    Run ``body(node)`` on a ManagedAdaptiveDepthNode in its own rclpy context, then tear down.

    The node is passed, not yielded: no caller's frame may hold it when it is collected below.
    """
    import gc

    from adaptive_depth.ros import node as node_module
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=pick_domain_id())
    try:
        node = node_module.ManagedAdaptiveDepthNode(context=context)
        try:
            body(node)
        finally:
            node.destroy_node()
            del node
    finally:
        context.try_shutdown()
        # Finalise the rclpy objects here: left to a later fork (flake8's worker pool), their
        # collection crashes the child.
        gc.collect()


def test_cleanup_frees_the_models_and_the_cuda_cache(monkeypatch):
    """Cleanup drops every reference to the processor and empties the CUDA cache on a GPU."""
    import gc
    import weakref

    from adaptive_depth.ros import node as node_module
    from rclpy.lifecycle import TransitionCallbackReturn
    import torch

    class _Runner:
        name, device = 'fake-da2', 'cuda:0'

    class _Processor:
        depth_model = _Runner()

    loaded = []

    def fake_load(params, scale_source):
        loaded.append(_Processor())
        return loaded[-1]
    emptied = []
    monkeypatch.setattr(node_module, '_load_processor', fake_load)
    monkeypatch.setattr(torch.cuda, 'empty_cache', lambda: emptied.append(1))

    def body(node):
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        processor = weakref.ref(loaded.pop())
        assert processor() is not None and not emptied
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        gc.collect()
        assert processor() is None, 'cleanup kept a reference to the models'
        assert emptied == [1]
    _with_managed_node_in_process(body)


def test_a_frame_from_before_deactivate_is_not_published_after_reactivate(monkeypatch):
    """A slow frame that outlives deactivate stays unpublished, even once the node is active."""
    import threading

    from adaptive_depth.frame_processor import FrameResult
    from adaptive_depth.ros import node as node_module
    import numpy as np
    from rclpy.lifecycle import TransitionCallbackReturn

    entered, release = threading.Event(), threading.Event()

    class _SlowProcessor:
        class depth_model:  # noqa: N801 - what the node reads from a runner
            name, device, execution = 'fake-da2', 'cpu', 'eager'

        def process(self, rgb, **kwargs):
            entered.set()
            release.wait(10)
            return FrameResult(depth=np.ones(rgb.shape[:2], np.float32), scale=1.0,
                               raw_scale=1.0, log_scale=0.0,
                               timings={'depth_forward': 0.0, 'scale': 0.0})

    monkeypatch.setattr(node_module, '_load_processor', lambda *args: _SlowProcessor())

    def body(node):
        try:
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
            published = []
            node._depth_pub.publish = published.append  # no reference outlives the node
            worker = node._worker
            rgb = np.zeros((H, W, 3), np.uint8)
            node._mailbox.put(('raw', make_image_msg(rgb, 1, 'cam'), time.monotonic()))
            assert entered.wait(10), 'the frame never reached the processor'
            assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS  # a new worker
            release.set()
            worker.join(10)
            assert not worker.is_alive() and published == []
        finally:
            release.set()
    _with_managed_node_in_process(body)
