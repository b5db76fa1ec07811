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
        model:=~/models/da2-indoor-small device:=cuda log_level:=debug fastdds_profile:=true

``managed:=true`` starts ``adaptive_depth_managed_node`` (the same node as a lifecycle node)
instead; with ``autostart:=true`` (the default) the launch configures it, then activates it once
it is inactive, and with ``autostart:=false`` a lifecycle manager (nav2's) drives it.
``model``, ``scale_checkpoint``, ``device`` and ``execution`` override the parameter file when
non-empty (``execution:=compile`` is the fastest on a GPU; the node checks the value).
``log_level`` applies to this node's loggers only. When the node exits with an error (it could
not load its model, a parameter is invalid, it crashed) the launch shuts down and ``ros2 launch``
exits non-zero.
"""

import os
from typing import List, Optional

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, OpaqueFunction,
                            RegisterEventHandler, SetEnvironmentVariable)
from launch.event_handlers import OnProcessExit
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

PACKAGE = 'adaptive_depth'
NODE_NAME = 'adaptive_depth_node'
MANAGED_EXECUTABLE = 'adaptive_depth_managed_node'
"""The lifecycle variant; its node is also named adaptive_depth_node (same YAML, same topics)."""
TRUE_VALUES = ('true', '1', 'yes', 'on')
LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal']
OVERRIDES = ('model', 'scale_checkpoint', 'device', 'execution')
"""Launch arguments that, when non-empty, override the parameter of the same name."""
FASTDDS_PROFILE_VARIABLES = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')
NODE_EXIT_CODES = {1: 'the model or scale checkpoint failed to load',
                   2: 'invalid parameters or arguments'}

LAUNCH_ARGUMENTS = (
    ('params_file', None, 'Parameter YAML for adaptive_depth_node (keyed /**/adaptive_depth_node, '
                          'so it applies in any namespace).'),
    ('image_topic', 'image', 'Input sensor_msgs/Image topic remapped onto the node\'s "image".'),
    ('camera_info_topic', 'camera_info',
     'Input sensor_msgs/CameraInfo topic remapped onto the node\'s "camera_info".'),
    ('namespace', '', 'Namespace of the node and of its relative output topics.'),
    ('model', '', 'Depth Anything V2 model: hub id or local directory; empty = the value in '
                  'params_file.'),
    ('scale_checkpoint', '', 'Scale-network checkpoint directory; empty = the value in '
                             'params_file.'),
    ('device', '', "Torch device ('auto', 'cpu', 'cuda', 'cuda:N'); empty = the value in "
                   'params_file.'),
    ('execution', '', "How the DA2 forward runs ('auto', 'eager', 'cuda_graph', 'compile'); "
                      'empty = the value in params_file.'),
    ('input_rectified', '', "'true' = the image is rectified (image_rect: intrinsics from "
                            "camera_info p, no distortion), 'false' = the lens's own image "
                            '(k, and the cloud follows d); empty = the value in params_file.'),
    ('use_sim_time', 'false', 'Use /clock (bag replay, simulation).'),
    ('log_level', 'info', 'Logging level of adaptive_depth_node only (ROS internals keep '
                          'theirs).'),
    ('managed', 'false', "'true' = the managed (lifecycle) node adaptive_depth_managed_node, "
                         'for nav2-style lifecycle managers; '
                         "'false' = the plain node, running at once."),
    ('autostart', 'true', "managed only: 'true' = configure, then activate the node at launch; "
                          "'false' = leave it unconfigured for a lifecycle manager."),
    ('fastdds_profile', 'false',
     "Fast DDS transport profile for the node: 'true' = the installed "
     'config/fastdds_large_images.xml (larger shared-memory segments for large images), a path '
     "= that profile XML, 'false' = the middleware default."),
)
BOOLEAN_CHOICES = ['true', 'false', 'True', 'False', '1', '0']
ARGUMENT_CHOICES = {'log_level': LOG_LEVELS, 'managed': BOOLEAN_CHOICES,
                    'autostart': BOOLEAN_CHOICES, 'input_rectified': [''] + BOOLEAN_CHOICES}


class NodeFailedError(RuntimeError):
    """adaptive_depth_node exited with an error; raised so that ``ros2 launch`` exits non-zero."""


def share_file(*parts: str) -> str:
    """Return the path of a file installed in this package's share directory."""
    return os.path.join(get_package_share_directory(PACKAGE), *parts)


