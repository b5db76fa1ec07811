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
Launch ``adaptive_depth_node`` with its parameter file and remapped camera topics.

Example::

    ros2 launch adaptive_depth depth.launch.py namespace:=front
        image_topic:=/camera/color/image_raw camera_info_topic:=/camera/color/camera_info
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = 'adaptive_depth'

LAUNCH_ARGUMENTS = (
    ('params_file', None, 'Parameter YAML for adaptive_depth_node (keyed by node name).'),
    ('image_topic', 'image', 'Input sensor_msgs/Image topic remapped onto the node\'s "image".'),
    ('camera_info_topic', 'camera_info',
     'Input sensor_msgs/CameraInfo topic remapped onto the node\'s "camera_info".'),
    ('namespace', '', 'Namespace of the node and of its relative output topics.'),
    ('use_sim_time', 'false', 'Use /clock (bag replay, simulation).'),
    ('log_level', 'info', 'Logging level: debug, info, warn, error or fatal.'),
)


def generate_launch_description() -> LaunchDescription:
    """Return the launch description: declared arguments and the depth node."""
    default_params = os.path.join(get_package_share_directory(PACKAGE), 'config',
                                  'adaptive_depth.yaml')
    arguments = [
        DeclareLaunchArgument(name, default_value=default_params if default is None else default,
                              description=description)
        for name, default, description in LAUNCH_ARGUMENTS
    ]
    image_topic = LaunchConfiguration('image_topic')
    node = Node(
        package=PACKAGE,
        executable='adaptive_depth_node',
        name='adaptive_depth_node',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        emulate_tty=True,
        parameters=[
            LaunchConfiguration('params_file'),
            {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)},
        ],
        remappings=[
            ('image', image_topic),
            ('image/compressed', [image_topic, '/compressed']),
            ('camera_info', LaunchConfiguration('camera_info_topic')),
        ],
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
    )
    return LaunchDescription(arguments + [node])
