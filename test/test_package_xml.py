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
package.xml: every dependency resolves with rosdep, every import is declared, metadata is real.

``rosdep install --from-paths src`` fails on the first unknown key, and rosdep is not usable
offline, so the keys are checked against the list below, each verified in ros/rosdistro:
``rosdep/python.yaml`` (the pip keys were added by the merged pull requests cited) or a ROS 2
Jazzy package of ``jazzy/distribution.yaml``.
"""

import ast
from pathlib import Path
import re
import sys

from catkin_pkg.package import parse_package

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_XML = REPO_ROOT / 'package.xml'

ROSDEP_PYTHON_YAML = {
    # apt keys in rosdep/python.yaml (also used by packages released on the build farm, e.g.
    # beluga_ros: h5py, matplotlib, numpy, scipy; vision packages: opencv).
    'python3-numpy': 'numpy', 'python3-scipy': 'scipy', 'python3-opencv': 'cv2',
    'python3-h5py': 'h5py', 'python3-matplotlib': 'matplotlib',
    'python3-tqdm': 'tqdm',  # ros/rosdistro#24725
    'python3-yaml': 'yaml',  # ros/rosdistro#15377
    'python3-pytest': 'pytest',
    # pip keys: python3-<name>-pip
    'python3-pytorch-pip': 'torch',  # ros/rosdistro#35399 (not python3-torch-pip)
    'python3-transformers-pip': 'transformers',  # ros/rosdistro#35657
    'python3-rosbags-pip': 'rosbags',  # ros/rosdistro#37795
}
"""Verified rosdep keys → the Python module they provide."""
ROS_PACKAGES = {'rclpy', 'rcl_interfaces', 'lifecycle_msgs', 'sensor_msgs', 'std_msgs',
                'geometry_msgs', 'diagnostic_msgs', 'ament_index_python', 'launch', 'launch_ros',
                'builtin_interfaces', 'ament_copyright', 'ament_flake8', 'ament_pep257'}
"""ROS 2 Jazzy packages (jazzy/distribution.yaml); rosdep resolves them as ros-jazzy-*."""
INDIRECT_MODULES = {'safetensors': 'python3-transformers-pip',
                    'huggingface_hub': 'python3-transformers-pip'}
"""Modules that arrive with another declared key (transformers requires both)."""
NOT_ROSDEP_KEYS = {'python3-torch-pip', 'python3-safetensors-pip'}
PIP_ONLY_MODULES = {'efficientnet_lite_pytorch': 'efficientnet-lite-pytorch'}
"""Optional modules without any rosdep key: imported lazily (only for the pretrained scale-network
backbone, adaptive_depth.backbones, which names the pip package when it is missing) and pinned in
requirements.txt instead of package.xml."""


def _package():
    return parse_package(str(PACKAGE_XML))


def _all_keys(package) -> set:
    groups = (package.build_depends, package.buildtool_depends, package.build_export_depends,
              package.exec_depends, package.test_depends, package.doc_depends)
    return {dep.name for group in groups for dep in group}


def test_every_dependency_is_a_known_rosdep_key():
    keys = _all_keys(_package())
    unknown = keys - set(ROSDEP_PYTHON_YAML) - ROS_PACKAGES
    assert not unknown, f'not verified as rosdep keys: {sorted(unknown)}'
    assert not keys & NOT_ROSDEP_KEYS


def _third_party_imports() -> dict:
    """Return top-level module → first file importing it, for the package and launch files."""
    files = sorted((REPO_ROOT / 'adaptive_depth').rglob('*.py')) + sorted(
        (REPO_ROOT / 'launch').glob('*.py'))
    found = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if top not in sys.stdlib_module_names and top != 'adaptive_depth':
                    found.setdefault(top, str(path.relative_to(REPO_ROOT)))
    return found


def test_every_imported_module_is_declared():
    package = _package()
    exec_keys = {dep.name for dep in package.exec_depends}
    module_to_key = {module: key for key, module in ROSDEP_PYTHON_YAML.items()}
    module_to_key.update(INDIRECT_MODULES)
    imports = _third_party_imports()
    assert {'torch', 'rclpy', 'cv2', 'launch_ros'} <= set(imports)
    requirements = (REPO_ROOT / 'requirements.txt').read_text()
    for module, where in imports.items():
        if module in PIP_ONLY_MODULES:
            assert f'{PIP_ONLY_MODULES[module]}==' in requirements, module
            continue
        key = module_to_key.get(module, module if module in ROS_PACKAGES else None)
        assert key is not None, f'{module} (imported in {where}) has no known rosdep key'
        assert key in exec_keys, f'{module} (imported in {where}) needs <exec_depend>{key}'


def test_lifecycle_msgs_declared_for_the_managed_node():
    assert 'lifecycle_msgs' in {dep.name for dep in _package().exec_depends}


def _setup_kwargs() -> dict:
    tree = ast.parse((REPO_ROOT / 'setup.py').read_text())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and
                getattr(node.func, 'id', None) == 'setup')
    return {kw.arg: kw.value.value for kw in call.keywords if isinstance(kw.value, ast.Constant)}


def test_metadata_is_real_and_consistent():
    package = _package()
    setup = _setup_kwargs()
    (maintainer,) = package.maintainers
    assert (maintainer.name, maintainer.email) == (setup['maintainer'],
                                                   setup['maintainer_email'])
    urls = {url.type: url.url for url in package.urls}
    assert urls['repository'] == urls['website'] == setup['url']
    assert urls['bugtracker'] == setup['url'] + '/issues'
    for value in list(urls.values()) + [maintainer.email]:
        assert not re.search(r'\.invalid\b|example\.', value), value
    assert package.version == setup['version']
    import adaptive_depth
    assert adaptive_depth.__version__ == package.version   # the installed metadata


def test_changelog_rst_is_bloom_format_and_matches_the_version():
    """Bloom reads CHANGELOG.rst: a title, then 'X.Y.Z (YYYY-MM-DD)' headings over dashes."""
    lines = (REPO_ROOT / 'CHANGELOG.rst').read_text().splitlines()
    assert lines[1] == 'Changelog for package adaptive_depth'
    assert set(lines[0]) == set(lines[2]) == {'^'} and len(lines[0]) == len(lines[1])
    headings = [(line, lines[i + 1]) for i, line in enumerate(lines[:-1])
                if lines[i + 1] and set(lines[i + 1]) == {'-'}]
    assert headings[0][0] == 'Forthcoming'
    versions = [re.fullmatch(r'(\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\)', h).group(1)
                for h, _ in headings[1:]]
    assert versions[0] == _package().version and versions[-1] == '0.1.0'
    numbers = [tuple(int(part) for part in v.split('.')) for v in versions]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
    assert all(len(underline) == len(heading) for heading, underline in headings)


def test_changelog_rst_is_generated_from_changelog_md():
    import docutils.core
    import importlib.util
    spec = importlib.util.spec_from_file_location('changelog_rst',
                                                  REPO_ROOT / 'scripts' / 'changelog_rst.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (REPO_ROOT / 'CHANGELOG.rst').read_text()
    assert text == module.convert((REPO_ROOT / 'CHANGELOG.md').read_text()), \
        'CHANGELOG.rst is out of date: run python3 scripts/changelog_rst.py'
    docutils.core.publish_doctree(text, settings_overrides={'halt_level': 2,
                                                            'report_level': 2})
