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
``generate_oracle``: per-image oracle scales s* of a base depth model on an RGB-D dataset.

A thin command line over :func:`adaptive_depth.oracle_generation.generate_oracle_dir`: for every
sample the base model's prediction (cached on disk, so ``--resume`` continues an interrupted run),
``s* = argmin_{s in bounds} W1(s · D_pred, D_gt)`` over the valid pixels, W1 at s* and the number
of valid pixels. Writes the oracle directory (``oracle.csv``, ``oracle.json``, ``images.npy``,
``depth_grid.npy``, ``scale_histogram.png``; see ``adaptive_depth.oracle_dataset``) that
``train_scale_net`` and ``evaluate`` read. A used ``--out`` is refused unless ``--overwrite`` or
``--resume``; the new files replace the old ones only when the run completes.

Examples (one command each)::

    adaptive_depth_generate_oracle --data nyu-mat:nyu_depth_v2_labeled.mat --split train
        --split-file splits.mat --model depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf
        --out oracle/nyu_train
    adaptive_depth_generate_oracle --data synthetic:2000 --simulated --out oracle/sim
"""

import argparse
import math
from pathlib import Path
import sys
from typing import Any, Callable, Optional, Sequence

from adaptive_depth.tools.common import (argv_list, check_out, spec_paths, store_once, tool_main,
                                         UserError)

PROG = 'generate_oracle'


def _number_parser(convert: Callable[[str], Any], accept: Callable[[Any], bool],
                   expected: str) -> Callable[[str], Any]:
    """Return an argparse ``type`` that converts with ``convert`` and checks ``accept``."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected {expected}, got {text!r}') from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f'expected {expected}, got {text!r}')
        return value
    return parse


_positive_int = _number_parser(int, lambda v: v > 0, 'a positive integer')
_positive_float = _number_parser(float, lambda v: math.isfinite(v) and v > 0,
                                 'a positive number')
_nonneg_float = _number_parser(float, lambda v: math.isfinite(v) and v >= 0, 'a number >= 0')


