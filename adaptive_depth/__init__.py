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

"""adaptive_depth: metric depth from one RGB camera (Depth Anything V2 + learned scale)."""

from importlib import metadata as _metadata

try:   # one owner: the version in setup.py / package.xml, as installed
    __version__ = _metadata.version('adaptive_depth')
except _metadata.PackageNotFoundError:   # run from a source tree that was never installed
    __version__ = 'unknown'