def full_namespace(context: LaunchContext, namespace: str) -> str:
    """Return the absolute namespace the node gets (a PushRosNamespace prefix included)."""
    if not namespace.startswith('/'):
        base = context.launch_configurations.get('ros_namespace', '') or ''
        namespace = base.rstrip('/') + '/' + namespace
    return '/' + namespace.strip('/')


def logger_names(namespace: str) -> List[str]:
    """Return the node's logger names: ``ns.adaptive_depth_node`` and the start-up logger."""
    names = [NODE_NAME]
    if namespace.strip('/'):
        names.insert(0, namespace.strip('/').replace('/', '.') + '.' + NODE_NAME)
    return names


def fastdds_profile_path(value: str) -> Optional[str]:
    """Return the Fast DDS profile file selected by ``fastdds_profile`` (None = default)."""
    choice = value.strip()
    if choice.lower() in ('', 'false', '0', 'no', 'off'):
        return None
    if choice.lower() in ('true', '1', 'yes', 'on'):
        return share_file('config', 'fastdds_large_images.xml')
    path = os.path.abspath(os.path.expanduser(choice))
    if not os.path.isfile(path):
        raise RuntimeError(f'fastdds_profile: {choice!r} is neither true/false nor an existing '
                           'Fast DDS profile XML file')
    return path


def on_node_exit(event, context: LaunchContext) -> None:
    """Turn a failed exit of the node into a launch error (``ros2 launch`` then exits 1)."""
    if event.returncode == 0 or context.is_shutdown:
        return None
    reason = NODE_EXIT_CODES.get(event.returncode, 'it crashed or was killed')
    raise NodeFailedError(f'{NODE_NAME} exited with code {event.returncode} ({reason}); see its '
                          'log above')


def launch_setup(context: LaunchContext) -> list:
    """Build the node from the evaluated launch arguments (overrides only when non-empty)."""
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    namespace = value('namespace')
    parameters = [
        LaunchConfiguration('params_file'),
        {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)},
    ]
    overrides = {name: ParameterValue(value(name), value_type=str)
                 for name in OVERRIDES if value(name)}
    if value('input_rectified'):
        overrides['input_rectified'] = value('input_rectified').lower() in TRUE_VALUES
    if overrides:
        parameters.append(overrides)
    ros_arguments = []
    for logger in logger_names(full_namespace(context, namespace)):
        ros_arguments += ['--log-level', f'{logger}:={value("log_level")}']
    image_topic = LaunchConfiguration('image_topic')
    managed = value('managed').lower() in TRUE_VALUES
    node = (LifecycleNode if managed else Node)(
        package=PACKAGE,
        executable=MANAGED_EXECUTABLE if managed else NODE_NAME,
        name=NODE_NAME,
        namespace=namespace,
        output='screen',
        emulate_tty=True,
        parameters=parameters,
        remappings=[
            ('image', image_topic),  # the compressed input follows it (image_transport's rule)
            ('camera_info', LaunchConfiguration('camera_info_topic')),
        ],
        ros_arguments=ros_arguments,
    )
    actions = []
    profile = fastdds_profile_path(value('fastdds_profile'))
    if profile is not None:
        actions += [SetEnvironmentVariable(name, profile) for name in FASTDDS_PROFILE_VARIABLES]
    actions += [node, RegisterEventHandler(OnProcessExit(target_action=node,
                                                         on_exit=on_node_exit))]
    if managed and value('autostart').lower() in TRUE_VALUES:
        actions += autostart_actions(node)
    return actions


def autostart_actions(node: LifecycleNode) -> list:
    """
    Return the actions that configure the managed node, then activate it once it is inactive.

    The activation waits for the configuring → inactive transition only, so a later deactivate
    (by a lifecycle manager or ``ros2 lifecycle set``) is not undone. A configure that fails
    leaves the node unconfigured (launch_ros logs the failed transition).
    """
    def change(transition_id: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition_id))

    return [RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
                entities=[change(Transition.TRANSITION_ACTIVATE)])),
            change(Transition.TRANSITION_CONFIGURE)]


def generate_launch_description() -> LaunchDescription:
    """Return the launch description: declared arguments, then the node (built at launch)."""
    default_params = share_file('config', 'adaptive_depth.yaml')
    arguments = []
    for name, default, description in LAUNCH_ARGUMENTS:
        extra = {'choices': ARGUMENT_CHOICES[name]} if name in ARGUMENT_CHOICES else {}
        arguments.append(DeclareLaunchArgument(
            name, default_value=default_params if default is None else default,
            description=description, **extra))
    return LaunchDescription(arguments + [OpaqueFunction(function=launch_setup)])
