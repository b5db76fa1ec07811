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
Project-wide defaults that several layers share (no torch, no rclpy: safe to import anywhere).

Each default is defined here once; ``depth_model``, ``scale_net``, ``ros.params`` and the tools
import it from this module.
"""

DEFAULT_MODEL_ID = 'depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf'
"""Hugging Face hub id of the default base model: DA2 metric indoor (Hypersim), ViT-S."""

EXECUTIONS = ('auto', 'eager', 'cuda_graph', 'compile')
"""How the DA2 forward can run (``adaptive_depth.fast_forward``): 'cuda_graph' on CUDA and
'eager' elsewhere, plain PyTorch, replayed CUDA graphs, or ``torch.compile``."""

DEFAULT_EXECUTION = 'auto'
"""How the DA2 forward runs by default: CUDA-graph replay on CUDA, eager elsewhere."""
