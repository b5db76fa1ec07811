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
Shared pytest fixtures.

- ``tiny_da2_dir`` (session scope): a directory holding a random-weight, ~0.2 M-parameter metric
  Depth Anything V2 checkpoint (``adaptive_depth.testing.make_untrained_depth_anything``), built
  once per test session; load it with ``DepthAnythingRunner(str(tiny_da2_dir))``.
- ``nyu_sample_dir``: ``Path`` of the 10 real NYU Depth V2 test frames in
  ``../shared/data/nyu_test_sample`` (``NNNNN_colors.png`` / ``NNNNN_depth.png``); tests that use
  it are skipped with a reason only when the shared folder is absent.
"""

from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / 'shared'
NYU_SAMPLE_DIR = SHARED_DIR / 'data' / 'nyu_test_sample'


@pytest.fixture(scope='session')
def tiny_da2_dir(tmp_path_factory) -> Path:
    """Return a session-wide directory with a tiny random-weight metric DA2 checkpoint."""
    from adaptive_depth.testing import make_untrained_depth_anything

    return make_untrained_depth_anything(tmp_path_factory.mktemp('tiny_da2'), size='tiny')


@pytest.fixture(scope='session')
def nyu_sample_dir() -> Path:
    """Return the shared NYU test-sample folder (skips if ../shared is absent)."""
    if not NYU_SAMPLE_DIR.is_dir():
        pytest.skip(f'shared NYU sample data not found at {NYU_SAMPLE_DIR}')
    return NYU_SAMPLE_DIR


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """
    Give torch its CPU thread count back after every test.

    Tools called in-process with ``--threads`` (and some tests) set it for the whole process;
    later tests compare outputs byte for byte with a node subprocess, whose float sums depend on
    the thread count.
    """
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)
