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

"""The files the ament linters check: every Python source of the package, never the venv."""

from pathlib import Path
from typing import List

REPO_ROOT = Path(__file__).resolve().parents[1]
LINTED_DIRS = ('adaptive_depth', 'test', 'launch', 'benchmarks')


def python_sources() -> List[str]:
    """Return the package's Python files (absolute paths), sorted."""
    files = [REPO_ROOT / 'setup.py']
    for directory in LINTED_DIRS:
        files.extend(sorted((REPO_ROOT / directory).rglob('*.py')))
    return [str(path) for path in files if '__pycache__' not in path.parts]
