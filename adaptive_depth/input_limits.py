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
The one rule on which image sizes the depth pipeline accepts (numpy-free, torch-free).

Depth Anything V2 scales an image's SHORT side to ``input_size`` and keeps the aspect ratio, so
the network input (and its token count, quadratic cost in attention) grows with the aspect ratio:
a 4097×1 image became a 70×286,790 input. :func:`check_image_size` bounds that: the long side may
be at most :data:`MAX_ASPECT_RATIO` times the short side, so the network input has at most
``MAX_ASPECT_RATIO × input_size²`` pixels; an optional ``max_pixels`` also bounds the image itself
(the node's ``max_input_pixels`` parameter, checked before decoding). Used by
``depth_model.da2_input_size`` (hence the pipeline and every tool) and by the node's decoding.
"""

from typing import Optional

MAX_ASPECT_RATIO = 4.0
"""Largest accepted long-side / short-side ratio of an input image (4:1)."""


class ImageSizeError(ValueError):
    """An image is well formed but outside the accepted size (aspect ratio or pixel count)."""


def check_image_size(height: int, width: int, max_pixels: Optional[int] = None) -> None:
    """
    Raise :class:`ImageSizeError` unless an H×W image (pixels) is within the input limits.

    Limits: both sides > 0, aspect ratio (long / short side) <= :data:`MAX_ASPECT_RATIO`, and
    ``height × width <= max_pixels`` when ``max_pixels`` is given. The message names the size and
    the limit that was exceeded.
    """
    height, width = int(height), int(width)
    if height <= 0 or width <= 0:
        raise ImageSizeError(f'image size must be positive, got {width}x{height} (WxH)')
    if max_pixels is not None and height * width > max_pixels:
        raise ImageSizeError(
            f'image of {width}x{height} = {height * width} pixels exceeds the limit of '
            f'{max_pixels} pixels (max_input_pixels)')
    long_side, short_side = max(height, width), min(height, width)
    if long_side > MAX_ASPECT_RATIO * short_side:
        raise ImageSizeError(
            f'image of {width}x{height} has an aspect ratio of {long_side / short_side:.3g}:1, '
            f'above the supported {MAX_ASPECT_RATIO:g}:1 (crop or pad it)')
