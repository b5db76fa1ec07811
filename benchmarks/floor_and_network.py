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
The floor and a scale network together (``ground_plane`` with ``scale_checkpoint``), SIMULATED.

Input: a ``recording_experiment`` result (``OUT/results.json``: the test frames' names and each
trained network's log s per frame) and the test dataset spec it was run with. The test frames
go in recording order through the scale sources the node offers, as ``GroundPlaneScale`` runs
them (a network that replays its recorded log s):

* ``network``: the scale network alone (``scale_source: learned``);
* ``floor, held``: the floor; a frame without one keeps the last floor's scale
  (``ground_plane``; the training-mean scale before the first floor, a calibrated
  ``fixed_scale``);
* ``floor, network``: the floor; a frame without one takes the network's log s plus the mean
  offset floor − network of the floors so far (``ground_plane`` with ``scale_checkpoint``);

beside the training-mean constant (no image). The recordings are handheld, so each frame's
"mount" (height, floor normal) is measured on its ground truth, as in
``ground_plane_accuracy.py``: ``known`` fits the floor along that normal, ``estimate`` searches
within 30° of it. Reported: the gap closed (AbsRel, no scaling → oracle) on all frames and on the
frames where the floor is not found in the prediction, per network.

    adaptive_depth_recording_experiment --out runs/kitchen --train-data … --test-data SPEC
    python benchmarks/floor_and_network.py runs/kitchen/results.json SPEC
"""

import argparse
import json
import math
from pathlib import Path
import sys
from typing import Dict, List, Optional, Sequence

from adaptive_depth.base_models import SimulatedBaseModel
from adaptive_depth.datasets import open_dataset
from adaptive_depth.evaluation import eval_mask, gap_closure
from adaptive_depth.ground_plane import fit_floor
from adaptive_depth.recording_experiment import ratio_abs_rel, summarise_frame
from adaptive_depth.sample import recording_of
from adaptive_depth.scale_net import ScaleNetConfig
from adaptive_depth.scale_source import GroundPlaneScale, ScaleEstimate
import numpy as np
import torch
from tqdm import tqdm

MODES = {'known': 0.0, 'estimate': 30.0}
MOUNT_SEARCH_DEG = 60.0
"""How far from level the floor of a handheld recording's ground truth is searched."""


class RecordedNetwork:
    """A scale network that replays recorded log s values, one per frame, in order."""

    name = 'learned'

    def __init__(self, log_scales: Sequence[float], bounds: Sequence[float]) -> None:
        self.values = list(log_scales)
        self.bounds = tuple(float(b) for b in bounds)

    def estimate(self, rgb: object, raw_depth: object = None) -> ScaleEstimate:
        """Return the next recorded log s."""
        return ScaleEstimate(self.values.pop(0))


def prepare(spec: str, names: List[str]) -> Dict[str, list]:
    """Return per test frame: ratio shares, log s*, frame, recording, depth, intrinsics, mount."""
    dataset = open_dataset(spec)
    index = {dataset.sample_name(i): i for i in range(len(dataset))}
    missing = [n for n in names if n not in index]
    if missing:
        raise SystemExit(f'{spec} has no frame {missing[0]!r} of the results: give the test '
                         'spec the experiment ran with')
    model = SimulatedBaseModel()
    out: Dict[str, list] = {k: [] for k in ('q', 'log_s_star', 'frame', 'pred', 'intr',
                                            'mount')}
    out['recording'] = [recording_of(n) for n in names]
    for name in tqdm(names, desc='frames'):
        sample = dataset[index[name]]
        gt = np.asarray(sample.depth, dtype=np.float32)
        pred = np.asarray(model.predict(sample), dtype=np.float32)
        log_s, q, _ = summarise_frame(pred, gt, eval_mask(sample, gt, crop='auto'))
        truth = np.where(sample.valid_mask(), gt, np.nan).astype(np.float32)
        out['q'].append(q)
        out['log_s_star'].append(log_s)
        out['frame'].append(int((sample.meta or {}).get('frame', -1)))
        out['pred'].append(torch.from_numpy(pred)[None])
        out['intr'].append(sample.intrinsics)
        out['mount'].append(fit_floor(truth, sample.intrinsics, max_tilt_deg=MOUNT_SEARCH_DEG))
    return out


def recording_order(names: Sequence[str], frames: Sequence[int]) -> np.ndarray:
    """Return the row order: recording by recording (as first listed), frames in order."""
    recordings = [recording_of(n) for n in names]
    first = {r: i for i, r in reversed(list(enumerate(recordings)))}
    return np.lexsort((np.asarray(frames), [first[r] for r in recordings]))


def run_sources(frames: Dict[str, list], order: np.ndarray, network: Sequence[float],
                bounds: Sequence[float], constant: float, tilt: float) -> Dict[str, np.ndarray]:
    """
    Return log s per frame of each way, and where the floor was found (N bools).

    The sources start afresh at each recording, as a node started for each would.
    """
    n = len(order)
    ways = {'floor, held': GroundPlaneScale(1.0, max_tilt_deg=tilt, calibration_floors=0,
                                            fallback_scale=math.exp(constant)),
            'floor, network': GroundPlaneScale(
                1.0, max_tilt_deg=tilt, calibration_floors=0,
                network=RecordedNetwork([network[i] for i in order], bounds))}
    out = {way: np.empty(n) for way in ways}
    found = np.zeros(n, dtype=bool)
    previous = None
    for i in order:
        if frames['recording'][i] != previous:
            for source in ways.values():
                source.reset()
            previous = frames['recording'][i]
        mount = frames['mount'][i]
        for way, source in ways.items():
            if mount is not None:  # this frame's mount, as a robot's would be known
                source.camera_height, source.down = mount.height, mount.normal
            camera = (frames['intr'][i], None) if mount is not None else None
            out[way][i] = source.estimate(None, frames['pred'][i], camera).log_scale
        found[i] = ways['floor, held'].last_plane is not None
    lo, hi = (math.log(b) for b in bounds)
    out['network'] = np.clip(np.asarray(network, dtype=np.float64), lo, hi)
    out['constant'] = np.full(n, constant)
    return {**out, 'found': found}


def gaps(q: np.ndarray, log_s_star: np.ndarray, log_s: np.ndarray, rows: np.ndarray) -> float:
    """Return the gap closed (%) over ``rows`` by the scales exp(``log_s``)."""
    if not rows.size:
        return math.nan
    q = q[rows]
    return 100.0 * gap_closure(*(ratio_abs_rel(q, np.exp(values[rows])).mean()
                                 for values in (np.zeros(len(log_s)), log_s_star, log_s)))


def _bounds(run: Dict) -> Sequence[float]:
    """Return the run's network's scale bounds (its checkpoint's config; else the default)."""
    config = Path(run.get('checkpoint', '')) / 'config.json'
    if config.is_file():
        return ScaleNetConfig.from_dict(json.loads(config.read_text())).scale_bounds
    return ScaleNetConfig().scale_bounds


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print one markdown table per way of knowing the mount."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('results', help="a recording_experiment's results.json")
    parser.add_argument('test_spec', help='the test dataset spec the experiment used')
    args = parser.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    names = results['test']['names']
    frames = prepare(args.test_spec, names)
    q, log_s_star = np.stack(frames['q']), np.asarray(frames['log_s_star'])
    order = recording_order(names, frames['frame'])
    constant = float(results['train_mean_baseline']['log_scale'])
    runs = {f'{recipe} seed {run["seed"]}': run for recipe, entry in results['recipes'].items()
            for run in entry['runs']}
    print(f'{args.test_spec}: {len(names)} frames (SIMULATED base model); training-mean scale '
          f'{math.exp(constant):.3f}')
    for mode, tilt in MODES.items():
        print(f'\nmount {mode}: gap closed on all frames / on the frames without a floor\n')
        print('| network | floor found | network | constant | floor, held | floor, network |')
        print('|---|---|---|---|---|---|')
        for label, run in runs.items():
            key = label.replace(' seed ', '_seed')
            got = run_sources(frames, order, results['per_frame'][key]['log_scale'],
                              _bounds(run), constant, tilt)
            every, floorless = np.arange(len(q)), np.flatnonzero(~got['found'])
            cells = [f'{gaps(q, log_s_star, got[w], every):.1f} / '
                     f'{gaps(q, log_s_star, got[w], floorless):.1f} %'
                     for w in ('network', 'constant', 'floor, held', 'floor, network')]
            print(f'| {label} | {got["found"].sum()} of {len(q)} | ' + ' | '.join(cells) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
