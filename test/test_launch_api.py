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
The launch file uses only launch / launch_ros APIs that exist in ROS 2 Jazzy.

Jazzy ships launch 3.4 and launch_ros 0.26, neither installable here. The names and keyword
arguments below were read in their sources (github.com/ros2/launch: launch/launch/actions/*.py,
event_handlers/on_process_exit.py, launch_context.py, events/process/process_exited.py,
actions/emit_event.py, events/matchers.py; github.com/ros2/launch_ros:
launch_ros/launch_ros/actions/node.py, actions/lifecycle_node.py (a Node with a required
``name``), event_handlers/on_state_transition.py, events/lifecycle/change_state.py,
events/lifecycle/state_transition.py (state labels such as 'inactive'), parameter_descriptions.py).
This test parses the launch file and fails on any import, keyword argument or attribute of the
launch context / exit event that is not in that list, so a typo or an API from a newer release
cannot slip through the stand-in tests.
"""

import ast

import launch_standins as standins

EXECUTE_PROCESS_KWARGS = {'output', 'emulate_tty', 'additional_env', 'cwd', 'name', 'shell',
                          'sigterm_timeout', 'sigkill_timeout', 'respawn', 'respawn_delay'}
NODE_KWARGS = {'executable', 'package', 'name', 'namespace', 'exec_name', 'parameters',
               'remappings', 'ros_arguments', 'arguments'} | EXECUTE_PROCESS_KWARGS
VERIFIED_KWARGS = {
    ('launch', 'LaunchDescription'): set(),
    ('launch', 'LaunchContext'): set(),
    ('launch.actions', 'DeclareLaunchArgument'): {'default_value', 'description', 'choices'},
    ('launch.actions', 'EmitEvent'): {'event'},
    ('launch.events', 'matches_action'): set(),  # matches_action(target_action)
    ('launch.actions', 'OpaqueFunction'): {'function', 'args', 'kwargs'},
    ('launch.actions', 'RegisterEventHandler'): set(),  # RegisterEventHandler(event_handler)
    ('launch.actions', 'SetEnvironmentVariable'): {'name', 'value'},
    ('launch.actions', 'Shutdown'): {'reason'},
    ('launch.event_handlers', 'OnProcessExit'): {'target_action', 'on_exit'},
    ('launch.substitutions', 'LaunchConfiguration'): {'default'},
    ('launch_ros.actions', 'Node'): NODE_KWARGS,
    # LifecycleNode(*, name, **kwargs) passes every other keyword on to Node
    ('launch_ros.actions', 'LifecycleNode'): NODE_KWARGS,
    ('launch_ros.event_handlers', 'OnStateTransition'): {
        'entities', 'target_lifecycle_node', 'transition', 'start_state', 'goal_state',
        'matcher'},
    ('launch_ros.events.lifecycle', 'ChangeState'): {'lifecycle_node_matcher', 'transition_id'},
    ('launch_ros.parameter_descriptions', 'ParameterValue'): {'value_type'},
    ('ament_index_python.packages', 'get_package_share_directory'): set(),
}
# LaunchContext.launch_configurations / .is_shutdown; ProcessExited.returncode; LaunchConfiguration
# .perform(context).
VERIFIED_ATTRIBUTES = {'context': {'launch_configurations', 'is_shutdown'},
                       'event': {'returncode'}}
LAUNCH_PACKAGES = ('launch', 'launch_ros', 'ament_index_python')


def _tree() -> ast.Module:
    return ast.parse(standins.LAUNCH_FILE.read_text(), str(standins.LAUNCH_FILE))


def _imported_names() -> dict:
    names = {}
    for node in ast.walk(_tree()):
        if isinstance(node, ast.ImportFrom) and node.module.split('.')[0] in LAUNCH_PACKAGES:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Import):
            assert all(a.name.split('.')[0] not in LAUNCH_PACKAGES for a in node.names), \
                'import launch APIs by name (from X import Y) so that they can be checked'
    return names


def test_only_verified_launch_apis_are_imported():
    unknown = set(_imported_names().values()) - set(VERIFIED_KWARGS)
    assert not unknown, f'not verified against launch 3.4 / launch_ros 0.26: {sorted(unknown)}'


def test_only_verified_keyword_arguments_are_used():
    names = _imported_names()
    calls = 0
    for node in ast.walk(_tree()):
        if not isinstance(node, ast.Call):
            continue
        # `(LifecycleNode if managed else Node)(...)`: the keywords must suit both
        callees = ([node.func.body, node.func.orelse] if isinstance(node.func, ast.IfExp)
                   else [node.func])
        for callee in callees:
            if isinstance(callee, ast.Name) and callee.id in names:
                api = names[callee.id]
                used = {kw.arg for kw in node.keywords if kw.arg is not None}
                extra = used - VERIFIED_KWARGS[api]
                assert not extra, f'{api}: unknown keywords {extra}'
                calls += 1
    assert calls >= 12


def test_only_verified_context_and_event_attributes_are_read():
    seen = {}
    for node in ast.walk(_tree()):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in VERIFIED_ATTRIBUTES:
            seen.setdefault(node.value.id, set()).add(node.attr)
    for name, attrs in seen.items():
        assert attrs <= VERIFIED_ATTRIBUTES[name], f'{name}.{attrs - VERIFIED_ATTRIBUTES[name]}'
    assert seen['event'] == {'returncode'}


def test_checker_catches_an_unknown_keyword(tmp_path, monkeypatch):
    bad = tmp_path / 'bad.launch.py'
    bad.write_text(standins.LAUNCH_FILE.read_text().replace('emulate_tty=True',
                                                            'emulate_tty=True, required=True'))
    monkeypatch.setattr(standins, 'LAUNCH_FILE', bad)
    try:
        test_only_verified_keyword_arguments_are_used()
    except AssertionError as exc:
        assert 'required' in str(exc)
    else:
        raise AssertionError('the checker accepted Node(required=...)')
