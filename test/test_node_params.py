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

"""Node parameters: validation rules, fatal startup errors, runtime rejection, clean shutdown."""

import os
import signal

from adaptive_depth.ros.params import (check_value, load_params_file, NodeParams, PARAM_SPECS,
                                       ParameterError, parse_param_assignment)
from node_harness import NodeProcess, pick_domain_id, RosTester
import pytest

pytestmark = pytest.mark.ros


def test_defaults_are_valid_and_documented():
    params = NodeParams()
    assert params.errors() == []
    assert set(PARAM_SPECS) == set(NodeParams.field_types())


@pytest.mark.parametrize('name,value,fragment', [
    ('input_size', 100, 'multiple of 14'),
    ('input_size', 0, 'multiple of 14'),
    ('input_size', 14.0, 'integer'),
    ('point_decimation', 0, 'in [1, 1000]'),
    ('scale_source', 'magic', 'scale_source'),
    ('scale_smoothing', 1.0, '[0, 1)'),
    ('fixed_scale', -1.0, '> 0'),
    ('max_depth', float('nan'), 'finite'),
    ('qos_reliability', 'sometimes', 'qos_reliability'),
    ('input_qos_reliability', 'reliable-ish', 'input_qos_reliability'),
    ('input_transport', 'theora', 'input_transport'),
    ('image_topic', ' ', 'image_topic'),
    ('device', 'gpu', 'device'),
    ('publish_points', 1, 'bool'),
    ('max_input_pixels', 0, 'max_input_pixels must be >= 1'),
    ('max_input_pixels', 1.5e6, 'integer'),
    ('fx', 1e-300, 'fx must be 0 (unset) or 1e-06..3.403e+38 pixels'),
    ('fy', 1e300, 'fy must be 0 (unset) or 1e-06..3.403e+38 pixels'),
    ('point_decimation', 2 ** 31, 'point_decimation must be in [1, 1000]'),
    ('cy', 1e300, 'cy must be <= 1e+07'),
    ('camera_height', -0.5, 'camera_height must be >= 0'),
    ('camera_pitch', 95.0, 'within [-89, 89]'),
    ('camera_roll', -90.0, 'within [-89, 89]'),
    ('floor_max_tilt', 90.0, 'floor_max_tilt must be in [0, 90)'),
    ('floor_calibration', -1, 'floor_calibration must be >= 0'),
    ('floor_calibration', 2.5, 'integer'),
])
def test_check_value_rejects_with_reason(name, value, fragment):
    reason = check_value(name, value)
    assert reason is not None and fragment in reason and name in reason
    with pytest.raises(ParameterError, match=name):
        NodeParams().with_values({name: value})


def test_cross_parameter_rules():
    with pytest.raises(ParameterError, match='min_depth'):
        NodeParams(min_depth=5.0, max_depth=2.0).validate()
    # one at a time, as SetParameters applies them: fx alone is square pixels (fy 0 = fx)
    assert NodeParams().with_values({'fx': 500}).fallback_intrinsics(64, 48).fy == 500.0
    assert NodeParams().with_values({'fy': 510}).fallback_intrinsics(64, 48) is None
    assert NodeParams().with_values({'fx': 500, 'fy': 510}).fx == 500.0  # int accepted
    source, warning = NodeParams(scale_source='learned').effective_scale_source()
    assert source == 'none' and 'scale_checkpoint' in warning
    assert NodeParams(scale_source='fixed').effective_scale_source() == ('fixed', None)
    with pytest.raises(ParameterError, match='ground_plane.*camera_height'):
        NodeParams(scale_source='ground_plane').validate()
    floor = NodeParams(scale_source='ground_plane', camera_height=0.4, camera_pitch=12.0,
                       floor_max_tilt=0.0, floor_calibration=7).processor_arguments()
    assert (floor['scale_source'], floor['camera_height'], floor['camera_pitch'],
            floor['floor_max_tilt'], floor['floor_calibration']) == ('ground_plane', 0.4, 12.0,
                                                                     0.0, 7)


