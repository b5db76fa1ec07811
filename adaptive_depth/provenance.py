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
What a training or experiment result needs besides its settings to be repeated bit for bit.

A seeded run on the CPU is reproducible exactly, but only with the same software and the same
number of torch threads: the thread count decides how a convolution's sums are split, so
another count gives other float roundings, and a fine-tuned network drifts from them over the
epochs (docs/scale_net.md *Reproducibility*). :func:`run_environment` records those facts; the
trainer stores them in each checkpoint's ``config.json`` (``metadata.environment``) and the
experiment tools in their ``results.json``.
"""

from importlib import metadata
import platform
from typing import Any, Dict, Optional, Union

from adaptive_depth import __version__
import numpy as np
import torch

RECORDED_PACKAGES = ('efficientnet-lite-pytorch', 'transformers')
"""Installed distributions whose versions are recorded beside torch and numpy (None: absent)."""


def _installed_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_environment(device: Optional[Union[str, torch.device]] = None) -> Dict[str, Any]:
    """
    Return the software, threads and device that a run's floating-point results depend on.

    :param device: the device the run used (e.g. ``'cpu'``, ``torch.device('cuda:0')``),
        recorded as its string; None leaves it out.
    :returns: a JSON-safe dict: ``adaptive_depth`` (its ``__version__``), ``python``,
        ``torch``, ``numpy``, one entry per :data:`RECORDED_PACKAGES` (its version or None),
        ``torch_threads`` (the current ``torch.get_num_threads()``) and, if given, ``device``.
    """
    env: Dict[str, Any] = {'adaptive_depth': __version__, 'python': platform.python_version(),
                           'torch': torch.__version__, 'numpy': np.__version__}
    env.update({name: _installed_version(name) for name in RECORDED_PACKAGES})
    env['torch_threads'] = int(torch.get_num_threads())
    if device is not None:
        env['device'] = str(device)
    return env
