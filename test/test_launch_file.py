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

``launch`` and ``launch_ros`` are not installable here, so tiny stand-ins that record their
arguments are placed in ``sys.modules`` for the duration of one test and the launch file's
``generate_launch_description`` is called with them.
"""

import importlib.util
from pathlib import Path
import sys
import types

from adaptive_depth.ros.params import NodeParams, PARAM_SPECS
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / 'launch' / 'depth.launch.py'
CONFIG_FILE = REPO_ROOT / 'config' / 'adaptive_depth.yaml'
DOCUMENTED_ARGUMENTS = {'params_file', 'image_topic', 'camera_info_topic', 'namespace',
                        'use_sim_time', 'log_level'}


class _Recorder:
    """Stand-in for a launch class: remembers its positional and keyword arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __eq__(self, other):
        return type(self) is type(other) and (self.args, self.kwargs) == (other.args,
                                                                          other.kwargs)

    def __repr__(self):
        return f'{type(self).__name__}{self.args}{self.kwargs}'


def _stub_modules(share_dir):
    classes = {name: type(name, (_Recorder,), {}) for name in (
        'LaunchDescription', 'DeclareLaunchArgument', 'LaunchConfiguration', 'Node',
        'ParameterValue')}
    layout = {
        'launch': {'LaunchDescription': classes['LaunchDescription']},
        'launch.actions': {'DeclareLaunchArgument': classes['DeclareLaunchArgument']},
        'launch.substitutions': {'LaunchConfiguration': classes['LaunchConfiguration']},
        'launch_ros': {},
        'launch_ros.actions': {'Node': classes['Node']},
        'launch_ros.parameter_descriptions': {'ParameterValue': classes['ParameterValue']},
        'ament_index_python': {},
        'ament_index_python.packages': {
            'get_package_share_directory':
                lambda name: str(share_dir) if name == 'adaptive_depth' else
                pytest.fail(f'unexpected package {name}')},
    }
    modules = {}
    for name, attrs in layout.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        modules[name] = module
    return modules, classes


@pytest.fixture
def description(monkeypatch, tmp_path):
    modules, classes = _stub_modules(tmp_path / 'share' / 'adaptive_depth')
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location('depth_launch_under_test', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description(), classes, tmp_path / 'share' / 'adaptive_depth'


def test_launch_file_compiles():
    compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), 'exec')


def test_declared_arguments(description):
    ld, classes, share = description
    entities = ld.args[0]
    args = {e.kwargs.get('name', e.args[0] if e.args else None): e for e in entities
            if isinstance(e, classes['DeclareLaunchArgument'])}
    assert set(args) == DOCUMENTED_ARGUMENTS
    assert all(a.kwargs.get('description') for a in args.values())
    assert args['params_file'].kwargs['default_value'] == str(
        share / 'config' / 'adaptive_depth.yaml')
    assert args['image_topic'].kwargs['default_value'] == 'image'
    assert args['camera_info_topic'].kwargs['default_value'] == 'camera_info'
    assert args['use_sim_time'].kwargs['default_value'] == 'false'


def test_node_action(description):
    ld, classes, _ = description
    nodes = [e for e in ld.args[0] if isinstance(e, classes['Node'])]
    assert len(nodes) == 1
    kw = nodes[0].kwargs
    assert kw['package'] == 'adaptive_depth'
    assert kw['executable'] == 'adaptive_depth_node'
    assert kw['name'] == 'adaptive_depth_node'
    config = classes['LaunchConfiguration']
    assert kw['namespace'] == config('namespace')
    assert kw['parameters'][0] == config('params_file')
    sim_time = kw['parameters'][1]['use_sim_time']
    assert sim_time.args[0] == config('use_sim_time') and sim_time.kwargs['value_type'] is bool
    remaps = dict(kw['remappings'])
    assert remaps['image'] == config('image_topic')
    assert remaps['camera_info'] == config('camera_info_topic')
    assert remaps['image/compressed'] == [config('image_topic'), '/compressed']
    assert kw['arguments'] == ['--ros-args', '--log-level', config('log_level')]


def test_config_yaml_matches_declared_parameters():
    data = yaml.safe_load(CONFIG_FILE.read_text())
    assert list(data) == ['adaptive_depth_node']
    values = data['adaptive_depth_node']['ros__parameters']
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
