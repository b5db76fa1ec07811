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

"""Exceptions shared by the core, the ROS layer and the tools (imports no torch)."""


class ModelLoadError(OSError):
    """
    A depth model or a scale checkpoint could not be found, read or used.

    An ``OSError``, so code that catches file errors catches it too; the message names the file
    or model and says what to do.
    """


class TrainingError(ValueError):
    """Raised for unusable training inputs or configuration (the message names the problem)."""
