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
The DA2 forward's execution modes on the CPU (the CUDA-graph replay itself: test_cuda.py).

``torch.compile`` runs here with its 'eager' backend (Dynamo traces the model, no code is
generated): inductor needs about a minute for the tiny model on two cores.
"""

from adaptive_depth import fast_forward
from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.fast_forward import CudaGraphForward, EXECUTIONS, resolve_execution
from adaptive_depth.frame_processor import FrameProcessor
from adaptive_depth.ros.params import NodeParams, ParameterError
import numpy as np
import pytest
import torch


def _rgb(seed: int = 0, h: int = 60, w: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_resolve_execution_checks_names_and_falls_back_without_cuda():
    cpu = torch.device('cpu')
    assert resolve_execution('eager', cpu) == 'eager'
    assert resolve_execution('auto', cpu) == 'eager'
    assert resolve_execution('auto', torch.device('cuda')) == 'cuda_graph'
    assert resolve_execution('COMPILE', cpu) == 'compile'
    with pytest.warns(RuntimeWarning, match="'cuda_graph' needs a CUDA device"):
        assert resolve_execution('cuda_graph', cpu) == 'eager'
    with pytest.raises(ValueError, match="unknown execution 'fast'.*eager"):
        resolve_execution('fast', cpu)


def test_cuda_graph_forward_refuses_cpu_tensors_and_bad_sizes():
    with pytest.raises(ValueError, match='max_graphs must be >= 1'):
        CudaGraphForward(lambda x: (x,), max_graphs=0)
    graphed = CudaGraphForward(lambda x: (x * 2,))
    with pytest.raises(ValueError, match='CUDA graphs need a CUDA tensor'):
        graphed(torch.zeros(1, 3, 14, 14))
    assert len(graphed) == 0 and graphed.captures == 0


def test_runner_rejects_unknown_execution(tiny_da2_dir):
    with pytest.raises(ValueError, match='unknown execution'):
        DepthAnythingRunner(str(tiny_da2_dir), device='cpu', execution='turbo')


def test_cuda_graph_on_cpu_runs_eager_with_the_same_depth(tiny_da2_dir):
    eager = DepthAnythingRunner(str(tiny_da2_dir), device='cpu')
    with pytest.warns(RuntimeWarning, match='running eager'):
        fallback = DepthAnythingRunner(str(tiny_da2_dir), device='cpu', execution='cuda_graph')
    assert fallback.execution == 'eager' and 'execution=eager' in repr(fallback)
    np.testing.assert_array_equal(fallback.predict(_rgb()), eager.predict(_rgb()))


def test_compiled_runner_traces_the_model_and_matches_eager(tiny_da2_dir, monkeypatch):
    monkeypatch.setattr(fast_forward, 'COMPILE_BACKEND', 'eager')
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    eager = DepthAnythingRunner(str(tiny_da2_dir), device='cpu')
    compiled = DepthAnythingRunner(str(tiny_da2_dir), device='cpu', execution='compile')
    assert compiled.execution == 'compile' and compiled._net is not compiled.model
    rgb = _rgb(1)
    ref = eager.predict(rgb)
    out = compiled.predict(rgb)
    assert counters['stats']['unique_graphs'] >= 1, 'the depth forward was not compiled'
    assert out.shape == ref.shape == rgb.shape[:2] and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # The features forward runs the eager model (hooks would not reach a compiled one).
    with torch.inference_mode():
        x = eager.preprocess(eager.upload(rgb))
        d_ref, f_ref = eager.forward_with_features(x)
        d_out, f_out = compiled.forward_with_features(x)
    torch.testing.assert_close(f_out, f_ref)
    torch.testing.assert_close(d_out, d_ref)
    torch._dynamo.reset()


def test_frame_processor_and_node_params_pass_execution_through(tiny_da2_dir):
    with pytest.warns(RuntimeWarning, match='running eager'):
        pipe = FrameProcessor.from_paths(str(tiny_da2_dir), scale_source='none', device='cpu',
                                         execution='cuda_graph')
    assert pipe.depth_model.execution == 'eager'
    params = NodeParams.from_mapping({'execution': 'compile'})
    assert params.processor_arguments()['execution'] == 'compile'
    assert NodeParams().execution == 'auto' and set(EXECUTIONS) >= {'eager', 'compile'}
    assert DepthAnythingRunner(str(tiny_da2_dir), device='cpu').execution == 'eager'  # auto
    with pytest.raises(ParameterError, match='execution must be one of'):
        NodeParams.from_mapping({'execution': 'graph'})
