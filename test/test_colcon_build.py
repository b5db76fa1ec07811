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

"""``colcon build`` into a temporary workspace installs what ``ros2 run`` and launch use."""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _colcon() -> str:
    found = shutil.which('colcon') or str(Path(sys.executable).parent / 'colcon')
    if not Path(found).exists():
        pytest.fail('colcon is not installed next to the test interpreter nor on PATH')
    return found


@pytest.fixture(scope='module')
def install_dir(tmp_path_factory):
    ws = tmp_path_factory.mktemp('colcon_ws')
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    cmd = [_colcon(), '--log-base', str(ws / 'log'), 'build', '--base-paths', str(REPO_ROOT),
           '--build-base', str(ws / 'build'), '--install-base', str(ws / 'install'),
           '--packages-select', 'adaptive_depth', '--event-handlers', 'console_direct-']
    result = subprocess.run(cmd, env=env, cwd=str(ws), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f'colcon build failed:\n{result.stdout}\n{result.stderr}'
    return ws / 'install' / 'adaptive_depth'


def test_installed_layout(install_dir):
    share = install_dir / 'share' / 'adaptive_depth'
    for path in (install_dir / 'lib' / 'adaptive_depth' / 'adaptive_depth_node',
                 share / 'launch' / 'depth.launch.py',
                 share / 'config' / 'adaptive_depth.yaml',
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
