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
Command names: prefixed on a pip PATH, short under ``ros2 run``; ``--help`` loads no model.

test_colcon_build.py checks the same in a colcon install (lib/adaptive_depth/).
"""

import ast
import os
from pathlib import Path
import subprocess
import sys

REPO_ROOT = Path(__file__).resolve().parents[1]
WRAPPERS = REPO_ROOT / 'scripts' / 'ros2_run'


def _setup_names():
    tree = ast.parse((REPO_ROOT / 'setup.py').read_text())
    assign = next(node for node in tree.body if isinstance(node, ast.Assign) and
                  node.targets[0].id == 'TOOLS')
    return ast.literal_eval(assign.value)


def test_console_scripts_are_prefixed():
    from importlib.metadata import distribution
    scripts = {ep.name: ep.value for ep in distribution('adaptive_depth').entry_points
               if ep.group == 'console_scripts'}
    assert scripts, 'adaptive_depth is not installed (bash scripts/setup.sh)'
    assert all(name.startswith('adaptive_depth_') for name in scripts), sorted(scripts)
    for short, target in _setup_names().items():
        assert scripts[f'adaptive_depth_{short}'] == target


def test_ros2_run_wrappers_cover_every_tool():
    tools = set(_setup_names())
    names = {path.name for path in WRAPPERS.iterdir()} - {'run_prefixed.sh'}
    assert names == tools
    for name in tools:
        link = WRAPPERS / name
        assert link.is_symlink() and os.readlink(link) == 'run_prefixed.sh'
    assert os.access(WRAPPERS / 'run_prefixed.sh', os.X_OK)


def test_wrapper_runs_the_prefixed_script_next_to_it(tmp_path):
    lib = tmp_path / 'lib' / 'adaptive_depth'
    lib.mkdir(parents=True)
    (lib / 'adaptive_depth_evaluate').write_text('#!/bin/sh\necho "prefixed $*"\n')
    (lib / 'adaptive_depth_evaluate').chmod(0o755)
    (lib / 'evaluate').write_bytes((WRAPPERS / 'run_prefixed.sh').read_bytes())
    (lib / 'evaluate').chmod(0o755)
    done = subprocess.run([str(lib / 'evaluate'), '--help', 'a b'], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == 'prefixed --help a b\n', done


def test_node_help_prints_usage_without_loading_a_model():
    code = ('import sys, io, contextlib\n'
            'from adaptive_depth.ros.node import main\n'
            'out = io.StringIO()\n'
            'with contextlib.redirect_stdout(out):\n'
            '    rc = main(["adaptive_depth_node", "--help"])\n'
            'assert "torch" not in sys.modules, "torch imported for --help"\n'
            'print(out.getvalue())\n'
            'sys.exit(rc)\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60, cwd=str(REPO_ROOT))
    assert done.returncode == 0, done.stderr
    assert 'usage: adaptive_depth_node' in done.stdout
    assert f'Parameter file: {REPO_ROOT / "config" / "adaptive_depth.yaml"}' in done.stdout
    for name in ('model', 'input_timeout', 'max_depth', 'qos_reliability'):
        assert f'\n  {name} (' in done.stdout
    bad = subprocess.run([sys.executable, '-m', 'adaptive_depth.ros.node', '--bogus'],
                         capture_output=True, text=True, timeout=60, cwd=str(REPO_ROOT))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "adaptive_depth_node: error: unknown argument '--bogus' (the node takes --help, and "
        'ROS arguments after --ros-args)']
