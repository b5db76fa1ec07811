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
Run ``launch/depth.launch.py`` without ``launch``/``launch_ros`` (no wheels exist for them).

Tiny stand-ins that record their arguments replace the launch modules in ``sys.modules`` while
the launch file is loaded. :func:`evaluate` then does what ``ros2 launch`` does with the
description: it fills the launch configurations from the declared defaults and the given
arguments (checking ``choices``), runs the ``OpaqueFunction`` and returns the actions it built.
:func:`node_command` turns the ``Node`` action into the command line launch_ros 0.26 would run
(``Node._perform_substitutions`` and ``Node.execute`` in ros2/launch_ros,
``launch_ros/launch_ros/actions/node.py``): the executable, ``--ros-args`` plus the node's
ros_arguments, then ``--ros-args -r __node:=NAME -r __ns:=NS``, one ``--params-file`` per
parameter entry (dictionaries are written to a YAML file keyed by the node's full name) and
``-r from:=to`` per remapping.
"""

import importlib.util
from pathlib import Path
import sys
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / 'launch' / 'depth.launch.py'


class Recorder:
    """Stand-in for a launch class: remembers its positional and keyword arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __eq__(self, other):
        return type(self) is type(other) and (self.args, self.kwargs) == (other.args,
                                                                          other.kwargs)

    def __repr__(self):
        return f'{type(self).__name__}{self.args}{self.kwargs}'


class LaunchConfiguration(Recorder):
    """Stand-in for ``launch.substitutions.LaunchConfiguration``."""

    def perform(self, context: 'FakeContext') -> str:
        return context.launch_configurations[self.args[0]]


class FakeContext:
    """The parts of ``launch.LaunchContext`` the launch file uses."""

    def __init__(self, configurations: Dict[str, str], is_shutdown: bool = False):
        self.launch_configurations = dict(configurations)
        self.is_shutdown = is_shutdown


class ProcessExited:
    """Stand-in for ``launch.events.process.ProcessExited`` (only ``returncode`` is read)."""

    def __init__(self, returncode: int):
        self.returncode = returncode


CLASS_NAMES = ('LaunchDescription', 'DeclareLaunchArgument', 'OpaqueFunction',
               'RegisterEventHandler', 'SetEnvironmentVariable', 'OnProcessExit', 'Node',
               'ParameterValue', 'EmitEvent', 'matches_action', 'LifecycleNode',
               'OnStateTransition', 'ChangeState')
NODE_CLASSES = ('Node', 'LifecycleNode')


def load_launch_module(share_dir: Path) -> Tuple[types.ModuleType, Dict[str, type]]:
    """Import the launch file with stand-ins; ``share_dir`` is this package's share directory."""
    classes = {name: type(name, (Recorder,), {}) for name in CLASS_NAMES}
    classes['LaunchConfiguration'] = LaunchConfiguration
    classes['LaunchContext'] = FakeContext

    def share(name: str) -> str:
        if name != 'adaptive_depth':
            raise LookupError(f'unexpected package {name}')
        return str(share_dir)

    layout = {
        'launch': ('LaunchDescription', 'LaunchContext'),
        'launch.actions': ('DeclareLaunchArgument', 'EmitEvent', 'OpaqueFunction',
                           'RegisterEventHandler', 'SetEnvironmentVariable'),
        'launch.event_handlers': ('OnProcessExit',),
        'launch.events': ('matches_action',),
        'launch.substitutions': ('LaunchConfiguration',),
        'launch_ros': (),
        'launch_ros.actions': ('LifecycleNode', 'Node'),
        'launch_ros.event_handlers': ('OnStateTransition',),
        'launch_ros.events': (),
        'launch_ros.events.lifecycle': ('ChangeState',),
        'launch_ros.parameter_descriptions': ('ParameterValue',),
    }
    saved = {name: sys.modules.get(name) for name in list(layout) + [
        'ament_index_python', 'ament_index_python.packages']}
    try:
        for name, attrs in layout.items():
            module = types.ModuleType(name)
            module.__dict__.update({attr: classes[attr] for attr in attrs})
            sys.modules[name] = module
        index = types.ModuleType('ament_index_python.packages')
        index.get_package_share_directory = share
        sys.modules['ament_index_python'] = types.ModuleType('ament_index_python')
        sys.modules['ament_index_python.packages'] = index
        spec = importlib.util.spec_from_file_location('depth_launch_under_test', LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return module, classes


def declared_arguments(module: types.ModuleType, classes: Dict[str, type]) -> Dict[str, Any]:
    """Return the DeclareLaunchArgument stand-ins of the description by name."""
    description = module.generate_launch_description()
    return {entity.args[0]: entity for entity in description.args[0]
            if isinstance(entity, classes['DeclareLaunchArgument'])}


def evaluate(module: types.ModuleType, classes: Dict[str, type],
             arguments: Dict[str, str], base_configurations: Optional[Dict[str, str]] = None
             ) -> Tuple[List[Any], FakeContext]:
    """Return (actions built by the OpaqueFunction, context) for the given launch arguments."""
    description = module.generate_launch_description()
    declared = declared_arguments(module, classes)
    unknown = set(arguments) - set(declared)
    if unknown:
        raise KeyError(f'undeclared launch arguments {sorted(unknown)}')
    configurations = dict(base_configurations or {})
    for name, action in declared.items():
        value = arguments.get(name, action.kwargs.get('default_value'))
        choices = action.kwargs.get('choices')
        if choices is not None and value not in choices:
            raise RuntimeError(f'Argument "{name}" provided value "{value}" is not valid')
        configurations[name] = value
    context = FakeContext(configurations)
    functions = [entity for entity in description.args[0]
                 if isinstance(entity, classes['OpaqueFunction'])]
    assert len(functions) == 1, description
    actions = functions[0].kwargs['function'](context)
    return list(actions), context


def _perform(value: Any, context: FakeContext) -> str:
    if isinstance(value, LaunchConfiguration):
        return value.perform(context)
    if isinstance(value, (list, tuple)):
        return ''.join(_perform(v, context) for v in value)
    return str(value)


def _parameter_value(value: Any, context: FakeContext) -> Any:
    if type(value).__name__ == 'ParameterValue':
        text = _perform(value.args[0], context)
        kind = value.kwargs.get('value_type')
        if kind is str:
            return text
        parsed = yaml.safe_load(text)
        assert kind is None or isinstance(parsed, kind), (text, kind)
        return parsed
    return yaml.safe_load(_perform(value, context))


def node_command(node: Any, context: FakeContext, executable: str, tmp_dir: Path) -> List[str]:
    """Return the command line launch_ros runs for the ``Node`` stand-in ``node``."""
    kw = node.kwargs
    cmd = [executable] + [_perform(a, context) for a in kw.get('arguments') or []]
    if kw.get('ros_arguments'):
        cmd += ['--ros-args'] + [_perform(a, context) for a in kw['ros_arguments']]
    cmd += ['--ros-args']
    name = _perform(kw['name'], context)
    cmd += ['-r', f'__node:={name}']
    namespace = _perform(kw.get('namespace', ''), context)
    base = context.launch_configurations.get('ros_namespace')
    if base and not namespace.startswith('/'):
        namespace = base.rstrip('/') + '/' + namespace
    namespace = '/' + namespace.strip('/')
    cmd += ['-r', f'__ns:={namespace}']
    full_name = namespace.rstrip('/') + '/' + name
    for index, entry in enumerate(kw.get('parameters') or []):
        if isinstance(entry, dict):
            path = tmp_dir / f'launch_params_{index}.yaml'
            values = {key: _parameter_value(value, context) for key, value in entry.items()}
            path.write_text(yaml.dump({full_name: {'ros__parameters': values}}))
            cmd += ['--params-file', str(path)]
        else:
            cmd += ['--params-file', _perform(entry, context)]
    for source, target in kw.get('remappings') or []:
        cmd += ['-r', f'{_perform(source, context)}:={_perform(target, context)}']
    return cmd


def split_actions(actions: List[Any], classes: Dict[str, type]) -> Dict[str, List[Any]]:
    """Group the actions by stand-in class name."""
    groups: Dict[str, List[Any]] = {}
    for action in actions:
        groups.setdefault(type(action).__name__, []).append(action)
    return groups


def the_node(actions: List[Any]) -> Any:
    """Return the one node action (``Node`` or ``LifecycleNode``)."""
    (node,) = [a for a in actions if type(a).__name__ in NODE_CLASSES]
    return node


def handlers(actions: List[Any], kind: str) -> List[Any]:
    """Return the event handlers of class name ``kind`` registered by the actions."""
    return [a.args[0] for a in actions if type(a).__name__ == 'RegisterEventHandler' and
            type(a.args[0]).__name__ == kind]


def exit_handler(actions: List[Any], classes: Dict[str, type]) -> Callable:
    """Return the on_exit callable registered for the node (asserting it targets the node)."""
    (handler,) = handlers(actions, 'OnProcessExit')
    assert handler.kwargs['target_action'] is the_node(actions)
    return handler.kwargs['on_exit']