def _image_size(text: str):
    """Parse an image size HEIGHTxWIDTH (rows x columns, the arrays' order) for argparse."""
    parts = text.lower().replace('×', 'x').split('x')
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HEIGHTxWIDTH, e.g. 480x640, got {text!r}') \
            from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f'image size must be positive, got {text!r}')
    return h, w


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``generate_oracle`` (every option documented)."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description='Compute the oracle global scale s* = argmin_s W1(s * D_pred, D_gt) of a '
                    'base depth model for every image of an RGB-D dataset, and write the oracle '
                    'directory (oracle.csv, oracle.json, images.npy, scale_histogram.png) used '
                    'by train_scale_net and evaluate.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = p.add_argument_group('dataset')
    d.add_argument('--data', required=True, metavar='SPEC', action=store_once(
                       'one oracle directory holds one source; run generate_oracle once per '
                       'source and pass every directory to train_scale_net --oracle'),
                   help='dataset: nyu-mat:FILE.mat (NYU Depth V2 labelled, MATLAB v7.3), '
                        'nyu-folder:DIR (DenseDepth nyu2_test layout), folder:DIR (colour/ + '
                        'depth/ sub-folders or an association file), bag:PATH (ROS 1 bag or '
                        'rosbag2), synthetic:N[:FIRST_SEED] (procedural scenes)')
    d.add_argument('--split', choices=('all', 'train', 'test'), default=None,
                   help='nyu-mat only: official NYU split (train = 795, test = 654 images; '
                        'needs --split-file); default all 1449 images')
    d.add_argument('--split-file', metavar='FILE', default=None,
                   help="nyu-mat only: NYU's splits.mat (trainNdxs/testNdxs), from the "
                        "'Labeled dataset' section of "
                        'https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html')
    d.add_argument('--depth-scale', type=_positive_float, default=None, metavar='UNITS',
                   help='folder / nyu-folder: depth PNG units per metre (1000 = millimetres; '
                        '5000 for TUM RGB-D); default 1000')
    d.add_argument('--intrinsics', default=None, metavar='FX,FY,CX,CY|FILE',
                   help="folder / bag: camera intrinsics in pixels as 'fx,fy,cx,cy' or a "
                        'JSON/YAML file (fx, fy, cx, cy [, width, height] or a ROS camera_info '
                        'YAML); folder default: PrimeSense 525,525,319.5,239.5 with a warning')
    d.add_argument('--association', default=None, metavar='FILE',
                   help='folder only: association file pairing colour and depth images '
                        '(TUM "rgb_ts rgb_path depth_ts depth_path" or "color depth" per line)')
    d.add_argument('--color-topic', default=None, metavar='TOPIC',
                   help='bag only: colour image topic (default: auto-detected)')
    d.add_argument('--depth-topic', default=None, metavar='TOPIC',
                   help='bag only: registered depth image topic (default: auto-detected)')
    d.add_argument('--info-topic', default=None, metavar='TOPIC',
                   help='bag only: colour camera_info topic (default: auto-detected)')
    d.add_argument('--synthetic-size', type=_image_size, default=None, metavar='HxW',
                   help='synthetic only: rendered image size, height x width (rows x '
                        'columns); default 480x640')
    d.add_argument('--limit', type=_positive_int, default=None, metavar='N',
                   help='use only the first N samples of the dataset')

    m = p.add_argument_group('base model (choose exactly one)')
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument('--model', metavar='ID|DIR',
                     help='Depth Anything V2 metric model: a Hugging Face hub id (from the local '
                          'cache, else downloaded when the hub is reachable; e.g. '
                          'depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf) or a local '
                          'save_pretrained directory')
    src.add_argument('--simulated', action='store_true',
                     help='SIMULATED base model (no network): prediction = ground truth x '
                          '(ref / visible_size)^gamma x exp(N(0, sigma)) x smooth '
                          'distortion x pixel noise; validates the method without DA2 weights. '
                          'All outputs are labelled simulated. visible_size is the 90th '
                          'percentile of the valid true depth in view (how big the visible '
                          'room is)')
    src.add_argument('--predictions', metavar='DIR',
                     help='use predictions of another model stored in a prediction cache '
                          'folder (root/<model_key> with manifest.json and one .npy per sample)')
    m.add_argument('--device', default='auto',
                   help="--model: torch device ('auto' = CUDA if available, 'cpu', 'cuda:0')")
    m.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'fp16', 'bf16'),
                   help='--model: inference precision (auto = fp16 on CUDA, fp32 on CPU)')
    m.add_argument('--input-size', type=_positive_int, default=518, metavar='PX',
                   help='--model: DA2 input size (shorter side, multiple of 14)')
    m.add_argument('--sim-gamma', type=_nonneg_float, default=1.0, metavar='G',
                   help='--simulated: exponent of the visible-size dependence of the scale '
                        'error')
    m.add_argument('--sim-ref', type=_positive_float, default=6.0, metavar='METRES',
                   help='--simulated: visible size (metres) at which the simulated model is '
                        'unbiased')
    m.add_argument('--sim-sigma', type=_nonneg_float, default=0.05, metavar='S',
                   help='--simulated: std of the random per-image log-scale error')
    m.add_argument('--sim-distortion', type=_nonneg_float, default=0.05, metavar='D',
                   help='--simulated: amplitude of the smooth multiplicative distortion (log)')
    m.add_argument('--sim-noise', type=_nonneg_float, default=0.025, metavar='N',
                   help='--simulated: std of the per-pixel log-normal noise')
    m.add_argument('--seed', type=int, default=0,
                   help='--simulated: seed of the simulated errors (with the sample name)')

    o = p.add_argument_group('oracle')
    o.add_argument('--bounds', type=_positive_float, nargs=2, default=(0.1, 2.0),
                   metavar=('LOW', 'HIGH'), help='search interval of the oracle scale s*')
    o.add_argument('--filter-percentiles', type=float, nargs=2, default=(5.0, 95.0),
                   metavar=('LOW', 'HIGH'),
                   help='keep samples whose s* lies within these percentiles (column kept)')
    o.add_argument('--no-filter', action='store_true',
                   help='keep every sample with a finite s* (no percentile filter)')
    o.add_argument('--eval-crop', choices=('auto', 'eigen', 'none'), default='auto',
                   help="pixels used for s*: 'auto' = the Eigen crop for NYU samples "
                        "(meta eval_crop), 'eigen' = always, 'none' = the whole image")

    io = p.add_argument_group('output')
    io.add_argument('--out', required=True, metavar='DIR',
                    help='oracle directory to write; a used one needs --overwrite or --resume')
    again = io.add_mutually_exclusive_group()
    again.add_argument('--overwrite', action='store_true',
                       help='replace the oracle files in a used --out (the old ones stay until '
                            'the new run completes; cached predictions are reused)')
    again.add_argument('--resume', action='store_true',
                       help='continue an interrupted run into --out: cached predictions are '
                            'read back, so the result equals an uninterrupted run')
    io.add_argument('--cache', default=None, metavar='DIR',
                    help='prediction cache root (reused across runs; default OUT/predictions)')
    io.add_argument('--cache-dtype', choices=('float32', 'float16'), default='float32',
                    help='storage type of cached predictions')
    io.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return p


