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

"""Plots of a replay's per-frame results (PNG)."""

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def plot_timeline(records: Sequence[Any], methods: Sequence[str], path: Path) -> None:
    """Plot scale and AbsRel over time (PNG) for every method of the ``FrameRecord`` list."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    t0 = records[0].stamp_ns
    t = np.asarray([(r.stamp_ns - t0) * 1e-9 for r in records])
    fig, (ax_s, ax_e) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
    for m in methods:
        ax_s.plot(t, [r.scales[m] for r in records], marker='.', label=m)
        ax_e.plot(t, [r.metrics[m]['abs_rel'] for r in records], marker='.', label=m)
    ax_s.set_ylabel('scale s')
    ax_e.set_ylabel('AbsRel')
    ax_e.set_xlabel('time [s]')
    for ax in (ax_s, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
