#!/usr/bin/env python3
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
Write CHANGELOG.rst (the format bloom reads) from CHANGELOG.md (Keep a Changelog).

CHANGELOG.md is the one that people edit; run ``python3 scripts/changelog_rst.py`` after each
edit (test/test_package_xml.py fails while the two differ). ``## [Unreleased]`` becomes
``Forthcoming``, ``## [X.Y.Z] - DATE`` becomes ``X.Y.Z (DATE)``; ``### Added`` etc. become bold
lines, Markdown bullets become ``*`` bullets, inline code and links become RST.
"""

from pathlib import Path
import re
import sys

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'adaptive_depth'


def _inline(text: str) -> str:
    text = re.sub(r'\[([^\]]+)\]\(([^)]+)\)', r'`\1 <\2>`_', text)
    return re.sub(r'(?<![`<])`([^`]+)`(?![_`])', r'``\1``', text)


def convert(markdown: str) -> str:
    """Return the bloom CHANGELOG.rst text for a Keep-a-Changelog ``markdown`` text."""
    title = f'Changelog for package {PACKAGE}'
    out = ['^' * len(title), title, '^' * len(title)]
    started = False
    for line in markdown.splitlines():
        version = re.fullmatch(r'## \[(.+?)\](?: - (\S+))?\s*', line)
        if version:
            started = True
            name, date = version.groups()
            heading = 'Forthcoming' if name.lower() == 'unreleased' else f'{name} ({date})'
            out += ['', heading, '-' * len(heading)]
        elif not started:
            continue
        elif line.startswith('### '):
            out += ['', f'**{line[4:].strip()}**', '']
        elif line.startswith('- '):
            out.append('* ' + line[2:])
        else:
            out.append(line)
    text = _inline('\n'.join(out))
    text = re.sub(r'\n{3,}', '\n\n', text)          # one blank line between blocks
    text = re.sub(r'(\*\*\n)\n(\* )', r'\1\n\2', text)
    return text.strip('\n') + '\n'


def main() -> int:
    """Regenerate CHANGELOG.rst; with ``--check`` only report whether it is up to date."""
    expected = convert((ROOT / 'CHANGELOG.md').read_text())
    target = ROOT / 'CHANGELOG.rst'
    if '--check' in sys.argv[1:]:
        current = target.read_text() if target.exists() else ''
        if current != expected:
            print('CHANGELOG.rst is out of date: run python3 scripts/changelog_rst.py',
                  file=sys.stderr)
            return 1
        return 0
    target.write_text(expected)
    return 0


if __name__ == '__main__':
    sys.exit(main())
