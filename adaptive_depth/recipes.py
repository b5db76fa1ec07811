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
Named training recipes of the scale network (one owner for each recipe's settings).

``paper``
    Algorithm 2 as published: the 4-block CNN at 224×224, Adam 1e-3, StepLR, 50 epochs.
``scratch`` (the default)
    The from-scratch recipe of the synthetic acceptance experiment: a 3-member ensemble of a
    6-block CNN at 96×128, auxiliary coarse-depth loss (weight 3), roll / channel-shuffle
    augmentation, flip test-time averaging. Of the named recipes the best on real recordings
    left out one at a time (4 recordings × 4 seeds: 74.2 % of the gap closed on average,
    worst recording 54.3 %), the least moved by the order or a few more training frames, and
    the cheapest per frame (docs/scale_net.md *Measurements*, *Session 12*).
``pretrained``
    ImageNet-pretrained EfficientNet-Lite0 at 192×256 with its own normalisation, fully
    fine-tuned: AdamW (head 1e-3, body 3e-4, weight decay 1e-4), cosine schedule, 20 epochs,
    flips, output bias started at the mean log s*, flip test-time averaging and a variance head
    (Gaussian NLL) for the per-frame uncertainty.
``pretrained_aux``
    ``pretrained`` plus the auxiliary coarse-depth loss (weight 3) on the body's output
    feature map (a training-only head; docs/scale_net.md), trained for 40 epochs, without the
    variance head: its std is the flip spread (times the held-out ``std_scale``). Every
    measurement of this recipe up to 0.6.0 trained no head (the auxiliary loss replaced its
    likelihood term), and a trained head cost accuracy without ranking errors (docs/scale_net.md
    *Uncertainty ranking*).
``pretrained_depth``
    ``pretrained_aux`` with the depth input (``ScaleNetConfig.depth_input``): the network
    also reads the base model's depth, made scale free. The best recipe on synthetic rooms
    (docs/scale_net.md *Measurements*); it needs ``relative_depth.npy`` in the oracle directory
    and runs after DA2 in the node.
``pretrained_last``
    As ``pretrained`` but only the last third of the blocks (and the head) train.
``pretrained_small``
    As ``pretrained`` at input 128×160 for 8 epochs: less capacity and fewer passes over the
    few training recordings, about 6× cheaper to train than ``pretrained``. The best
    pretrained recipe on held-out real recordings and the default from 0.5.0 to 0.7.x; left
    out one recording at a time it closes 71.1 % against ``scratch``'s 74.2 % and leads only
    on the 7-Scenes kitchen (docs/scale_net.md *Measurements*).

:func:`recipe_config` returns the :class:`adaptive_depth.training.TrainConfig` of a recipe.
"""

from typing import Any, Dict

RECIPES: Dict[str, Dict[str, Any]] = {
    'paper': {'epochs': 50, 'lr': 1e-3, 'step_size': 10, 'input_size': (224, 224)},
    'scratch': {'epochs': 50, 'lr': 1e-3, 'step_size': 10, 'input_size': (96, 128),
                'rotate_deg': 6.0, 'channel_shuffle': True, 'aux_depth_weight': 3.0,
                'net_options': {'channels': (8, 16, 32, 64, 128, 128), 'fc': (64,),
                                'members': 3, 'test_time_flip': True}},
    'pretrained': {'epochs': 20, 'lr': 1e-3, 'backbone_lr': 3e-4, 'weight_decay': 1e-4,
                   'optimizer': 'adamw', 'schedule': 'cosine', 'input_size': (192, 256),
                   'color_jitter': 0.1, 'init_head_bias': True,
                   'net_options': {'backbone': 'efficientnet_lite0', 'fc': (), 'dropout': 0.2,
                                   'test_time_flip': True, 'predict_variance': True}},
}
RECIPES['pretrained_aux'] = {
    **RECIPES['pretrained'], 'aux_depth_weight': 3.0, 'epochs': 40,
    'net_options': {**RECIPES['pretrained']['net_options'], 'predict_variance': False}}
RECIPES['pretrained_depth'] = {
    **RECIPES['pretrained_aux'],
    'net_options': {**RECIPES['pretrained_aux']['net_options'], 'depth_input': True}}
RECIPES['pretrained_last'] = {
    **RECIPES['pretrained'],
    'net_options': {**RECIPES['pretrained']['net_options'], 'finetune': 'last'}}

RECIPES['pretrained_small'] = {**RECIPES['pretrained'], 'input_size': (128, 160), 'epochs': 8}

DEFAULT_RECIPE = 'scratch'
"""The recipe ``train_scale_net --recipe`` uses by default: of the named recipes, the best on
real recordings left out one at a time (docs/scale_net.md *Measurements*)."""

COMPARED_RECIPES = ('scratch', 'pretrained_small')
"""What ``recording_experiment`` trains by default: the from-scratch recipe and the best
pretrained one, side by side on the same frames (issue 13's comparison)."""


def recipe_config(name: str, **overrides: Any):
    """
    Return the TrainConfig of recipe ``name`` with keyword overrides.

    ``net_options`` overrides are merged into the recipe's (not replaced).
    """
    from adaptive_depth.training import TrainConfig

    if name not in RECIPES:
        raise ValueError(f'unknown recipe {name!r}; known: {", ".join(RECIPES)}')
    kwargs = dict(RECIPES[name])
    net = dict(kwargs.pop('net_options', {}))
    net.update(overrides.pop('net_options', None) or {})
    kwargs.update(overrides)
    kwargs['net_options'] = net
    return TrainConfig(**kwargs)
