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
Write half-resolution (320×240) copies of ../shared's real recordings, in their own layouts.

For a machine without ../shared (the GPU check): colour as JPEG (INTER_AREA), depth as 16-bit
PNG (nearest neighbour, raw values kept so invalid 0 / 65535 stay invalid), intrinsics files
rescaled. The copies are read by the same dataset sources (``sevenscenes:``, ``tum:``,
``nyu-folder:``) as the originals. Usage: ``python benchmarks/prepare_gpu_data.py SHARED OUT``.
"""

from pathlib import Path
import re
import shutil
import sys

import cv2
import numpy as np

SCALE = 0.5


def _color(src: Path, dst: Path) -> None:
    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    small = cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(dst.with_suffix('.jpg')) if dst.suffix != '.jpg' else str(dst), small,
                [cv2.IMWRITE_JPEG_QUALITY, 88])


def _depth(src: Path, dst: Path) -> None:
    raw = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    small = cv2.resize(raw, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(dst), small.astype(np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 9])


def _matrix(src: Path, dst: Path) -> None:
    k = np.array([float(v) for v in src.read_text().split()]).reshape(3, 3)
    k[:2] *= SCALE
    np.savetxt(dst, k)


def sevenscenes(src: Path, dst: Path) -> None:
    """Copy a 7-Scenes / SUN3D folder (frames here or in sequence sub-folders)."""
    for folder in [src] + sorted(p for p in src.iterdir() if p.is_dir()):
        out = dst if folder == src else dst / folder.name
        for color in sorted(folder.glob('frame-*.color.*')):
            out.mkdir(parents=True, exist_ok=True)
            stem = color.name.split('.')[0]
            _color(color, out / f'{stem}.color.jpg')
            _depth(folder / f'{stem}.depth.png', out / f'{stem}.depth.png')
        if (folder / 'camera-intrinsics.txt').is_file():
            out.mkdir(parents=True, exist_ok=True)
            _matrix(folder / 'camera-intrinsics.txt', out / 'camera-intrinsics.txt')


def tum(src: Path, dst: Path) -> None:
    """Copy a TUM folder (rgb.txt / depth.txt paths and the calibration YAML rescaled)."""
    dst.mkdir(parents=True, exist_ok=True)
    for listing in ('rgb.txt', 'depth.txt', 'associations.txt'):
        if not (src / listing).is_file():
            continue
        lines = []
        for line in (src / listing).read_text().splitlines():
            parts = line.split()
            if line.startswith('#') or len(parts) < 2:
                lines.append(line)
                continue
            for rel in parts[1::2]:
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                if rel.endswith('.png') and 'depth' in rel:
                    _depth(src / rel, dst / rel)
                else:
                    _color(src / rel, dst / Path(rel).with_suffix('.jpg'))
            lines.append(' '.join(p if i % 2 == 0 or not p.endswith('.png') or 'depth' in p
                                  else str(Path(p).with_suffix('.jpg'))
                                  for i, p in enumerate(parts)))
        (dst / listing).write_text('\n'.join(lines) + '\n')
    for yaml in src.glob('*.yaml'):
        text = yaml.read_text()
        text = re.sub(r'(Camera\.(fx|fy|cx|cy):\s*)([0-9.]+)',
                      lambda m: f'{m.group(1)}{float(m.group(3)) * SCALE:g}', text)
        (dst / yaml.name).write_text(text)


def nyu_folder(src: Path, dst: Path) -> None:
    """Copy a DenseDepth nyu2_test folder (PNG colour kept as PNG)."""
    dst.mkdir(parents=True, exist_ok=True)
    for color in sorted(src.glob('*_colors.png')):
        img = cv2.imread(str(color), cv2.IMREAD_COLOR)
        cv2.imwrite(str(dst / color.name),
                    cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA))
        _depth(src / color.name.replace('_colors', '_depth'),
               dst / color.name.replace('_colors', '_depth'))


def main(argv) -> int:
    shared, out = Path(argv[1]), Path(argv[2])
    real = shared / 'data' / 'real_rgbd'
    if out.exists():
        shutil.rmtree(out)
    sevenscenes(real / 'sevenscenes_redkitchen', out / 'sevenscenes_redkitchen')
    sevenscenes(real / 'sun3d_office', out / 'sun3d_office')
    tum(real / 'tum_fr3_cabinet', out / 'tum_fr3_cabinet')
    nyu_folder(shared / 'data' / 'nyu_test_sample', out / 'nyu_test_sample')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
