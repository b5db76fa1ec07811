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

"""``scripts/setup.sh`` stops early, naming the cause, before it builds anything."""

import os
from pathlib import Path
import subprocess

REPO_ROOT = Path(__file__).resolve().parents[1]
SETUP = REPO_ROOT / 'scripts' / 'setup.sh'


def _run_setup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    venv = tmp_path / 'envs' / 'venv'
    full_env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(tmp_path),
                'ADAPTIVE_DEPTH_VENV': str(venv), **env}
    return subprocess.run(['bash', str(SETUP)], capture_output=True, text=True, timeout=60,
                          env=full_env)


def test_a_full_disk_stops_setup_before_the_venv_is_made(tmp_path):
    done = _run_setup(tmp_path, ADAPTIVE_DEPTH_SETUP_MIN_FREE_MB=str(2 ** 40))
    assert done.returncode == 1, done
    assert 'MiB free on the disk of' in done.stderr and str(tmp_path / 'envs') in done.stderr
    assert 'ADAPTIVE_DEPTH_VENV' in done.stderr
    assert not (tmp_path / 'envs' / 'venv').exists()


def test_a_missing_python_is_named(tmp_path):
    done = _run_setup(tmp_path, PYTHON='python-that-does-not-exist')
    assert done.returncode == 1, done
    assert 'python-that-does-not-exist not found' in done.stderr
    assert not (tmp_path / 'envs').exists()
