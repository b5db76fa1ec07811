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
``colcon build`` into a temporary workspace installs what ``ros2 run`` and launch use.

Also: the short tool names ``ros2 run adaptive_depth <tool>`` looks for in lib/adaptive_depth/
run the tools, and ``colcon test`` runs the suite's pytest (not unittest's "Ran 0 tests").
"""

import ast
import os
from pathlib import Path
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _colcon() -> str:
    found = shutil.which('colcon') or str(Path(sys.executable).parent / 'colcon')
    if not Path(found).exists():
        pytest.fail('colcon is not installed next to the test interpreter nor on PATH')
    return found


def _colcon_env() -> dict:
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    return env


def _workspace_args(ws: Path) -> list:
    return ['--base-paths', str(REPO_ROOT), '--build-base', str(ws / 'build'),
            '--install-base', str(ws / 'install'), '--packages-select', 'adaptive_depth',
            '--event-handlers', 'console_direct-']


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp('colcon_ws')
    cmd = [_colcon(), '--log-base', str(ws / 'log'), 'build'] + _workspace_args(ws)
    result = subprocess.run(cmd, env=_colcon_env(), cwd=str(ws), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f'colcon build failed:\n{result.stdout}\n{result.stderr}'
    return ws


@pytest.fixture(scope='module')
def install_dir(workspace):
    return workspace / 'install' / 'adaptive_depth'


def _tools() -> dict:
    tree = ast.parse((REPO_ROOT / 'setup.py').read_text())
    assign = next(node for node in tree.body if isinstance(node, ast.Assign) and
                  node.targets[0].id == 'TOOLS')
    return ast.literal_eval(assign.value)


def test_installed_layout(install_dir):
    share = install_dir / 'share' / 'adaptive_depth'
    for path in (install_dir / 'lib' / 'adaptive_depth' / 'adaptive_depth_node',
                 share / 'launch' / 'depth.launch.py',
                 share / 'config' / 'adaptive_depth.yaml',
                 share / 'config' / 'fastdds_large_images.xml',
                 share / 'docs' / 'depth_model.md',
                 share / 'CHANGELOG.rst',
                 share / 'package.xml',
                 install_dir / 'share' / 'ament_index' / 'resource_index' / 'packages' /
                 'adaptive_depth'):
        assert path.is_file(), f'{path} was not installed'
    assert os.access(install_dir / 'lib' / 'adaptive_depth' / 'adaptive_depth_node', os.X_OK)
    assert (share / 'config' / 'adaptive_depth.yaml').read_text() == (
        REPO_ROOT / 'config' / 'adaptive_depth.yaml').read_text()


def test_installed_console_script_runs(install_dir, tmp_path):
    """The installed executable imports the installed package and validates its parameters."""
    site = next((install_dir / 'lib').glob('python3*/site-packages'))
    assert (site / 'adaptive_depth' / 'ros' / 'node.py').is_file()
    env = dict(os.environ, PYTHONPATH=str(site), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               ROS_DOMAIN_ID='199')
    script = install_dir / 'lib' / 'adaptive_depth' / 'adaptive_depth_node'
    result = subprocess.run([str(script), '--ros-args', '-p', 'input_size:=100'], env=env,
                            cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'input_size must be a positive multiple of 14' in result.stdout + result.stderr


def test_ros2_run_finds_the_short_tool_names(install_dir):
    """``ros2 run adaptive_depth evaluate`` runs lib/adaptive_depth/evaluate: --help works."""
    lib = install_dir / 'lib' / 'adaptive_depth'
    tools = _tools()
    installed = {path.name for path in lib.iterdir()}
    assert {f'adaptive_depth_{name}' for name in tools} | set(tools) | {
        'adaptive_depth_node', 'adaptive_depth_managed_node', 'adaptive_depth_demo'} == installed
    site = next((install_dir / 'lib').glob('python3*/site-packages'))
    env = dict(os.environ, PYTHONPATH=str(site))
    procs = {name: subprocess.Popen([str(lib / name), '--help'], env=env, cwd=str(lib.parent),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in tools}
    procs['adaptive_depth_managed_node'] = subprocess.Popen(
        [str(lib / 'adaptive_depth_managed_node'), '--help'], env=env, cwd=str(lib.parent),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f'{name} --help: {err}'
        assert out.startswith('usage: '), f'{name} --help printed {out[:200]!r}'


def test_colcon_test_runs_pytest(workspace):
    """Colcon picks its pytest step (from extras_require['test']) and the tests really run."""
    cmd = [_colcon(), '--log-base', str(workspace / 'log'), 'test'] + _workspace_args(
        workspace) + ['--pytest-args', 'test/test_node_params.py', '-k',
                      'test_defaults_are_valid_and_documented or test_cross_parameter_rules']
    result = subprocess.run(cmd, env=_colcon_env(), cwd=str(workspace), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f'colcon test failed:\n{result.stdout}\n{result.stderr}'
    assert 'Ran 0 tests' not in result.stdout + result.stderr
    junit = workspace / 'build' / 'adaptive_depth' / 'pytest.xml'
    assert junit.is_file(), 'no pytest junit report: colcon did not run pytest'
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
    assert int(suite.get('tests')) == 2
    assert int(suite.get('failures')) == int(suite.get('errors')) == 0
    names = sorted(case.get('name') for case in suite.iter('testcase'))
    assert names == ['test_cross_parameter_rules', 'test_defaults_are_valid_and_documented']
    summary = subprocess.run([_colcon(), 'test-result', '--test-result-base',
                              str(workspace / 'build')], env=_colcon_env(),
                             capture_output=True, text=True, timeout=60)
    assert summary.returncode == 0 and '2 tests, 0 errors, 0 failures' in summary.stdout, summary
