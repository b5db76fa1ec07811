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
The parameter file and the launch arguments, applied to real nodes in namespaces.

Two nodes run at once with a copy of config/adaptive_depth.yaml (same ``/**/adaptive_depth_node``
key, non-default values):

- ``/front``: the command of the issue report, ``-r __ns:=/front --params-file <yaml>``;
- ``/back``: the exact command line launch_ros would build from depth.launch.py with
  ``namespace:=back model:=<tiny> device:=cpu log_level:=debug fastdds_profile:=true``
  (see test/launch_standins.py), with the environment the launch file sets.

Each node's parameter service must report the YAML values (and the launch overrides), debug
logging must stay scoped to the node, the Fast DDS profile must give the node its large
shared-memory segment, a 640×480 frame must come back as depth and a decimated cloud, and the
node without input must say so in /diagnostics.
"""

from pathlib import Path
import re
import signal

from adaptive_depth.ros.node_process import NodeProcess
import launch_standins as standins
from node_harness import (CONFIG_FILE, diagnostic_values, make_camera_info_msg, make_image_msg,
                          node_command, pick_domain_id, REPO_ROOT, ros_env, RosTester,
                          synthetic_rgb)
import pytest
import yaml

pytestmark = pytest.mark.ros

SEGMENT_BYTES = 16 * 1024 * 1024


def _large_shm_segments(pid: int) -> set:
    """Return the Fast DDS shared-memory segments of >= 16 MiB that ``pid`` has mapped."""
    names = set()
    for line in Path(f'/proc/{pid}/maps').read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and re.fullmatch(r'/dev/shm/fastrtps_[0-9a-f]+', fields[5]):
            start, end = (int(x, 16) for x in fields[0].split('-'))
            if end - start >= SEGMENT_BYTES:
                names.add(fields[5])
    return names


def _get_parameters(tester, node_name, names):
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python
    client = tester.node.create_client(GetParameters, f'{node_name}/get_parameters')
    try:
        assert client.wait_for_service(timeout_sec=60), f'{node_name} has no parameter service'
        future = client.call_async(GetParameters.Request(names=list(names)))
        tester.wait_for(future.done, 30, f'{node_name} get_parameters')
        values = future.result().values
    finally:
        tester.node.destroy_client(client)
    return {name: parameter_value_to_python(v) for name, v in zip(names, values)}


@pytest.fixture(scope='module')
def params_file(tmp_path_factory):
    shipped = yaml.safe_load(CONFIG_FILE.read_text())
    (key,) = shipped
    values = dict(shipped[key]['ros__parameters'])
    values.update(model='/nonexistent/model/overridden/by/the/launch', device='cuda:7',
                  input_size=70, max_depth=7.5, point_decimation=2, scale_source='none',
                  diagnostics_period=0.5, input_timeout=1.0)
    path = tmp_path_factory.mktemp('params') / 'adaptive_depth.yaml'
    path.write_text(yaml.safe_dump({key: {'ros__parameters': values}}))
    return path


def test_yaml_and_launch_arguments_apply_in_namespaces(tmp_path, tiny_da2_dir, params_file):
    domain = pick_domain_id()
    executable = node_command({}, params_file=None)[:-1]  # console script (or python -m)

    front_cmd = executable + ['--ros-args', '-r', '__ns:=/front', '--params-file',
                              str(params_file), '-p', f'model:={tiny_da2_dir}',
                              '-p', 'device:=cpu']
    module, classes = standins.load_launch_module(REPO_ROOT)  # share/ layout == source tree
    actions, context = standins.evaluate(module, classes, {
        'namespace': 'back', 'params_file': str(params_file), 'model': str(tiny_da2_dir),
        'device': 'cpu', 'log_level': 'debug', 'fastdds_profile': 'true'})
    groups = standins.split_actions(actions, classes)
    (launch_node,) = groups['Node']
    back_cmd = standins.node_command(launch_node, context, 'exe', tmp_path)
    back_cmd = executable + back_cmd[1:]
    back_env = ros_env(domain)
    back_env.update({action.args[0]: action.args[1]
                     for action in groups['SetEnvironmentVariable']})
    assert back_env['FASTRTPS_DEFAULT_PROFILES_FILE'] == str(
        REPO_ROOT / 'config' / 'fastdds_large_images.xml')

    front = NodeProcess(None, domain, tmp_path / 'front.log', env=ros_env(domain),
                        cwd=REPO_ROOT, command=front_cmd)
    back = NodeProcess(None, domain, tmp_path / 'back.log', env=back_env, cwd=REPO_ROOT,
                       command=back_cmd)
    tester = RosTester(domain)
    try:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        tester.subscribe(Image, '/back/depth')
        tester.subscribe(PointCloud2, '/back/points')
        tester.subscribe(DiagnosticArray, '/diagnostics')
        for node in (front, back):
            tester.wait_for(lambda: node.proc.poll() is not None or
                            tester.node.count_publishers('/front/depth') +
                            tester.node.count_publishers('/back/depth') >= 2, 120,
                            'both nodes to come up')
            assert node.proc.poll() is None, node.log()

        expected = {'input_size': 70, 'max_depth': 7.5, 'point_decimation': 2,
                    'scale_source': 'none', 'input_timeout': 1.0}
        names = list(expected) + ['model', 'device']
        got_front = _get_parameters(tester, '/front/adaptive_depth_node', names)
        got_back = _get_parameters(tester, '/back/adaptive_depth_node', names)
        assert got_front == dict(expected, model=str(tiny_da2_dir), device='cpu'), front.log()
        # The launch overrides (a file keyed /back/adaptive_depth_node) beat the YAML's /** key.
        assert got_back == dict(expected, model=str(tiny_da2_dir), device='cpu'), back.log()

        # One 640x480 frame through the node with the large-segment transport profile.
        image_pub = tester.node.create_publisher(Image, '/back/image', 10)
        info_pub = tester.node.create_publisher(CameraInfo, '/back/camera_info', 10)
        tester.wait_for(lambda: tester.node.count_subscribers('/back/image') > 0, 30,
                        'the image subscription of /back')
        tester.wait_for(lambda: all(
            s.get_publisher_count() > 0 for s in tester.node.subscriptions
            if s.topic_name in ('/back/depth', '/back/points')), 30, 'output matching')

        def send():
            info_pub.publish(make_camera_info_msg(640, 480, 7, 'cam', 500.0, 500.0, 319.5,
                                                  239.5))
            image_pub.publish(make_image_msg(synthetic_rgb(640, 480), 7, 'cam'))
            return tester.messages('/back/points')
        clouds = tester.wait_for(send, 60, 'a point cloud from /back', None)
        assert (clouds[0].width, clouds[0].height) == (320, 240), 'point_decimation 2 applied'
        depth = tester.messages('/back/depth')[0]
        assert (depth.width, depth.height) == (640, 480)

        # /front got no image: after input_timeout (1 s) its diagnostics warn.
        def starved():
            for msg in reversed(tester.messages('/diagnostics')):
                values = diagnostic_values(msg, '/front/adaptive_depth_node:')
                if values and 'no image for' in values['_message']:
                    return values
            return None
        status = tester.wait_for(starved, 30, '/front to report missing input')
        from diagnostic_msgs.msg import DiagnosticStatus
        assert status['_level'] == DiagnosticStatus.WARN, status
        assert float(status['seconds_since_last_image']) >= 1.0

        # The Fast DDS profile gave /back (only) a large (>= 16 MiB) shared-memory segment:
        # each process maps its own segment and those of its peers, so both see exactly that one.
        large = _large_shm_segments(back.proc.pid)
        assert len(large) == 1, large
        assert _large_shm_segments(front.proc.pid) == large
    finally:
        tester.close()
        codes = {'front': front.stop(signal.SIGTERM), 'back': back.stop(signal.SIGTERM)}
    front_log, back_log = front.log(), back.log()
    assert codes == {'front': 0, 'back': 0}, front_log + back_log
    assert '[front.adaptive_depth_node]' in front_log, 'namespaced logger name'
    assert 'no image received' in front_log, 'throttled warning about missing input'
    assert '[DEBUG]' not in front_log
    debug_loggers = set(re.findall(r'\[DEBUG\] \[[0-9.]+\] \[([^\]]+)\]', back_log))
    assert debug_loggers == {'back.adaptive_depth_node'}, debug_loggers
    assert 'XMLPARSER' not in back_log and 'Traceback' not in back_log + front_log
