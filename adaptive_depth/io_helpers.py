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
Small file helpers shared by the writers: atomic writes and JSON sanitising.

An atomic write goes to a hidden temporary file next to the target and is moved into place with
``os.replace``, so a reader (or an interrupted writer) sees the old file or the new one, never a
partial one.
"""

import json
import math
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

PathLike = Union[str, Path]


def _temp_path(path: Path) -> Path:
    return path.with_name(f'.{path.name}.{os.getpid()}.tmp')


def atomic_save_npy(path: PathLike, array: np.ndarray) -> Path:
    """Write ``array`` to the ``.npy`` file ``path`` atomically (no pickles); return the path."""
    path = Path(path)
    tmp = _temp_path(path)
    try:
        with open(tmp, 'wb') as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    path = Path(path)
    tmp = _temp_path(path)
    try:
        tmp.write_text(text, encoding='utf-8')
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def json_safe(value: Any) -> Any:
    """
    Return ``value`` converted to plain JSON types.

    Dict keys become str; tuples, lists and sets become lists; numpy scalars and arrays become
    Python numbers and lists; paths become str; non-finite floats (NaN, ±inf) become None (JSON
    has no NaN); any other object becomes its ``str``.
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def dumps_json(value: Any, sort_keys: bool = False) -> str:
    """Return ``value``, sanitised by :func:`json_safe`, as indented JSON text (newline-ended)."""
    return json.dumps(json_safe(value), indent=2, allow_nan=False, sort_keys=sort_keys) + '\n'


def atomic_write_json(path: PathLike, value: Any, sort_keys: bool = False) -> Path:
    """Write ``value`` (sanitised by :func:`json_safe`) to ``path`` as JSON, atomically."""
    return atomic_write_text(path, dumps_json(value, sort_keys=sort_keys))