def test_params_file_and_assignments_without_ros(tmp_path):
    from node_harness import CONFIG_FILE
    assert NodeParams.from_mapping(load_params_file(CONFIG_FILE)) == NodeParams()
    path = tmp_path / 'p.yaml'
    path.write_text('/**:\n  ros__parameters:\n    max_depth: 4\n    model: a\n'
                    'adaptive_depth_node:\n  ros__parameters:\n    model: b\n')
    assert load_params_file(path) == {'max_depth': 4, 'model': 'b'}
    path.write_text('other_node:\n  ros__parameters:\n    model: c\n')
    with pytest.raises(ParameterError, match='has no'):
        load_params_file(path)
    assert parse_param_assignment('scale_smoothing:=0.5') == ('scale_smoothing', 0.5)
    assert parse_param_assignment('colorize_points:=false') == ('colorize_points', False)
    assert parse_param_assignment("scale_checkpoint:=''") == ('scale_checkpoint', '')
    assert parse_param_assignment('model:=/a/b:c') == ('model', '/a/b:c')
    with pytest.raises(ParameterError, match='NAME:=VALUE'):
        parse_param_assignment('max_depth=3')
    p = NodeParams.from_mapping({'max_depth': 4, 'point_decimation': 2})
    assert p.output_settings() == {'min_depth': 0.0, 'max_depth': 4.0, 'scale_smoothing': 0.0,
                                   'point_decimation': 2, 'points_max_range': 0.0,
                                   'colorize_points': True, 'scale_hold_uncertainty': 0.0}
    assert p.fallback_intrinsics(64, 48) is None
    intr = NodeParams.from_mapping({'fx': 50, 'fy': 51}).fallback_intrinsics(64, 48)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (50.0, 51.0, 31.5, 23.5)


@pytest.fixture(scope='module')
def domain_id():
    return pick_domain_id()


@pytest.fixture(scope='module')
def tiny_model(tiny_da2_dir):
    return tiny_da2_dir  # session-wide random-weight DA2 from conftest.py


def test_invalid_startup_parameters_exit_nonzero_with_reason(tmp_path, domain_id):
    cases = {
        'size': ({'input_size': 100}, 'input_size must be a positive multiple of 14'),
        'source': ({'scale_source': 'magic'}, 'scale_source must be one of'),
        'range': ({'min_depth': 3.0, 'max_depth': 2.0}, 'min_depth (3.0 m) must be smaller'),
        'type': ({'point_decimation': 'abc'}, 'point_decimation'),
        'qos': ({'qos_depth': 0}, 'qos_depth must be >= 1'),
        'floor': ({'scale_source': 'ground_plane'}, "'ground_plane' needs camera_height > 0"),
    }
    procs = {key: NodeProcess(params, domain_id, tmp_path / f'{key}.log')
             for key, (params, _) in cases.items()}
    for key, (_, fragment) in cases.items():
        code = procs[key].wait(timeout=60)
        log = procs[key].log()
        procs[key].stop()
        assert code == 2, f'{key}: exit {code}\n{log}'
        assert fragment in log and 'invalid parameters' in log, log


def test_model_that_fails_to_load_exits_nonzero(tmp_path, domain_id, tiny_model):
    broken = tmp_path / 'broken_model'
    broken.mkdir()
    (broken / 'config.json').write_text('{not json')
    cases = {
        'missing': {'model': str(tmp_path / 'does_not_exist'), 'device': 'cpu'},
        'relative': {'model': './no/such/model', 'device': 'cpu'},
        'broken': {'model': str(broken), 'device': 'cpu'},
        'scale': {'model': str(tiny_model), 'device': 'cpu', 'scale_source': 'learned',
                  'scale_checkpoint': str(tmp_path / 'no_scale_net')},
        'floor_scale': {'model': str(tiny_model), 'device': 'cpu', 'scale_source': 'ground_plane',
                        'camera_height': 0.5, 'scale_checkpoint': str(tmp_path / 'no_net')},
    }
    procs = {key: NodeProcess(params, domain_id, tmp_path / f'{key}.log')
             for key, params in cases.items()}
    for key, params in cases.items():
        code = procs[key].wait(timeout=120)
        log = procs[key].log()
        procs[key].stop()
        assert code == 1, f'{key}: exit {code}\n{log}'
        assert 'failed to load the depth pipeline' in log, log
        assert (params.get('scale_checkpoint') or params['model']) in log, log
        if 'scale_checkpoint' in params:  # refused before any model loads
            assert 'does not exist' in log, log


def _set_parameters(tester, values):
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    client = tester.node.create_client(SetParameters, '/adaptive_depth_node/set_parameters')
    assert client.wait_for_service(timeout_sec=30), 'set_parameters service not available'
    request = SetParameters.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    future = client.call_async(request)
    tester.wait_for(future.done, 30, 'set_parameters response')
    tester.node.destroy_client(client)
    return future.result().results


def _get_parameter(tester, name):
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python
    client = tester.node.create_client(GetParameters, '/adaptive_depth_node/get_parameters')
    assert client.wait_for_service(timeout_sec=30)
    future = client.call_async(GetParameters.Request(names=[name]))
    tester.wait_for(future.done, 30, 'get_parameters response')
    tester.node.destroy_client(client)
    return parameter_value_to_python(future.result().values[0])


