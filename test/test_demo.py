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

"""The README's main command: the demo runs the node in a real ROS 2 graph and writes output."""

import json
import os
from pathlib import Path
import subprocess
import sys

from adaptive_depth.visualize import read_ply
import cv2
from node_harness import pick_domain_id, ros_env
import numpy as np
import pytest

pytestmark = pytest.mark.ros


def test_demo_streams_frames_through_the_node(tmp_path, tiny_da2_dir):
    out = tmp_path / 'demo'
    env = ros_env(pick_domain_id())
    env.pop('ADAPTIVE_DEPTH_SCALE', None)
    command = [sys.executable, '-m', 'adaptive_depth.tools.demo', '--model', str(tiny_da2_dir),
               '--frames', '3', '--rate', '2', '--input-size', '70', '--out', str(out),
               '--domain-id', env['ROS_DOMAIN_ID']]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames_sent'] == 3
    assert 1 <= summary['frames_published'] <= 3
    # Every published depth image came with its point cloud: the demo streams only once the
    # node's publishers have matched the demo's subscriptions (no start-up race).
    assert summary['clouds_published'] == summary['frames_published']
    assert int(summary['last_diagnostics']['subscribers_points']) >= 1
    # The tiny test model is marked untrained, and the demo says so everywhere.
    assert summary['untrained_weights'] is True
    assert 'UNTRAINED' in done.stdout
    assert summary['node_exit_code'] == 0
    assert summary['last_diagnostics']['untrained_weights'] == 'true'
    frame = summary['frames'][0]
    assert frame['scale'] == pytest.approx(1.0)
    assert frame['abs_rel'] is not None and np.isfinite(frame['abs_rel'])
    assert (out / 'overview_untrained.png').stat().st_size > 10_000
    depth_pngs = sorted(out.glob('depth_*_untrained.png'))
    clouds = sorted(out.glob('cloud_*_untrained.ply'))
    assert len(depth_pngs) == len(clouds) == summary['frames_published']
    # Each per-frame picture is a figure (title, colour bar in metres), not the bare 480×640 map.
    picture = cv2.imread(str(depth_pngs[0]))
    assert picture is not None and picture.shape[:2] != (480, 640)
    assert np.count_nonzero(picture[: picture.shape[0] // 12].min(axis=2) < 100) > 50  # title
    points, colours = read_ply(clouds[0])
    assert points.shape[1] == 3 and len(points) == frame['cloud_points'] > 0
    assert colours is not None and colours.dtype == np.uint8


def test_demo_rejects_bad_arguments():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, '-m', 'adaptive_depth.tools.demo', '--input-size', '500'],
        capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert 'multiple of 14' in done.stderr
    assert 'Traceback' not in done.stderr


def test_demo_refuses_a_used_out(tmp_path):
    from adaptive_depth.tools import demo

    (tmp_path / 'old.png').write_bytes(b'x')
    assert demo.main(['--out', str(tmp_path)]) == 2   # before anything starts


@pytest.mark.parametrize('argv, pattern', [
    (['--max-depth=-1'], '--max-depth must be a finite number of metres > 0'),
    (['--max-depth', 'nan'], '--max-depth must be a finite number of metres > 0'),
    (['--domain-id', '999'], '--domain-id must be 0..232'),
    (['--domain-id=-1'], '--domain-id must be 0..232'),
    (['--model', '/nonexistent/da2'], '--model /nonexistent/da2: no such model directory'),
])
def test_demo_refuses_bad_values_before_starting_the_node(
        argv, pattern, tmp_path, capsys, monkeypatch):
    from adaptive_depth.tools import demo

    monkeypatch.delenv('ADAPTIVE_DEPTH_MODEL', raising=False)
    monkeypatch.setattr(demo, '_start_node', lambda *a: pytest.fail('the node was started'))
    assert demo.main(argv + ['--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('adaptive_depth_demo: error: ') and '\n' not in err
    assert pattern in err


FAILING_NODE = """
import sys
print('[INFO] [1.0] [adaptive_depth_demo.adaptive_depth_node]: loading model')
print("[FATAL] [1.0] [adaptive_depth_node]: failed to load the depth pipeline: model "
      "directory '/gone' does not exist")
sys.exit(1)
"""


def test_demo_reports_a_node_that_exits_at_start_up(tmp_path, capsys, monkeypatch):
    from adaptive_depth.ros.node_process import NodeProcess
    from adaptive_depth.tools import demo

    # A stand-in for the node that fails as the real one does with a missing model (the real
    # node needs seconds to import torch before it gets there).
    def failing_node(model, args, domain_id, log_path):
        return NodeProcess(None, domain_id, log_path, env=ros_env(domain_id),
                           command=[sys.executable, '-c', FAILING_NODE])

    monkeypatch.setattr(demo, 'resolve_model', lambda *a: ('/gone', False, 'test'))
    monkeypatch.setattr(demo, '_start_node', failing_node)
    out = tmp_path / 'out'
    argv = ['--out', str(out), '--frames', '1', '--domain-id', str(pick_domain_id()),
            '--startup-timeout', '30']
    assert demo.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and 'Traceback' not in err
    assert err.startswith('adaptive_depth_demo: error: adaptive_depth_node exited with code 1 '
                          'during start-up: failed to load the depth pipeline: model directory '
                          "'/gone' does not exist")
    assert str(out / 'node.log') in err
