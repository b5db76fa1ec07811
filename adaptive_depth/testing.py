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
Helpers that build small, offline Depth Anything V2 models for tests, demos and benchmarks.

Nothing here downloads anything: models are built from a ``DepthAnythingConfig`` with random
weights and written with ``save_pretrained`` so they load through the same code path as a real
checkpoint directory.
"""

from pathlib import Path
from typing import Union

import torch

PathLike = Union[str, Path]



def _depth_anything_config(size: str, max_depth: int):
    from transformers import DepthAnythingConfig, Dinov2Config

    if size == 'tiny':
        backbone = Dinov2Config(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
            patch_size=14, image_size=518, out_features=['stage1', 'stage2', 'stage3', 'stage4'],
            reshape_hidden_states=False)
        return DepthAnythingConfig(
            backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
            fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type='metric',
            max_depth=max_depth)
    if size == 'small':
        # The architecture of Depth-Anything-V2-Small (ViT-S/14 backbone, 24.8 M parameters).
        backbone = Dinov2Config(
            hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
            patch_size=14, image_size=518, layerscale_value=1.0,
            out_features=['stage3', 'stage6', 'stage9', 'stage12'], reshape_hidden_states=False)
        return DepthAnythingConfig(
            backbone_config=backbone, reassemble_hidden_size=384,
            neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64, head_hidden_size=32,
            depth_estimation_type='metric', max_depth=max_depth)
    raise ValueError(f"unknown model size {size!r}: expected 'tiny' or 'small'")


def make_untrained_depth_anything(directory: PathLike, size: str = 'tiny', seed: int = 0,
                                  max_depth: int = 20) -> Path:
    """
    Write a randomly initialised metric Depth Anything V2 model to ``directory``.

    ``size='tiny'`` builds a ~0.2 M-parameter model for tests; ``size='small'`` builds the
    DA2-Small architecture (24.8 M parameters) for speed benchmarks and for demos that have no
    access to the real weights. The depth head's last layers are re-drawn with a larger spread
    so that the untrained model's output varies across the image (a freshly initialised head
    predicts an almost constant ``max_depth / 2``). ``max_depth`` (metres) must be an int because
    transformers 5.x stores it as one. Returns the directory.
    """
    from transformers import DepthAnythingForDepthEstimation

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(_depth_anything_config(size, int(max_depth)))
    with torch.no_grad():
        for name, param in model.head.named_parameters():
            if name.endswith('weight'):
                param.normal_(0.0, 3.0)
            elif name.endswith('bias'):
                param.zero_()
    # Marks the weights as untrained so the node and tools can label everything they produce.
    model.config.adaptive_depth_untrained = True
    model.save_pretrained(directory)
    return directory