def _dataset_options(args: argparse.Namespace) -> dict:
    from adaptive_depth.datasets import split_spec

    kind, _ = split_spec(args.data)
    given = {
        'split': args.split, 'split_file': args.split_file, 'depth_scale': args.depth_scale,
        'intrinsics': args.intrinsics, 'association': args.association,
        'color_topic': args.color_topic, 'depth_topic': args.depth_topic,
        'info_topic': args.info_topic,
    }
    if args.synthetic_size is not None:
        given['height'], given['width'] = args.synthetic_size
    flags = {'split': '--split', 'split_file': '--split-file', 'depth_scale': '--depth-scale',
             'intrinsics': '--intrinsics', 'association': '--association',
             'color_topic': '--color-topic', 'depth_topic': '--depth-topic',
             'info_topic': '--info-topic', 'width': '--synthetic-size',
             'height': '--synthetic-size'}
    from adaptive_depth.datasets import SOURCE_OPTIONS
    bad = sorted({flags[k] for k, v in given.items()
                  if v is not None and k not in SOURCE_OPTIONS[kind]})
    if bad:
        raise UserError(f'{", ".join(bad)} do(es) not apply to {kind}: datasets')
    return {k: v for k, v in given.items() if v is not None}


def _make_model(args: argparse.Namespace):
    from adaptive_depth import base_models

    if args.simulated:
        return base_models.SimulatedBaseModel(
            gamma=args.sim_gamma, room_size_ref_m=args.sim_ref, scale_sigma=args.sim_sigma,
            distortion=args.sim_distortion, noise=args.sim_noise, seed=args.seed)
    if args.predictions is not None:
        return base_models.CachedBaseModel(args.predictions)
    from adaptive_depth.depth_model import DepthAnythingRunner
    runner = DepthAnythingRunner(args.model, device=args.device, precision=args.precision,
                                 input_size=args.input_size)
    return base_models.DepthAnythingBase(runner)


def _check_out(args: argparse.Namespace) -> Path:
    from adaptive_depth.oracle_dataset import ORACLE_JSON
    from adaptive_depth.oracle_generation import STAGING_DIR

    inputs = [*spec_paths([args.data]), args.predictions, args.split_file]
    out = check_out(args.out, overwrite=args.overwrite, resume=args.resume, inputs=inputs)
    if args.resume and (out / ORACLE_JSON).is_file() and not (out / STAGING_DIR).exists():
        raise UserError(f'--resume: {out} holds a finished oracle directory and no interrupted '
                        'run; pass --overwrite to compute it again')
    return out


