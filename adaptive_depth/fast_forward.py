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
Faster execution of a fixed-shape forward: CUDA graph replay and ``torch.compile``.

At batch 1 the DA2-Small forward is bound by kernel launches, not arithmetic: on an H200 the
eager fp16-autocast forward at 518 takes about 9 ms, the same forward replayed from a CUDA graph
about 5.5 ms, and ``torch.compile`` with its CUDA graphs about 1.7 ms
(``benchmarks/bench_forward_modes.py``). A camera's frames all have one size, so a forward can be
captured once per input shape and replayed for every frame.

- :class:`CudaGraphForward` captures a function of one N×3×h×w tensor the first time it sees a
  shape (after warm-up runs on a side stream) and replays the graph afterwards; outputs are
  copied out, so a result stays valid after the next call.
- :func:`compile_model` wraps a module in ``torch.compile`` (``reduce-overhead`` on CUDA, i.e.
  with CUDA graphs; the default mode on the CPU). The first call of each shape compiles (seconds
  to a minute).

``defaults.EXECUTIONS`` names the modes; :func:`resolve_execution` checks one against a device.
"""

from collections import OrderedDict
import threading
from typing import Callable, Tuple
import warnings

from adaptive_depth.defaults import EXECUTIONS
import torch

COMPILE_BACKEND = 'inductor'
"""``torch.compile`` backend (the tests use 'eager' on the CPU, where inductor takes a minute)."""

WARMUP_RUNS = 3
"""Runs on a side stream before a capture (cuBLAS / cuDNN pick and allocate their workspaces)."""

Tensors = Tuple[torch.Tensor, ...]


def resolve_execution(execution: str, device: torch.device) -> str:
    """
    Return the execution mode used for ``execution`` on ``device``.

    'auto' is 'cuda_graph' on CUDA and 'eager' elsewhere. Unknown names raise ValueError.
    'cuda_graph' on a device other than CUDA falls back to 'eager' with a warning (as fp16 does
    on the CPU).
    """
    mode = str(execution).lower()
    if mode not in EXECUTIONS:
        raise ValueError(f'unknown execution {execution!r}: expected one of {EXECUTIONS}')
    if mode == 'auto':
        return 'cuda_graph' if device.type == 'cuda' else 'eager'
    if mode == 'cuda_graph' and device.type != 'cuda':
        warnings.warn(f"execution 'cuda_graph' needs a CUDA device, got {device}; running eager",
                      RuntimeWarning, stacklevel=3)
        return 'eager'
    return mode


def compile_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Return ``model`` under ``torch.compile`` (CUDA graphs on CUDA; static shapes)."""
    mode = 'reduce-overhead' if device.type == 'cuda' else 'default'
    return torch.compile(model, mode=mode, dynamic=False, backend=COMPILE_BACKEND)


class CudaGraphForward:
    """
    Replay CUDA graphs of ``fn`` (one tensor in, a tuple of tensors out), one per input shape.

    ``fn`` must be free of host synchronisation and of data-dependent control flow (the DA2
    forward is). The first call with a new (shape, dtype) runs ``fn`` :data:`WARMUP_RUNS` times
    on a side stream, captures one more run and keeps at most ``max_graphs`` graphs (least
    recently used dropped). Every call copies its input into the graph's static input, replays
    and returns clones of the static outputs, under a lock (the static buffers are shared) and
    ``torch.inference_mode``.
    """

    def __init__(self, fn: Callable[[torch.Tensor], Tensors], max_graphs: int = 4) -> None:
        if max_graphs < 1:
            raise ValueError(f'max_graphs must be >= 1, got {max_graphs}')
        self._fn = fn
        self._max_graphs = int(max_graphs)
        self._graphs: 'OrderedDict[tuple, tuple]' = OrderedDict()
        self._lock = threading.Lock()
        self.captures = 0
        """How many graphs were captured so far (a new input shape costs one capture)."""

    def __len__(self) -> int:
        return len(self._graphs)

    def __call__(self, x: torch.Tensor) -> Tensors:
        """Return ``fn(x)`` computed by replaying the graph of ``x``'s shape."""
        if x.device.type != 'cuda':
            raise ValueError(f'CUDA graphs need a CUDA tensor, got one on {x.device}')
        key = (tuple(x.shape), x.dtype, x.device)
        with self._lock, torch.inference_mode():
            entry = self._graphs.get(key)
            if entry is None:
                entry = self._capture(x)
                self._graphs[key] = entry
                while len(self._graphs) > self._max_graphs:
                    self._graphs.popitem(last=False)
            else:
                self._graphs.move_to_end(key)
            static_in, graph, static_out = entry
            static_in.copy_(x)
            graph.replay()
            return tuple(t.clone() for t in static_out)

    def _capture(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.cuda.CUDAGraph, Tensors]:
        static_in = x.detach().clone().contiguous()
        current = torch.cuda.current_stream(x.device)
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                self._fn(static_in)
        current.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: CUDA work of other threads (the node's scale network, say) during the
        # capture is neither captured nor an error.
        with torch.cuda.graph(graph, capture_error_mode='thread_local'):
            static_out = self._fn(static_in)
        self.captures += 1
        return static_in, graph, tuple(static_out)


def mark_compiled_step(device: torch.device) -> None:
    """Tell ``torch.compile``'s CUDA graphs that a new inference step begins (CUDA only)."""
    if device.type == 'cuda':
        torch.compiler.cudagraph_mark_step_begin()
