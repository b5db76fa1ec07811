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
from typing import Any, Optional, Sequence

import numpy as np


def plot_timeline(records: Sequence[Any], methods: Sequence[str], path: Path,
                  label: Optional[str] = None) -> None:
    """
    Plot scale, AbsRel and coverage over time (PNG) for every method of the ``FrameRecord`` list.

    ``label`` (e.g. 'UNTRAINED DA2 weights') goes into the title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    t0 = records[0].stamp_ns
    t = np.asarray([(r.stamp_ns - t0) * 1e-9 for r in records])
    fig, (ax_s, ax_e, ax_c) = plt.subplots(3, 1, sharex=True, figsize=(8, 7),
                                           gridspec_kw={'height_ratios': [2, 2, 1]})
    for m in methods:
        ax_s.plot(t, [r.scales[m] for r in records], marker='.', label=m)
        ax_e.plot(t, [r.metrics[m]['abs_rel'] for r in records], marker='.', label=m)
    ax_c.plot(t, [100.0 * r.coverage for r in records], marker='.', color='k',
              label='published / ground-truth pixels')
    ax_s.set_ylabel('scale s')
    ax_e.set_ylabel('AbsRel (clipped, all GT pixels)')
    ax_c.set_ylabel('coverage [%]')
    ax_c.set_ylim(0, 105)
    ax_c.set_xlabel('time [s]')
    title = 'replay: scale, error and coverage per frame'
    if label:
        title += f' — {label}'
    fig.suptitle(title, fontsize=10, color='tab:red' if label else 'black')
    for ax in (ax_s, ax_e, ax_c):
        ax.grid(alpha=0.3)
        ax.legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