def run(args: argparse.Namespace):
    """Run ``generate_oracle`` with parsed ``args``; return the :class:`OracleSummary`."""
    from adaptive_depth.datasets import open_dataset, Subset
    from adaptive_depth.oracle_dataset import OracleMeta
    from adaptive_depth.oracle_generation import generate_oracle_dir, OracleSettings
    from adaptive_depth.prediction_cache import PredictionCache

    low, high = args.bounds
    if not low < high:
        raise UserError(f'--bounds must satisfy LOW < HIGH, got {low} {high}')
    plow, phigh = args.filter_percentiles
    if not args.no_filter and not 0.0 <= plow < phigh <= 100.0:
        raise UserError(f'--filter-percentiles must satisfy 0 <= LOW < HIGH <= 100, '
                        f'got {plow} {phigh}')
    settings = OracleSettings(
        bounds=(low, high), eval_crop=args.eval_crop,
        percentile_filter=None if args.no_filter else (plow, phigh))
    out = _check_out(args)
    options = _dataset_options(args)
    dataset = open_dataset(args.data, **options)
    if len(dataset) == 0:
        raise UserError(f'dataset {args.data} has no samples')
    if args.limit is not None and args.limit < len(dataset):
        dataset = Subset(dataset, range(args.limit))
    model = _make_model(args)
    cache = None
    if args.predictions is None:
        cache_dir = Path(args.cache).expanduser() if args.cache else out / 'predictions'
        cache = PredictionCache(cache_dir, model.model_key, dtype=args.cache_dtype,
                                model_name=model.name, simulated=model.simulated,
                                dataset_spec=args.data)
    label = ' [SIMULATED base model]' if model.simulated else ''
    print(f'{PROG}: {len(dataset)} samples from {args.data}; base model {model.name}{label}',
          flush=True)
    record = OracleMeta(dataset_spec=args.data, dataset_options=options,
                        dataset_limit=args.limit, command=[PROG] + list(args._argv))
    summary = generate_oracle_dir(dataset, model, out, cache=cache, settings=settings,
                                  record=record, progress=not args.no_progress, desc=PROG)
    _print_summary(summary, model.name)
    return summary


def _print_summary(summary, model_name: str) -> None:
    p = summary.percentiles
    label = 'SIMULATED ' if summary.simulated else ''
    lines = [
        f'{PROG}: {label}oracle scales for base model {model_name}',
        f'  samples {summary.count}, with a scale {summary.valid}, kept '
        f'{summary.kept}, at the bounds {summary.at_bounds}',
        '  s* min/p5/p25/median/p75/p95/max: ' + ' / '.join(f'{v:.3f}' for v in p),
        f'  mean W1 at s*: {summary.mean_w1:.4f} m',
        f'  one constant for all of them, exp(mean log s*) over the kept rows: '
        f'{summary.mean_scale:.4f} (the fixed_scale of a calibration with scale_source: fixed)',
    ]
    if summary.cache_hits is not None:
        lines.append(f'  predictions: {summary.cache_misses} computed, '
                     f'{summary.cache_hits} from the cache')
    lines.append(f'  time {summary.elapsed_s:.1f} s; wrote {summary.out}')
    print('\n'.join(lines), flush=True)


@tool_main(PROG, interrupted='interrupted: cached predictions are kept and a finished --out is '
                             'unchanged; rerun with --resume to continue')
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point; returns the exit code (docs/tools.md: 0 ok, 2 user error, 130)."""
    argv = argv_list(argv)
    args = build_parser().parse_args(argv)
    args._argv = [a for a in argv if a not in ('--resume', '--overwrite')]
    run(args)
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