def test_runtime_parameters_and_clean_shutdown(tmp_path, domain_id, tiny_model):
    params = {'model': str(tiny_model), 'device': 'cpu', 'scale_source': 'none',
              'input_size': 70, 'max_depth': 8}
    # Two nodes start together (one per signal); the second lives in namespace /b.
    nodes = {signal.SIGTERM: NodeProcess(params, domain_id, tmp_path / 'term.log'),
             signal.SIGINT: NodeProcess(params, domain_id, tmp_path / 'int.log',
                                        extra_ros_args=['-r', '__ns:=/b'])}
    tester = RosTester(domain_id)
    try:
        tester.wait_for(lambda: tester.node.count_publishers('/depth') > 0, 90,
                        'the node to come up', nodes[signal.SIGTERM])
        tester.wait_for(lambda: tester.node.count_publishers('/b/depth') > 0, 90,
                        'the node in /b to come up', nodes[signal.SIGINT])
        eight = _get_parameter(tester, 'max_depth')  # the integer startup override, as a double
        assert eight == 8.0 and isinstance(eight, float), repr(eight)
        rejected = _set_parameters(tester, {'point_decimation': 0})
        assert not rejected[0].successful
        assert 'point_decimation must be in [1, 1000]' in rejected[0].reason
        rejected = _set_parameters(tester, {'min_depth': 50.0})
        assert not rejected[0].successful and 'max_depth' in rejected[0].reason
        rejected = _set_parameters(tester, {'scale_smoothing': 'high'})
        assert not rejected[0].successful and 'scale_smoothing' in rejected[0].reason
        read_only = _set_parameters(tester, {'input_size': 140})
        assert not read_only[0].successful and 'read-only' in read_only[0].reason
        accepted = _set_parameters(tester, {'max_depth': 4.5, 'point_decimation': 3,
                                            'scale_smoothing': 0.5})
        assert all(r.successful for r in accepted), [r.reason for r in accepted]
        assert _get_parameter(tester, 'max_depth') == 4.5
        assert all(r.successful for r in _set_parameters(tester, {'max_depth': 5}))
        five = _get_parameter(tester, 'max_depth')  # an integer is kept as the declared double
        assert five == 5.0 and isinstance(five, float), repr(five)
        assert _get_parameter(tester, 'point_decimation') == 3
        assert _get_parameter(tester, 'input_size') == 70
    finally:
        tester.close()
        codes = {sig: node.stop(sig) for sig, node in nodes.items()}
    for sig, node in nodes.items():
        log = node.log()
        assert codes[sig] == 0, f'exit code {codes[sig]} after {sig.name}:\n{log}'
        assert 'shutting down' in log, log
        assert 'Traceback' not in log, log


SLOW_LOAD = """
import time

import adaptive_depth.depth_model as depth_model

_load = depth_model.DepthAnythingRunner.__init__


def _slow_load(self, *args, **kwargs):
    print('SLOW MODEL LOAD', flush=True)
    time.sleep(120)
    _load(self, *args, **kwargs)


depth_model.DepthAnythingRunner.__init__ = _slow_load
"""


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_long_model_load_ends_the_node_at_once(tmp_path, domain_id, tiny_model,
                                                                 sig):
    """ros2 launch escalates to SIGKILL 10 s after Ctrl-C: a long load must not wait it out."""
    import time

    from adaptive_depth.ros.node_process import NodeProcess as PlainNodeProcess
    from node_harness import CONFIG_FILE, REPO_ROOT, ros_env
    hook = tmp_path / 'hook'
    hook.mkdir()
    (hook / 'sitecustomize.py').write_text(SLOW_LOAD)  # a load that takes two minutes
    env = ros_env(domain_id)
    env['PYTHONPATH'] = os.pathsep.join([env['PYTHONPATH'], str(hook)])
    node = PlainNodeProcess({'model': str(tiny_model), 'device': 'cpu'}, domain_id,
                            tmp_path / 'node.log', params_file=CONFIG_FILE, env=env,
                            cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while 'SLOW MODEL LOAD' not in node.log() and time.monotonic() < deadline:
            assert node.poll() is None, node.log()
            time.sleep(0.05)
        assert 'SLOW MODEL LOAD' in node.log(), node.log()
        started = time.monotonic()
        code = node.stop(sig, timeout=30)
        assert code == 0 and time.monotonic() - started < 10, node.log()
        assert 'signal while loading' in node.log() and 'ready' not in node.log()
    finally:
        node.stop()
