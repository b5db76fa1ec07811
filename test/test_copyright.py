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
Copyright and licence headers.

ament_copyright is not distributed as a wheel, so on machines without a ROS install this test
applies the same rule itself: every source file starts with a copyright notice followed by the
Apache-2.0 licence boilerplate. Where ament_copyright is importable (a sourced ROS 2 install) the
test runs it as well.
"""

import importlib.util
from pathlib import Path
import re

from lint_paths import python_sources, REPO_ROOT
import pytest

HEADER_FILE = REPO_ROOT / 'scripts' / 'license_header.txt'
COPYRIGHT_LINE = re.compile(r'^# Copyright (\d{4})(-\d{4})? The adaptive_depth Authors$')


def _header_lines() -> list:
    return HEADER_FILE.read_text().splitlines()


def _check(path: str) -> str:
    """Return an error message for path, or '' when its header is right."""
    lines = Path(path).read_text().splitlines()
    if lines and lines[0].startswith('#!'):
        lines = lines[1:]
    expected = _header_lines()
    if not lines or not COPYRIGHT_LINE.match(lines[0]):
        return f'{path}: first line is not "# Copyright <year> The adaptive_depth Authors"'
    if lines[1:len(expected)] != expected[1:]:
        return f'{path}: the Apache-2.0 licence boilerplate does not follow the copyright line'
    return ''


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright_headers():
    sources = python_sources()
    assert len(sources) > 5
    errors = [message for message in map(_check, sources) if message]
    assert not errors, '\n'.join(errors)


@pytest.mark.copyright
@pytest.mark.linter
def test_header_check_rejects_a_missing_licence(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('# Copyright 2026 The adaptive_depth Authors\n\nimport os\n')
    assert 'licence' in _check(str(bad))
    good = tmp_path / 'good.py'
    good.write_text(HEADER_FILE.read_text() + '\nimport os\n')
    assert _check(str(good)) == ''


@pytest.mark.copyright
@pytest.mark.linter
def test_ament_copyright_when_installed():
    if importlib.util.find_spec('ament_copyright') is None:
        # The rule above is the check on wheel-only machines; nothing more to run here.
        return
    from ament_copyright.main import main
    assert main(argv=['--exclude', str(REPO_ROOT / '.venv')] + python_sources()) == 0
