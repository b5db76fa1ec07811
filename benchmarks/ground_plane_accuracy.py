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
How well the floor gives the scale (scale_source 'ground_plane'), with the SIMULATED base model.

For each frame: the simulated DA2 prediction, the oracle s* (W1), and the floor fitted to the
prediction with the camera's height known. Two ways to know the mount:

* ``known``: the floor normal is given exactly (``max_tilt_deg`` 0), as for a rigid mount;
* ``estimate``: the normal is searched within 30° of the given one.

Synthetic rooms carry their camera height and pose (``meta``). The real recordings are handheld, so
their "mount" is measured: the floor fitted to the ground-truth depth gives each frame's height and
normal (searched within 60° of level: a stand-in for a robot's known mount; frames where it finds
no floor are left out). Reported per dataset: the share of frames with a floor, the gap closed on
those frames (AbsRel between no scaling and the oracle, as everywhere in docs/scale_net.md), the
median and p90 |log s − log s*|. A scatter plot of log s against log s* goes to ``--plot``.

**A robot** (second table): one rigid mount (``--robot-mount`` height m, pitch ° down, roll °)
carried through ``--robot-rooms`` synthetic rooms, frame after frame, through the scale source the
node runs (``GroundPlaneScale``: a floorless frame keeps the last floor's scale). The user gave
only the height (pitch and roll configured 0, searched within 30°): ``searched`` every frame
(``floor_calibration`` 0), ``calibrated`` (the default: the mount learned from the first 50
floors), against ``known`` (pitch and roll exact, ``floor_max_tilt`` 0). Gap closed on the frames
with a floor, on all frames (held scales included), and over the frames after calibration.

    python benchmarks/ground_plane_accuracy.py [--rooms 100] [--robot-rooms 150] \
        [--plot ground_plane.png]
"""

import argparse
import math
import sys
from typing import Dict, List, Optional, Sequence

from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.datasets import open_dataset
from adaptive_depth.evaluation import eval_mask
from adaptive_depth.ground_plane import DEFAULT_CALIBRATION_FLOORS, fit_floor, pitch_roll
from adaptive_depth.oracle import optimal_scale
from adaptive_depth.scale_source import GroundPlaneScale
from adaptive_depth.synthetic import render_scene
import numpy as np
import torch
from tqdm import tqdm

SHARED = '../shared/data'
RECORDINGS = {
    'SUN3D office': 'sevenscenes:{}/real_rgbd/sun3d_office',
    'NYU (10 rooms)': 'nyu-folder:{}/nyu_test_sample',
    '7-Scenes kitchen': 'sevenscenes:{}/real_rgbd/sevenscenes_redkitchen',
    'TUM cabinet': 'tum:{}/real_rgbd/tum_fr3_cabinet',
}
MODES = {'known': 0.0, 'estimate': 30.0}
MOUNT_SEARCH_DEG = 60.0
"""How far from level the floor of a handheld recording's ground truth is searched."""


def _frame(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, sample, height: float,
           down: np.ndarray) -> Dict[str, Optional[float]]:
    ok = mask & np.isfinite(gt) & (gt > 0) & np.isfinite(pred) & (pred > 0)
    p, g = pred[ok].astype(np.float64), gt[ok].astype(np.float64)
    s_star = optimal_scale(p, g)
    row = {'none': float(np.mean(np.abs(p - g) / g)),
           'oracle': float(np.mean(np.abs(s_star * p - g) / g)), 'log_s_star': math.log(s_star)}
    for mode, tilt in MODES.items():
        plane = fit_floor(pred, sample.intrinsics, down=down, max_tilt_deg=tilt)
        s = None if plane is None else height / plane.height
        row[mode] = None if s is None else float(np.mean(np.abs(s * p - g) / g))
        row[f'log_s_{mode}'] = None if s is None else math.log(s)
    return row


def synthetic_rows(rooms: int, model: SimulatedBaseModel) -> List[Dict]:
    """Return one row per synthetic test room (seeds 100000 + i, 320×240)."""
    rows = []
    for seed in tqdm(range(100000, 100000 + rooms), desc='synthetic rooms'):
        sample = render_scene(seed, 320, 240)
        down = np.asarray(sample.meta['T_world_camera'])[:3, :3].T @ [0.0, 0.0, -1.0]
        gt = np.asarray(sample.depth, dtype=np.float32)
        rows.append(_frame(model.predict(sample), gt, np.ones(gt.shape, bool), sample,
                           float(sample.meta['camera_height_m']), down))
    return rows


def recording_rows(spec: str, model: SimulatedBaseModel, step: int) -> List[Dict]:
    """Return a row per frame (every ``step``-th of long ones) whose ground truth shows a floor."""
    dataset = open_dataset(spec)
    rows = []
    step = step if len(dataset) > 200 else 1
    for index in tqdm(range(0, len(dataset), step), desc=spec.split('/')[-1]):
        sample = dataset[index]
        gt = np.where(sample.valid_mask(), sample.depth, np.nan).astype(np.float32)
        mount = fit_floor(gt, sample.intrinsics, max_tilt_deg=MOUNT_SEARCH_DEG)
        if mount is None:
            continue
        rows.append(_frame(model.predict(sample), gt, eval_mask(sample, gt, crop='auto'),
                           sample, mount.height, mount.normal))
    return rows


def robot_rows(rooms: int, model: SimulatedBaseModel, mount: Sequence[float]
               ) -> Dict[str, Dict]:
    """Return, per way of knowing the mount, its per-frame rows and the learned mount."""
    height, pitch, roll = mount
    frames = []
    for seed in tqdm(range(100000, 100000 + rooms), desc='robot rooms'):
        sample = render_scene(seed, 320, 240, mount=(height, -pitch, roll))
        pred = model.predict(sample)
        gt = np.asarray(sample.depth, dtype=np.float64)
        s_star = optimal_scale(pred.ravel().astype(np.float64), gt.ravel())
        frames.append((sample, pred, gt, s_star))
    ways = {'searched': GroundPlaneScale(height, calibration_floors=0),
            'calibrated': GroundPlaneScale(height),
            'known': GroundPlaneScale(height, pitch, roll, max_tilt_deg=0.0)}
    out = {}
    for way, source in ways.items():
        rows = []
        for sample, pred, gt, s_star in frames:
            estimate = source.estimate(None, torch.from_numpy(pred)[None],
                                       (sample.intrinsics, None))
            s = math.exp(estimate.log_scale)
            rows.append({'floor': estimate.measured, 'calibrated': source.mount is not None,
                         'none': float(np.mean(np.abs(pred - gt) / gt)),
                         'oracle': float(np.mean(np.abs(s_star * pred - gt) / gt)),
                         'got': float(np.mean(np.abs(s * pred - gt) / gt)),
                         'error': abs(math.log(s / s_star))})
        out[way] = {'rows': rows, 'mount': None if source.mount is None
                    else pitch_roll(source.mount)}
    return out


def _gap(rows: Sequence[Dict]) -> float:
    none, oracle, got = (sum(r[k] for r in rows) for k in ('none', 'oracle', 'got'))
    return 100.0 * (none - got) / (none - oracle) if rows else math.nan


def print_robot(results: Dict[str, Dict], mount: Sequence[float]) -> None:
    """Print the robot table (markdown)."""
    print(f'\nA robot: camera {mount[0]:g} m high, {mount[1]:g}° down, roll {mount[2]:g}°; '
          f'{len(results["known"]["rows"])} rooms in a row (SIMULATED base model)\n')
    print('| mount | floor found | gap closed: frames with a floor / all frames | after the '
          f'first {DEFAULT_CALIBRATION_FLOORS} floors: gap / median / p90 abs. error of log s '
          '| learned pitch, roll |')
    print('|---|---|---|---|---|')
    for way, result in results.items():
        rows = result['rows']
        floors = [r for r in rows if r['floor']]
        later = floors[DEFAULT_CALIBRATION_FLOORS:]
        err = np.array([r['error'] for r in later]) if later else np.array([math.nan])
        learned = '–' if result['mount'] is None else '{:.2f}°, {:.2f}°'.format(*result['mount'])
        print(f'| {way} | {100 * len(floors) / len(rows):.0f} % | {_gap(floors):.1f} / '
              f'{_gap(rows):.1f} % | {_gap(later):.1f} % / {np.median(err):.3f} / '
              f'{np.percentile(err, 90):.3f} | {learned} |')


def summarise(rows: Sequence[Dict], mode: str) -> Dict[str, float]:
    """Return coverage, gap closed on the frames with a floor, median / p90 |Δ log s|."""
    found = [r for r in rows if r[mode] is not None]
    if not found:
        return {'frames': len(rows), 'found': 0.0}
    none, oracle, got = (sum(r[k] for r in found) for k in ('none', 'oracle', mode))
    err = np.abs([r[f'log_s_{mode}'] - r['log_s_star'] for r in found])
    return {'frames': len(rows), 'found': len(found) / len(rows),
            'gap': 100.0 * (none - got) / (none - oracle),
            'median': float(np.median(err)), 'p90': float(np.percentile(err, 90))}


def plot(results: Dict[str, List[Dict]], path: str) -> None:
    """Write the log s (known mount) against log s* scatter, one panel per dataset."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4))
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items()):
        for mode, colour in (('estimate', 'tab:orange'), ('known', 'tab:blue')):
            pts = [(r['log_s_star'], r[f'log_s_{mode}']) for r in rows
                   if r[f'log_s_{mode}'] is not None]
            if pts:
                x, y = zip(*pts)
                ax.scatter(x, y, s=8, alpha=0.6, color=colour, label=f'{mode} mount')
        lo = min(r['log_s_star'] for r in rows) - 0.3
        hi = max(r['log_s_star'] for r in rows) + 0.3
        ax.plot([lo, hi], [lo, hi], 'k--', lw=0.8)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), title=name, xlabel='oracle log s*',
               ylabel='ground-plane log s')
        ax.legend(fontsize=7)
    fig.suptitle('scale from the floor, camera height known (SIMULATED base model)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rooms', type=int, default=100, help='synthetic test rooms')
    parser.add_argument('--step', type=int, default=2,
                        help='every N-th frame of recordings longer than 200 frames')
    parser.add_argument('--shared', default=SHARED, help='the shared data folder')
    parser.add_argument('--plot', default=None, help='write the scatter plot (PNG) here')
    parser.add_argument('--robot-rooms', type=int, default=150,
                        help='rooms the robot drives through (0: no robot table)')
    parser.add_argument('--robot-mount', default='0.8,10,2',
                        help='the robot camera: height m, pitch degrees down, roll degrees')
    args = parser.parse_args(argv)
    try:
        robot_mount = tuple(float(v) for v in args.robot_mount.split(','))
        if len(robot_mount) != 3:
            raise ValueError
    except ValueError:
        parser.error(f'--robot-mount must be three numbers (height,pitch,roll), got '
                     f'{args.robot_mount!r}')
    model = SimulatedBaseModel()
    results = {'synthetic rooms': synthetic_rows(args.rooms, model)}
    for name, spec in RECORDINGS.items():
        results[name] = recording_rows(spec.format(args.shared), model, args.step)
    print('| data (SIMULATED base model) | frames | mount | floor found | gap closed on those '
          '| median / p90 abs. error of log s |')
    print('|---|---|---|---|---|---|')
    for name, rows in results.items():
        for mode in MODES:
            s = summarise(rows, mode)
            if not s['found']:
                print(f'| {name} | {s["frames"]} | {mode} | 0 % | – | – |')
                continue
            print(f'| {name} | {s["frames"]} | {mode} | {100 * s["found"]:.0f} % | '
                  f'{s["gap"]:.1f} % | {s["median"]:.3f} / {s["p90"]:.3f} |')
    if args.robot_rooms > 0:
        print_robot(robot_rows(args.robot_rooms, model, robot_mount), robot_mount)
    if args.plot:
        plot(results, args.plot)
        print(f'wrote {args.plot}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
