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

"""ament_python package definition; also installable with plain ``pip install -e .``."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE_NAME = 'adaptive_depth'

TOOLS = {
    'generate_oracle': 'adaptive_depth.tools.generate_oracle:main',
    'train_scale_net': 'adaptive_depth.tools.train_scale_net:main',
    'evaluate': 'adaptive_depth.tools.evaluate:main',
    'replay_bag': 'adaptive_depth.tools.replay_bag:main',
    'convert_da2_pth': 'adaptive_depth.tools.convert_da2_pth:main',
    'synthetic_experiment': 'adaptive_depth.tools.synthetic_experiment:main',
    'recording_experiment': 'adaptive_depth.tools.recording_experiment:main',
}
"""The command-line tools by short name (``ros2 run adaptive_depth <short name>``)."""

# On PATH (pip install) every command carries the package prefix, so that generic names such as
# `evaluate` never shadow other programs. `ros2 run` looks in lib/adaptive_depth/ instead, where
# scripts/ros2_run/<short name> (links to one small wrapper) run the prefixed script next to them.
CONSOLE_SCRIPTS = [
    'adaptive_depth_node = adaptive_depth.ros.node:main',
    'adaptive_depth_managed_node = adaptive_depth.ros.node:managed_main',
    'adaptive_depth_demo = adaptive_depth.tools.demo:main',
] + [f'{PACKAGE_NAME}_{name} = {target}' for name, target in TOOLS.items()]

setup(
    name=PACKAGE_NAME,
    version='0.13.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE_NAME}']),
        (f'share/{PACKAGE_NAME}', ['package.xml']),
        (os.path.join('share', PACKAGE_NAME, 'launch'), glob('launch/*.launch.py')),
        (os.path.join('share', PACKAGE_NAME, 'config'),
         glob('config/*.yaml') + glob('config/*.xml')),
        (os.path.join('share', PACKAGE_NAME, 'docs'), glob('docs/*.md')),
        (os.path.join('share', PACKAGE_NAME), ['README.md', 'CHANGELOG.rst']),
        (os.path.join('lib', PACKAGE_NAME), [f'scripts/ros2_run/{name}' for name in TOOLS]),
    ],
    # Runtime dependencies are pinned in requirements-lock.txt (pip) and declared in package.xml
    # (rosdep); they are not repeated here so a colcon build never pulls packages on its own.
    install_requires=['setuptools'],
    # `colcon test` runs pytest (not unittest) when pytest is a declared test requirement
    # (extras 'test'; setuptools >= 72 no longer knows tests_require).
    extras_require={'test': ['pytest']},
    zip_safe=True,
    maintainer='adaptive_depth maintainers',
    maintainer_email='maintainers@adaptive-depth.org',
    url='https://github.com/adaptive-depth/adaptive_depth',
    description='Metric depth from one RGB camera: Depth Anything V2 with a learned scale.',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={'console_scripts': CONSOLE_SCRIPTS},
)
