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
RGB-D dataset sources: ``open_dataset(spec, **options) -> Sequence[RGBDSample]``.

Specs (every source yields H×W×3 uint8 RGB, H×W float32 metric depth with NaN invalid, and
intrinsics at the image size; samples are read lazily in ``__getitem__``):

``nyu-mat:PATH``
    NYU Depth V2 labelled ``.mat`` (v7.3). Options: ``split`` ('all' | 'train' | 'test'),
    ``split_file`` (NYU's ``splits.mat``, required for train / test).
``nyu-folder:PATH``
    DenseDepth ``nyu2_test`` layout (``NNNNN_colors.png`` + ``NNNNN_depth.png`` in mm).
    Option: ``depth_scale`` (1000).
``folder:PATH``
    Generic colour + depth PNG folder. Options: ``depth_scale`` (1000; 5000 for TUM),
    ``intrinsics`` ('fx,fy,cx,cy' or a JSON / YAML file), ``association`` (TUM-style file).
``bag:PATH``
    ROS 1 bag / rosbag2 folder or file (``datasets.bag.BagDataset``). Options: ``color_topic``,
    ``depth_topic``, ``info_topic``, ``tolerance_s``, ``every`` (keep every k-th frame),
    ``intrinsics`` (used when there is no camera_info topic).
``synthetic:N[:FIRST_SEED]``
    N procedurally rendered scenes. Options: ``width`` (640), ``height`` (480).
``tum:PATH``
    TUM RGB-D sequence (``rgb.txt``, ``depth.txt``, optional ``associations.txt``; timestamp
    pairing otherwise). Options: ``depth_scale`` (5000 or the calibration YAML's
    ``DepthMapFactor``), ``intrinsics``, ``association``, ``max_dt`` (0.02 s).
``sevenscenes:PATH``
    7-Scenes / 3DMatch / SUN3D fragments (``frame-NNNNNN.color.*`` + ``.depth.png`` +
    ``camera-intrinsics.txt``; a folder of sequences gives one recording each). Options:
    ``depth_scale`` (1000), ``intrinsics``.

Recording sources (``tum``, ``sevenscenes``) put ``recording`` and ``frame`` into each
sample's ``meta`` (datasets.recordings); raw depth 0 and 65535 are invalid there.

Options that are None are ignored, so CLIs can pass every option through; an option a source
does not take raises ``ValueError``. Options can also be written into the spec itself, after a
``?`` as ``key=value`` pairs joined by ``&`` (:func:`spec_options`), e.g.
``folder:/data/lab?depth_scale=5000&intrinsics=525,525,319.5,239.5``, so a tool that takes
several specs (``recording_experiment --test-data``) can give each its own depth scale and
intrinsics.
"""

from pathlib import Path
from typing import Any, Dict, Sequence, Tuple
import warnings

from adaptive_depth.datasets.base import (DatasetError, DatasetFileNotFoundError, LazyDataset,
                                          sample_name, Subset)
from adaptive_depth.datasets.folder import fit_intrinsics, parse_intrinsics_option
from adaptive_depth.sample import RGBDSample

SOURCE_KINDS = ('nyu-mat', 'nyu-folder', 'folder', 'bag', 'synthetic', 'tum', 'sevenscenes')

SOURCE_OPTIONS = {
    'nyu-mat': ('split', 'split_file'),
    'nyu-folder': ('depth_scale',),
    'folder': ('depth_scale', 'intrinsics', 'association'),
    'bag': ('color_topic', 'depth_topic', 'info_topic', 'tolerance_s', 'every', 'intrinsics'),
    'synthetic': ('width', 'height'),
    'tum': ('depth_scale', 'intrinsics', 'association', 'max_dt'),
    'sevenscenes': ('depth_scale', 'intrinsics'),
}

OPTION_TYPES = {'depth_scale': float, 'max_dt': float, 'tolerance_s': float, 'every': int,
                'width': int, 'height': int}
"""Options written into a spec are text; these are converted to numbers (the rest stay text)."""

__all__ = ['DatasetError', 'DatasetFileNotFoundError', 'LazyDataset', 'SOURCE_KINDS',
           'SOURCE_OPTIONS', 'Subset',
           'fit_intrinsics', 'open_dataset', 'parse_intrinsics_option', 'sample_name',
           'spec_options', 'split_spec']


def split_spec(spec: str):
    """
    Split ``'kind:ARG'`` into ``(kind, arg)``; raise ``ValueError`` naming valid kinds if bad.

    Only the first colon separates, so paths may contain colons.
    """
    if not isinstance(spec, str) or ':' not in spec:
        raise ValueError(f'dataset spec must be KIND:ARG with KIND one of '
                         f'{", ".join(SOURCE_KINDS)}; got {spec!r}')
    kind, arg = spec.split(':', 1)
    kind = kind.strip().lower()
    if kind not in SOURCE_KINDS:
        raise ValueError(f'unknown dataset kind {kind!r} in {spec!r}: expected one of '
                         f'{", ".join(SOURCE_KINDS)}')
    if not arg.strip():
        raise ValueError(f'dataset spec {spec!r} lacks its argument after {kind!r}:')
    return kind, arg.strip()


def spec_options(spec: str) -> Tuple[str, Dict[str, Any]]:
    """
    Split the options written into a spec from it: ``'KIND:ARG?key=value&key=value'``.

    The text after the last ``?`` holds options when it contains ``=`` (otherwise the ``?``
    belongs to the path). Each key must be an option of the spec's kind (``SOURCE_OPTIONS``);
    values of ``OPTION_TYPES`` become numbers. Returns ``(spec without options, options)``.

    :raises ValueError: naming a pair without ``=``, a key the kind does not take, a key given
        twice or a value that is not a number where one is needed.
    """
    base, sep, tail = spec.rpartition('?') if isinstance(spec, str) else ('', '', '')
    if not sep or '=' not in tail:
        split_spec(spec)
        return spec, {}
    kind, _ = split_spec(base)
    options: Dict[str, Any] = {}
    for pair in tail.split('&'):
        key, eq, value = pair.partition('=')
        key = key.strip()
        if not eq or not key:
            raise ValueError(f'dataset spec {spec!r}: options after "?" must be key=value '
                             f'joined by "&", got {pair!r}')
        if key not in SOURCE_OPTIONS[kind]:
            raise ValueError(f'dataset spec {spec!r}: {kind!r} does not take option {key!r}; '
                             f'it takes: {", ".join(SOURCE_OPTIONS[kind])}')
        if key in options:
            raise ValueError(f'dataset spec {spec!r} gives option {key!r} twice')
        convert = OPTION_TYPES.get(key, str)
        try:
            options[key] = convert(value.strip())
        except ValueError:
            raise ValueError(f'dataset spec {spec!r}: option {key!r} must be a number, got '
                             f'{value!r}') from None
    return base, options


class _BagWithIntrinsics(LazyDataset):
    """A bag dataset whose samples without intrinsics get user-given ones (size adopted)."""

    def __init__(self, dataset: Sequence, intrinsics, spec: str):
        self.dataset = dataset
        self.intrinsics = intrinsics
        self.spec = spec

    def __len__(self) -> int:
        return len(self.dataset)

    def sample_name(self, index: int) -> str:
        return sample_name(self.dataset, self._check_index(index))

    def _load(self, index: int) -> RGBDSample:
        s = self.dataset[index]
        if s.intrinsics is None:
            h, w = s.rgb.shape[:2]
            s.intrinsics = fit_intrinsics(self.intrinsics, w, h)
        return s


def _synthetic(arg: str, spec: str, opts: Dict[str, Any]):
    from adaptive_depth.datasets.synthetic_source import SyntheticDataset

    parts = arg.split(':')
    try:
        if len(parts) > 2:
            raise ValueError
        count = int(parts[0])
        first_seed = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise ValueError(f'synthetic spec must be synthetic:N[:FIRST_SEED] with integers, '
                         f'got {spec!r}') from None
    if count <= 0:
        raise ValueError(f'synthetic spec needs N > 0 scenes, got {spec!r}')
    width = int(opts.get('width', 640))
    height = int(opts.get('height', 480))
    if width <= 0 or height <= 0:
        raise ValueError(f'synthetic image size must be positive, got {width}x{height}')
    return SyntheticDataset(count, first_seed, width, height)


def open_dataset(spec: str, **options: Any) -> Sequence[RGBDSample]:
    """
    Open the dataset named by ``spec`` (see the module docstring) as a lazy sequence.

    :raises ValueError: for a malformed spec or an option the source does not take.
    :raises DatasetFileNotFoundError: (FileNotFoundError) naming a missing file or folder.
    :raises DatasetError: (ValueError) naming a malformed file.
    """
    spec, written = spec_options(spec)
    kind, arg = split_spec(spec)
    opts = {k: v for k, v in options.items() if v is not None}
    twice = sorted(set(written) & set(opts))
    if twice:
        raise ValueError(f'dataset {spec!r}: option(s) {", ".join(twice)} given both in the '
                         f'spec and as arguments')
    opts.update(written)
    unknown = sorted(set(opts) - set(SOURCE_OPTIONS[kind]))
    if unknown:
        raise ValueError(f'dataset {kind!r} does not take option(s) {", ".join(unknown)}; '
                         f'it takes: {", ".join(SOURCE_OPTIONS[kind])}')
    if kind == 'synthetic':
        return _synthetic(arg, spec, opts)
    path = Path(arg).expanduser()
    if kind == 'nyu-mat':
        from adaptive_depth.datasets.nyu_mat import NyuMatDataset
        return NyuMatDataset(path, split=opts.get('split', 'all'),
                             split_file=opts.get('split_file'))
    if kind == 'nyu-folder':
        from adaptive_depth.datasets.nyu_folder import NyuFolderDataset
        return NyuFolderDataset(path, depth_scale=float(opts.get('depth_scale', 1000.0)))
    if kind == 'tum':
        from adaptive_depth.datasets.recordings import TumDataset
        return TumDataset(path, depth_scale=opts.get('depth_scale'),
                          intrinsics=opts.get('intrinsics'), association=opts.get('association'),
                          max_dt=float(opts.get('max_dt', 0.02)))
    if kind == 'sevenscenes':
        from adaptive_depth.datasets.recordings import SevenScenesDataset
        return SevenScenesDataset(path, depth_scale=float(opts.get('depth_scale', 1000.0)),
                                  intrinsics=opts.get('intrinsics'))
    if kind == 'folder':
        from adaptive_depth.datasets.folder import FolderDataset
        return FolderDataset(path, depth_scale=float(opts.get('depth_scale', 1000.0)),
                             intrinsics=opts.get('intrinsics'),
                             association=opts.get('association'))
    # bag
    if not path.exists():
        raise DatasetFileNotFoundError(f'bag not found: {path}')
    from adaptive_depth.datasets.bag import BagDataset
    bag_kwargs = {k: opts[k] for k in ('color_topic', 'depth_topic', 'info_topic', 'tolerance_s',
                                       'every') if k in opts}
    intr = parse_intrinsics_option(opts.get('intrinsics'))
    if intr is not None and intr.width > 0 and intr.height > 0:
        return BagDataset(path, intrinsics=intr, **bag_kwargs)
    if intr is not None:
        # Size unknown: adopt each image's size once it is read.
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='.*no camera_info.*')
            dataset = BagDataset(path, **bag_kwargs)
        return _BagWithIntrinsics(dataset, intr, f'bag:{path}')
    return BagDataset(path, **bag_kwargs)
