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
The launch file and the parameter YAML, checked without ``launch``/``launch_ros``.

``launch`` and ``launch_ros`` are not installable here, so stand-ins (test/launch_standins.py)
load the launch file, evaluate its launch arguments as ``ros2 launch`` does and turn the node
action into the command line launch_ros would run. test_launch_graph.py runs such command lines
in a real ROS 2 graph; test_launch_api.py checks the launch APIs used exist in Jazzy.
"""

from pathlib import Path

from adaptive_depth.ros.params import NodeParams, PARAM_SPECS
import launch_standins as standins
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE = REPO_ROOT / 'config' / 'adaptive_depth.yaml'
DOCUMENTED_ARGUMENTS = {'params_file', 'image_topic', 'camera_info_topic', 'namespace', 'model',
                        'scale_checkpoint', 'device', 'execution', 'input_rectified',
                        'use_sim_time', 'log_level', 'fastdds_profile', 'managed', 'autostart'}
YAML_KEY = '/**/adaptive_depth_node'


@pytest.fixture
def launch(tmp_path):
    share = tmp_path / 'share' / 'adaptive_depth'
    module, classes = standins.load_launch_module(share)
    return module, classes, share


def _command(launch, tmp_path, **arguments):
    module, classes, _ = launch
    actions, context = standins.evaluate(module, classes, arguments)
    groups = standins.split_actions(actions, classes)
    node = standins.the_node(actions)
    cmd = standins.node_command(node, context, node.kwargs['executable'], tmp_path)
    return cmd, groups


def _params_files(cmd):
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == '--params-file']


def _pairs(cmd, flag):
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == flag]


def test_launch_file_compiles():
    compile(standins.LAUNCH_FILE.read_text(), str(standins.LAUNCH_FILE), 'exec')


def test_declared_arguments(launch):
    module, classes, share = launch
    args = standins.declared_arguments(module, classes)
    assert set(args) == DOCUMENTED_ARGUMENTS
    assert all(a.kwargs.get('description') for a in args.values())
    defaults = {name: a.kwargs['default_value'] for name, a in args.items()}
    assert defaults == {
        'params_file': str(share / 'config' / 'adaptive_depth.yaml'), 'image_topic': 'image',
        'camera_info_topic': 'camera_info', 'namespace': '', 'model': '',
        'scale_checkpoint': '', 'device': '', 'execution': '', 'input_rectified': '',
        'use_sim_time': 'false',
        'log_level': 'info',
        'fastdds_profile': 'false', 'managed': 'false', 'autostart': 'true'}
    assert args['log_level'].kwargs['choices'] == ['debug', 'info', 'warn', 'error', 'fatal']


def test_default_command_line(launch, tmp_path):
    cmd, groups = _command(launch, tmp_path)
    _, _, share = launch
    assert set(groups) == {'Node', 'RegisterEventHandler'}, 'no environment change by default'
    assert cmd[:4] == ['adaptive_depth_node', '--ros-args', '--log-level',
                       'adaptive_depth_node:=info']
    assert _pairs(cmd, '-r') == ['__node:=adaptive_depth_node', '__ns:=/', 'image:=image',
                                 'camera_info:=camera_info']  # compressed follows image
    files = _params_files(cmd)
    assert files[0] == str(share / 'config' / 'adaptive_depth.yaml')
    assert len(files) == 2, 'no override file when model/scale_checkpoint/device are empty'
    assert yaml.safe_load(Path(files[1]).read_text()) == {
        '/adaptive_depth_node': {'ros__parameters': {'use_sim_time': False}}}


def test_namespace_overrides_and_scoped_log_level(launch, tmp_path):
    cmd, _ = _command(launch, tmp_path, namespace='front', model='~/models/da2', device='cpu',
                      execution='compile', scale_checkpoint='  ', log_level='debug',
                      input_rectified='True',
                      use_sim_time='true',
                      image_topic='/camera/color/image_raw',
                      camera_info_topic='/camera/color/camera_info', params_file='/p.yaml')
    assert '__ns:=/front' in _pairs(cmd, '-r')
    assert 'image:=/camera/color/image_raw' in _pairs(cmd, '-r')
    assert 'camera_info:=/camera/color/camera_info' in _pairs(cmd, '-r')
    # Only this node's loggers (rcl names them ns.node; main() logs as adaptive_depth_node)
    # get the level: a bare `--log-level debug` would turn on every rcl/rmw debug message.
    assert _pairs(cmd, '--log-level') == ['front.adaptive_depth_node:=debug',
                                          'adaptive_depth_node:=debug']
    files = _params_files(cmd)
    assert files[0] == '/p.yaml'
    overrides = yaml.safe_load(Path(files[2]).read_text())
    # Keyed by the full node name, which beats the YAML's /** wildcard whatever the file order.
    assert overrides == {'/front/adaptive_depth_node': {'ros__parameters': {
        'model': '~/models/da2', 'device': 'cpu', 'execution': 'compile',
        'input_rectified': True}}}, \
        'blank scale_checkpoint keeps the YAML'
    assert yaml.safe_load(Path(files[1]).read_text())[
        '/front/adaptive_depth_node']['ros__parameters'] == {'use_sim_time': True}


def test_string_overrides_stay_strings(launch, tmp_path):
    cmd, _ = _command(launch, tmp_path, model='1234', scale_checkpoint='runs/best')
    overrides = yaml.safe_load(Path(_params_files(cmd)[-1]).read_text())
    assert overrides['/adaptive_depth_node']['ros__parameters'] == {
        'model': '1234', 'scale_checkpoint': 'runs/best'}


def test_pushed_ros_namespace_names_the_logger(launch, tmp_path):
    module, classes, _ = launch
    actions, context = standins.evaluate(module, classes, {'namespace': 'front'},
                                         base_configurations={'ros_namespace': '/robot1'})
    (node,) = standins.split_actions(actions, classes)['Node']
    cmd = standins.node_command(node, context, 'adaptive_depth_node', tmp_path)
    assert '__ns:=/robot1/front' in _pairs(cmd, '-r')
    assert _pairs(cmd, '--log-level')[0] == 'robot1.front.adaptive_depth_node:=info'


def test_bad_log_level_is_refused(launch):
    module, classes, _ = launch
    with pytest.raises(RuntimeError, match='log_level'):
        standins.evaluate(module, classes, {'log_level': 'verbose'})


def test_fastdds_profile_sets_both_variables(launch, tmp_path):
    module, classes, share = launch
    expected = str(share / 'config' / 'fastdds_large_images.xml')
    for value in ('true', 'True', '1'):
        actions, _ = standins.evaluate(module, classes, {'fastdds_profile': value})
        env = standins.split_actions(actions, classes)['SetEnvironmentVariable']
        assert sorted(a.args for a in env) == [('FASTDDS_DEFAULT_PROFILES_FILE', expected),
                                               ('FASTRTPS_DEFAULT_PROFILES_FILE', expected)]
        assert type(actions[-2]).__name__ == 'Node', 'environment is set before the node starts'
    own = tmp_path / 'mine.xml'
    own.write_text('<dds/>')
    actions, _ = standins.evaluate(module, classes, {'fastdds_profile': str(own)})
    env = standins.split_actions(actions, classes)['SetEnvironmentVariable']
    assert {a.args[1] for a in env} == {str(own)}
    for value in ('false', '', 'off'):
        actions, _ = standins.evaluate(module, classes, {'fastdds_profile': value})
        assert 'SetEnvironmentVariable' not in standins.split_actions(actions, classes)
    with pytest.raises(RuntimeError, match='fastdds_profile'):
        standins.evaluate(module, classes, {'fastdds_profile': str(tmp_path / 'missing.xml')})


def test_installed_fastdds_profile_is_valid_xml():
    import xml.etree.ElementTree as ET
    root = ET.parse(REPO_ROOT / 'config' / 'fastdds_large_images.xml').getroot()
    ns = {'f': 'http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles'}
    descriptors = {d.find('f:transport_id', ns).text: d
                   for d in root.iterfind('.//f:transport_descriptor', ns)}
    kinds = {tid: d.find('f:type', ns).text for tid, d in descriptors.items()}
    assert sorted(kinds.values()) == ['SHM', 'UDPv4']
    shm = next(d for d in descriptors.values() if d.find('f:type', ns).text == 'SHM')
    assert int(shm.find('f:segment_size', ns).text) >= 8 * 1024 * 1024
    participant = root.find('.//f:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    used = [e.text for e in participant.iterfind('.//f:userTransports/f:transport_id', ns)]
    assert sorted(used) == sorted(descriptors)
    assert participant.find('.//f:useBuiltinTransports', ns).text == 'false'


def test_failed_node_fails_the_launch(launch):
    module, classes, _ = launch
    actions, context = standins.evaluate(module, classes, {})
    on_exit = standins.exit_handler(actions, classes)
    assert on_exit(standins.ProcessExited(0), context) is None
    with pytest.raises(module.NodeFailedError, match='code 1 .*failed to load'):
        on_exit(standins.ProcessExited(1), context)
    with pytest.raises(module.NodeFailedError, match='code 2 .*invalid parameters'):
        on_exit(standins.ProcessExited(2), context)
    with pytest.raises(module.NodeFailedError, match='code -9 .*killed'):
        on_exit(standins.ProcessExited(-9), context)
    # While the launch shuts down (Ctrl-C) an exit code is no failure of the launch.
    context.is_shutdown = True
    assert on_exit(standins.ProcessExited(-15), context) is None


def test_config_yaml_matches_declared_parameters():
    data = yaml.safe_load(CONFIG_FILE.read_text())
    # Keyed with the /** wildcard so that it applies in any namespace (issue: namespace:=front
    # dropped every value of a file keyed 'adaptive_depth_node').
    assert list(data) == [YAML_KEY]
    values = data[YAML_KEY]['ros__parameters']
    assert set(values) == set(NodeParams.field_types()) == set(PARAM_SPECS)
    params = NodeParams.from_mapping(values)  # raises on any invalid value
    assert params == NodeParams(), 'config/adaptive_depth.yaml must list the defaults'
    for name, kind in NodeParams.field_types().items():
        assert type(values[name]) is kind, f'{name}: YAML type {type(values[name])} != {kind}'


def test_config_yaml_documents_every_parameter():
    lines = CONFIG_FILE.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith('#') and line.startswith('    '):
            assert lines[i - 1].strip().startswith('#'), f'no comment above {stripped!r}'


def test_managed_runs_the_lifecycle_node_with_the_same_command_line(launch, tmp_path):
    arguments = {'namespace': 'front', 'model': '/m', 'log_level': 'debug',
                 'image_topic': '/camera/color/image_raw'}
    (tmp_path / 'plain').mkdir()
    (tmp_path / 'managed').mkdir()
    plain, plain_groups = _command(launch, tmp_path / 'plain', **arguments)
    managed, groups = _command(launch, tmp_path / 'managed', managed='true', autostart='false',
                               **arguments)
    assert set(plain_groups) == {'Node', 'RegisterEventHandler'}
    assert set(groups) == {'LifecycleNode', 'RegisterEventHandler'}, 'autostart:=false: no event'
    (node,) = groups['LifecycleNode']
    assert node.kwargs['name'] == 'adaptive_depth_node', 'lifecycle managers address it so'
    assert (plain[0], managed[0]) == ('adaptive_depth_node', 'adaptive_depth_managed_node')
    files = [yaml.safe_load(Path(f).read_text()) for f in _params_files(managed)[1:]]
    assert files == [yaml.safe_load(Path(f).read_text()) for f in _params_files(plain)[1:]]
    strip = [a for a in managed[1:] if not a.startswith(str(tmp_path))]
    assert strip == [a for a in plain[1:] if not a.startswith(str(tmp_path))]


def test_managed_autostart_configures_then_activates(launch, tmp_path):
    from lifecycle_msgs.msg import Transition
    module, classes, _ = launch
    actions, context = standins.evaluate(module, classes, {'managed': 'true'})
    node = standins.the_node(actions)
    assert type(node).__name__ == 'LifecycleNode'
    # launch_ros emits the configure request once the node's change_state service is up
    emits = [a for a in actions if type(a).__name__ == 'EmitEvent']
    (configure,) = emits
    assert actions.index(configure) > actions.index(node)
    event = configure.kwargs['event']
    assert event.kwargs['transition_id'] == Transition.TRANSITION_CONFIGURE
    assert event.kwargs['lifecycle_node_matcher'].args == (node,)
    # ... and activate only after configuring → inactive (not after a later deactivate)
    (on_inactive,) = standins.handlers(actions, 'OnStateTransition')
    assert on_inactive.kwargs['target_lifecycle_node'] is node
    assert (on_inactive.kwargs['start_state'], on_inactive.kwargs['goal_state']) == \
        ('configuring', 'inactive')
    (activate,) = on_inactive.kwargs['entities']
    assert activate.kwargs['event'].kwargs['transition_id'] == Transition.TRANSITION_ACTIVATE
    assert activate.kwargs['event'].kwargs['lifecycle_node_matcher'].args == (node,)
    # a failed start still fails the launch
    on_exit = standins.exit_handler(actions, classes)
    with pytest.raises(module.NodeFailedError, match='code 2'):
        on_exit(standins.ProcessExited(2), context)
    with pytest.raises(RuntimeError, match='managed'):
        standins.evaluate(module, classes, {'managed': 'maybe'})
