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
Start ``adaptive_depth_node`` as a subprocess, as users do (the one helper for this).

Used by the demo, ``replay_bag --mode live``, the test harness and the soak benchmark. Imports no
rclpy: the node runs in its own process with its own ROS environment (domain id, discovery
range); its stdout and stderr go to a log file.
"""

import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

PathLike = Union[str, Path]
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The directory holding the ``adaptive_depth`` package (put on the child's PYTHONPATH)."""


class NodeExitedError(RuntimeError):
    """The node process exited while it was still needed; the message has its log's tail."""


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str) and value == '':
        return "''"
    return str(value)


def node_command(parameters: Optional[Mapping[str, Any]] = None,
                 params_file: Optional[PathLike] = None,
                 ros_args: Sequence[str] = (), managed: bool = False) -> List[str]:
    """
    Return the node's command line: the console script if installed, else ``python -m``.

    ``managed`` selects ``adaptive_depth_managed_node`` (the lifecycle node). ``params_file`` is
    passed as ``--params-file``; each parameter as ``-p NAME:=VALUE`` (they override the file);
    ``ros_args`` (e.g. ``-r __ns:=/x``) follow.
    """
    name = 'adaptive_depth_managed_node' if managed else 'adaptive_depth_node'
    script = shutil.which(name)
    if script is None:
        candidate = Path(sys.executable).parent / name
        script = str(candidate) if candidate.exists() else None
    cmd = [script] if script else [sys.executable, '-m', 'adaptive_depth.ros.node'] + (
        ['--managed'] if managed else [])
    cmd.append('--ros-args')
    if params_file is not None:
        cmd += ['--params-file', str(params_file)]
    for name, value in (parameters or {}).items():
        cmd += ['-p', f'{name}:={_format_value(value)}']
    cmd += list(ros_args)
    return cmd


def node_env(domain_id: int, discovery_range: Optional[str] = 'LOCALHOST',
             extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """
    Return a copy of this environment for a node on ``domain_id``.

    ``discovery_range`` sets ROS_AUTOMATIC_DISCOVERY_RANGE (None: inherit); the package root
    goes first on PYTHONPATH; output is unbuffered so the log is current.
    """
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(int(domain_id))
    if discovery_range:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = discovery_range.upper()
    env['PYTHONPATH'] = os.pathsep.join(
        [str(PACKAGE_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    env['PYTHONUNBUFFERED'] = '1'
    env['RCUTILS_LOGGING_BUFFERED_STREAM'] = '0'
    env.update(extra or {})
    return env


class NodeProcess:
    """
    ``adaptive_depth_node`` in a child process whose stdout+stderr go to ``log_path``.

    ``managed`` starts the lifecycle variant, ``adaptive_depth_managed_node``. ``command`` runs
    that exact command line instead of :func:`node_command`'s (e.g. the one a launch file
    generates); ``parameters``, ``params_file``, ``ros_args`` and ``managed`` are then unused.

    Only this object's own child is ever signalled. Use :meth:`stop` (or ``with``) to end it.
    """

    def __init__(self, parameters: Optional[Mapping[str, Any]], domain_id: int,
                 log_path: PathLike, params_file: Optional[PathLike] = None,
                 ros_args: Sequence[str] = (), env: Optional[Mapping[str, str]] = None,
                 cwd: Optional[PathLike] = None, managed: bool = False,
                 command: Optional[Sequence[str]] = None) -> None:
        self.log_path = Path(log_path)
        self._log = open(self.log_path, 'wb')
        self.command = (list(command) if command is not None
                        else node_command(parameters, params_file, ros_args, managed))
        self.proc = subprocess.Popen(
            self.command, env=dict(env) if env is not None else node_env(domain_id),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(cwd) if cwd is not None else None)
        self.signalled = False

    @property
    def pid(self) -> int:
        """Return the child's process id."""
        return self.proc.pid

    def poll(self) -> Optional[int]:
        """Return the exit code, or None while the node runs."""
        return self.proc.poll()

    def log(self) -> str:
        """Return everything the node has logged so far."""
        if not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def tail(self, lines: int = 25) -> str:
        """Return the last ``lines`` lines of the log, indented for error messages."""
        return '\n'.join('  | ' + line for line in self.log().splitlines()[-lines:])

    def check(self) -> None:
        """Raise :class:`NodeExitedError` (with the log's tail) if the node has exited."""
        code = self.proc.poll()
        if code is not None:
            raise NodeExitedError(f'adaptive_depth_node exited with code {code}:\n{self.tail()}')

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` once (later calls and :meth:`stop` do not signal again)."""
        if self.proc.poll() is None and not self.signalled:
            self.proc.send_signal(sig)
            self.signalled = True

    def wait(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the node to exit; return its exit code."""
        return self.proc.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send ``sig``, wait (terminate, then kill, after ``timeout``); return the exit code."""
        if self.proc.poll() is None:
            self.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def __enter__(self) -> 'NodeProcess':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
