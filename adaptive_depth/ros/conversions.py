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
Conversions between ROS 2 sensor messages and numpy arrays (numpy and cv2 only, no rclpy).

Functions read messages by their ROS field names, so they accept rclpy messages (``data`` is an
``array.array`` or ``bytes``), ``rosbags`` messages (``data`` is a numpy uint8 array) and any
look-alike object. Builders return plain dicts of field values; callers copy them into their own
message class. For rclpy messages assign ``fields['data'].tobytes()`` (or an ``array.array``):
assigning a numpy array to an rclpy ``data`` field works but converts element by element (slow).
"""

import contextlib
import os
import sys
import tempfile
import threading
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from adaptive_depth.geometry import CloudBuffer, Intrinsics
from adaptive_depth.input_limits import check_image_size
from adaptive_depth.lens import Distortion, make_distortion
import cv2
import numpy as np

_COLOR_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}
"""The 8-bit colour encodings, with their channels (the ones ``rgb_to_image_fields`` writes)."""
WRITABLE_COLOR_ENCODINGS = tuple(_COLOR_CHANNELS)

# OpenCV names a Bayer pattern by the second row's first two pixels: ROS rggb is cv2 BG.
_BAYER_CODES = {'rggb': cv2.COLOR_BayerBG2RGB, 'bggr': cv2.COLOR_BayerRG2RGB,
                'gbrg': cv2.COLOR_BayerGR2RGB, 'grbg': cv2.COLOR_BayerGB2RGB}
_YUV422_CODES = {'yuv422': cv2.COLOR_YUV2RGB_UYVY, 'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2}


def _bayer_code(encoding: str) -> Optional[int]:
    """Return the OpenCV demosaic code of ``bayer_<pattern><bits>``, or None for other names."""
    return _BAYER_CODES.get(encoding[6:10]) if encoding.startswith('bayer_') else None


_COLOR_LAYOUTS: Dict[str, Tuple[int, int]] = {
    **{name: (ch, 1) for name, ch in _COLOR_CHANNELS.items()},
    'rgb16': (3, 2), 'bgr16': (3, 2), 'rgba16': (4, 2), 'bgra16': (4, 2),
    **{f'bayer_{p}{bits}': (1, bits // 8) for p in _BAYER_CODES for bits in (8, 16)},
    'yuv422': (2, 1), 'yuv422_yuy2': (2, 1),
}
"""Every colour encoding the node reads: (channels per pixel, bytes per channel)."""

SUPPORTED_COLOR_ENCODINGS = tuple(_COLOR_LAYOUTS)
SUPPORTED_DEPTH_ENCODINGS = ('16UC1', '32FC1', 'mono16')
_DEPTH_DTYPES = {'16UC1': 'u2', 'mono16': 'u2', '32FC1': 'f4'}


class ImageConversionError(ValueError):
    """A message could not be converted (bad encoding, size, step or data)."""


def _buffer(data: Any) -> np.ndarray:
    """Return a 1-D uint8 view of a message ``data`` field (zero-copy for buffer objects)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageConversionError(f'message data must be uint8, got dtype {data.dtype}')
        return data.reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ImageConversionError(
                f'message data of type {type(data).__name__} is not a byte buffer') from exc


def _rows(msg: Any, bytes_per_pixel: int) -> Tuple[np.ndarray, int, int]:
    """Validate size and step of an Image message; return its H×(W·bpp) uint8 pixel rows."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'image has zero/negative size {width}x{height}')
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f'image step {step} is smaller than width*bytes_per_pixel = {width}*'
            f'{bytes_per_pixel} = {row_bytes}')
    buf = _buffer(msg.data)
    if buf.size != step * height:
        raise ImageConversionError(
            f'image data has {buf.size} bytes, expected step*height = {step}*{height} = '
            f'{step * height}')
    return buf.reshape(height, step)[:, :row_bytes], height, width


def image_msg_to_rgb(msg: Any, max_pixels: Optional[int] = None) -> np.ndarray:
    """
    Convert a ``sensor_msgs/Image`` to an H×W×3 uint8 RGB array (a new, writable array).

    Supports rgb8, bgr8, rgba8, bgra8 (alpha dropped), mono8 (replicated), their 16-bit forms
    rgb16/bgr16/rgba16/bgra16 (the upper byte of each channel, ``is_bigendian`` honoured), and
    what cameras publish without image_proc in between: raw Bayer mosaics
    ``bayer_{rggb,bggr,gbrg,grbg}{8,16}`` (demosaiced) and YUV 4:2:2 (``yuv422`` = UYVY,
    ``yuv422_yuy2`` = YUYV, BT.601 video range as V4L2 webcams send it; even width). Honours
    ``step`` row padding. Raises
    :class:`ImageConversionError` for other encodings, an empty image, a step shorter than a
    row or a data length different from step × height. With ``max_pixels`` an image outside
    :func:`adaptive_depth.input_limits.check_image_size` raises
    :class:`~adaptive_depth.input_limits.ImageSizeError` before any pixel is copied.
    """
    encoding = str(msg.encoding).strip().lower()
    if encoding not in _COLOR_LAYOUTS:
        raise ImageConversionError(
            f'unsupported colour encoding {msg.encoding!r}; supported: '
            f'{", ".join(SUPPORTED_COLOR_ENCODINGS)}')
    ch, nbytes = _COLOR_LAYOUTS[encoding]
    rows, height, width = _rows(msg, ch * nbytes)
    if max_pixels is not None:
        check_image_size(height, width, max_pixels)
    if nbytes == 2:  # 16 bit per channel: keep the upper byte
        dtype = np.dtype('>u2' if getattr(msg, 'is_bigendian', 0) else '<u2')
        pix = (np.ascontiguousarray(rows).view(dtype) >> 8).astype(np.uint8)
        pix = pix.reshape(height, width, ch)
        encoding = encoding[:-2] + '8'
    else:
        pix = rows.reshape(height, width, ch)
    bayer = _bayer_code(encoding)
    if bayer is not None:
        return _convert(np.ascontiguousarray(pix[..., 0]), bayer, encoding)
    if encoding in _YUV422_CODES:
        if width % 2:
            raise ImageConversionError(f'{encoding} needs an even width, got {width}')
        return _convert(np.ascontiguousarray(pix), _YUV422_CODES[encoding], encoding)
    if encoding == 'rgb8':
        return np.array(pix, copy=True)
    if encoding == 'bgr8':
        return np.ascontiguousarray(pix[:, :, ::-1])
    if encoding == 'rgba8':
        return np.ascontiguousarray(pix[:, :, :3])
    if encoding == 'bgra8':
        return np.ascontiguousarray(pix[:, :, 2::-1])
    return np.ascontiguousarray(np.broadcast_to(pix, (height, width, 3)))


def _convert(pix: np.ndarray, code: int, encoding: str) -> np.ndarray:
    """Return ``cv2.cvtColor(pix, code)``; an OpenCV refusal becomes ImageConversionError."""
    try:
        return cv2.cvtColor(pix, code)
    except cv2.error as exc:
        raise ImageConversionError(f'cannot convert {encoding} {pix.shape[1]}x{pix.shape[0]}: '
                                   f'{str(exc).strip().splitlines()[-1]}') from None


def image_msg_to_depth(msg: Any) -> np.ndarray:
    """
    Convert a depth ``sensor_msgs/Image`` to H×W float32 metres with NaN where invalid.

    16UC1 (and mono16) hold millimetres, 32FC1 metres; ``is_bigendian`` and ``step`` padding are
    honoured. Zero, negative and non-finite values become NaN (REP 117).
    """
    encoding = str(msg.encoding).strip()
    key = encoding if encoding in _DEPTH_DTYPES else encoding.upper()
    if key not in _DEPTH_DTYPES:
        raise ImageConversionError(
            f'unsupported depth encoding {msg.encoding!r}; supported: '
            f'{", ".join(SUPPORTED_DEPTH_ENCODINGS)}')
    dtype = np.dtype(('>' if msg.is_bigendian else '<') + _DEPTH_DTYPES[key])
    rows, height, width = _rows(msg, dtype.itemsize)
    values = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    depth = values.astype(np.float32)   # native byte order, always a new array
    if dtype.kind == 'u':
        depth *= np.float32(0.001)
    with np.errstate(invalid='ignore'):
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    return depth


_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}   # SOF0..SOF15 less DHT/JPG/DAC
_JPEG_MAX_SEGMENTS = 1000
# Payloads refused by their magic bytes, before any decoder sees them (name for the message).
_OTHER_MAGICS = ((b'GIF8', 'GIF'), (b'BM', 'BMP'), (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'),
                 (b'PF', 'PFM (float)'), (b'Pf', 'PFM (float)'), (b'#?', 'Radiance HDR (float)'),
                 (b'\x76\x2f\x31\x01', 'OpenEXR (float)'), (b'RIFF', 'RIFF/WebP'),
                 (b'\x00\x00\x00\x0cjP', 'JPEG 2000'), (b'\xff\x4f\xff\x51', 'JPEG 2000'),
                 (b'P1', 'PNM'), (b'P2', 'PNM'), (b'P3', 'PNM'), (b'P4', 'PNM'), (b'P5', 'PNM'),
                 (b'P6', 'PNM'), (b'P7', 'PAM'), (b'qoif', 'QOI'))
# Lines the image decoders (libpng, libjpeg, OpenCV's logger) print to stderr.
_DECODER_LINE_PREFIXES = ('libpng', 'Corrupt JPEG', 'Premature end of JPEG', 'Invalid SOS',
                          'Inconsistent progression', 'Warning: unknown JFIF', 'Bogus',
                          'Not a JPEG', 'Unsupported', '[ WARN:', '[ERROR:', '[ INFO:',
                          '[DEBUG:', 'OpenCV(')
_JPEG_CORRUPTION = ('Corrupt JPEG', 'Premature end of JPEG')
_stderr_lock = threading.Lock()
_stderr_sink = -1   # descriptor of one unlinked temporary file, reused for every capture


class CompressedHeader(NamedTuple):
    """What a PNG or JPEG header declares: ``format`` ('png'|'jpeg'), size in pixels, depth."""

    format: str  # noqa: A003 - the field name of the ROS message it describes
    width: int
    height: int
    bit_depth: int


def compressed_image_header(data: Any) -> CompressedHeader:
    """
    Read format, width, height and bit depth from a PNG (IHDR) or JPEG (SOFn) header.

    Parses bytes only (nothing is decoded), so a decompression bomb is sized for a few bytes.
    Raises :class:`ImageConversionError` for an empty, truncated or malformed header, for other
    formats (GIF, BMP, TIFF, PFM/HDR/EXR float images, WebP, ...: detected by their magic
    bytes) and for bit depths other than 8 (JPEG) or 1/2/4/8/16 (PNG).
    """
    buf = _buffer(data)
    head = buf[:16].tobytes()
    if head.startswith(_PNG_MAGIC):
        return _png_header(buf)
    if head.startswith(b'\xff\xd8\xff'):
        return _jpeg_header(buf)
    for magic, name in _OTHER_MAGICS:
        if head.startswith(magic):
            raise ImageConversionError(
                f'unsupported compressed image format {name}; supported: png, jpeg (8-bit)')
    raise ImageConversionError(
        f'compressed image data is neither PNG nor JPEG (first bytes {head[:8].hex()})')


def _png_header(buf: np.ndarray) -> CompressedHeader:
    if buf.size < 33 or buf[12:16].tobytes() != b'IHDR':
        raise ImageConversionError(f'PNG data of {buf.size} bytes has no complete IHDR header')
    width, height = (int(v) for v in buf[16:24].view('>u4'))
    depth, colour = int(buf[24]), int(buf[25])
    if colour not in (0, 2, 3, 4, 6) or depth not in (1, 2, 4, 8, 16) or \
            not (0 < width < 2 ** 31 and 0 < height < 2 ** 31):
        raise ImageConversionError(
            f'invalid PNG header: {width}x{height}, bit depth {depth}, colour type {colour}')
    # A complete PNG ends with an IEND chunk; a truncated one would only make libpng complain.
    if buf.size < 45 or buf[-8:-4].tobytes() != b'IEND':
        raise ImageConversionError(f'PNG data of {buf.size} bytes is truncated (no IEND chunk)')
    return CompressedHeader('png', width, height, depth)


def _jpeg_header(buf: np.ndarray) -> CompressedHeader:
    data = buf.tobytes()
    pos = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and \
                data[pos + 1] == 0xFF:
            pos += 1   # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:   # TEM / RSTn: no length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):   # EOI or start of scan before any frame header
            break
        length = int.from_bytes(data[pos + 2:pos + 4], 'big')
        if marker in _JPEG_SOF:
            if length < 8 or pos + 10 > len(data):
                break
            precision = data[pos + 4]
            height = int.from_bytes(data[pos + 5:pos + 7], 'big')
            width = int.from_bytes(data[pos + 7:pos + 9], 'big')
            if precision != 8 or width == 0 or height == 0:
                raise ImageConversionError(
                    f'unsupported JPEG: {width}x{height}, {precision}-bit samples (supported: '
                    '8-bit with the size in the frame header)')
            # A complete JPEG ends with EOI; a truncated one would only make libjpeg complain.
            if buf[-2:].tobytes() != b'\xff\xd9':
                raise ImageConversionError(
                    f'JPEG data of {buf.size} bytes is truncated (no end-of-image marker)')
            return CompressedHeader('jpeg', width, height, 8)
        if length < 2:
            break
        pos += 2 + length
    raise ImageConversionError(f'JPEG data of {buf.size} bytes has no valid frame header')


@contextlib.contextmanager
def _captured_stderr() -> Iterator[List[str]]:
    """
    Capture what C libraries write to file descriptor 2 while the block runs.

    Yields a list that receives the captured decoder lines afterwards; any other line (another
    thread's log output written in the meantime) is written back to stderr unchanged. Where no
    temporary file or descriptor is available nothing is captured.
    """
    global _stderr_sink
    lines: List[str] = []
    with _stderr_lock:
        try:
            if _stderr_sink < 0:
                fd, path = tempfile.mkstemp(prefix='adaptive_depth_stderr_')
                os.unlink(path)
                _stderr_sink = fd
            saved = os.dup(2)
        except OSError:
            yield lines
            return
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        try:
            os.dup2(_stderr_sink, 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        size = os.lseek(_stderr_sink, 0, os.SEEK_CUR)
        os.lseek(_stderr_sink, 0, os.SEEK_SET)
        text = os.read(_stderr_sink, size).decode('utf-8', 'replace') if size else ''
        os.ftruncate(_stderr_sink, 0)
        os.lseek(_stderr_sink, 0, os.SEEK_SET)
        other = []
        for line in text.splitlines(keepends=True):
            if line.lstrip().startswith(_DECODER_LINE_PREFIXES):
                lines.append(line.strip())
            else:
                other.append(line)
        if other:
            os.write(2, ''.join(other).encode())


def compressed_msg_to_rgb(msg: Any, max_pixels: Optional[int] = None) -> np.ndarray:
    """
    Decode a ``sensor_msgs/CompressedImage`` (PNG or 8-bit JPEG) to H×W×3 uint8 RGB.

    The payload is identified by its content (``format`` may say e.g. ``'jpeg'``, ``'png'`` or
    ``'rgb8; jpeg compressed bgr8'``), and its header is read BEFORE decoding: with
    ``max_pixels`` an image outside :func:`adaptive_depth.input_limits.check_image_size` raises
    :class:`~adaptive_depth.input_limits.ImageSizeError` without being decoded. PNG may be 1-16
    bits per sample, grey, palette or colour, with or without alpha (alpha dropped, 16-bit
    reduced to its high byte); JPEG must be 8-bit. A one-channel image whose ``format`` names a
    Bayer encoding first (image_transport's ``'bayer_rggb8; png compressed ...'``) is
    demosaiced as that pattern. Every other format (float PFM/HDR/EXR/TIFF,
    GIF, BMP, WebP, ``compressedDepth``), truncated or corrupt data raise
    :class:`ImageConversionError`; the decoders' own stderr messages become part of the error
    message instead of being printed.
    """
    fmt = str(getattr(msg, 'format', '')).lower()
    if 'compresseddepth' in fmt:
        raise ImageConversionError(
            f'compressed depth format {msg.format!r} is not a colour image')
    buf = _buffer(msg.data)
    if buf.size == 0:
        raise ImageConversionError(f'compressed image (format {fmt!r}) has no data')
    header = compressed_image_header(buf)
    if max_pixels is not None:
        check_image_size(header.height, header.width, max_pixels)
    with _captured_stderr() as messages:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    said = f': {"; ".join(messages)}' if messages else ''
    if img is None:
        raise ImageConversionError(
            f'could not decode compressed {header.format} image ({buf.size} bytes, format '
            f'{fmt!r}){said}')
    if any(m.startswith(_JPEG_CORRUPTION) for m in messages):
        raise ImageConversionError(f'corrupt compressed {header.format} image{said}')
    if img.shape[:2] != (header.height, header.width) or img.dtype not in (np.uint8, np.uint16):
        raise ImageConversionError(
            f'decoded {header.format} image is {img.dtype} {img.shape}, its header says '
            f'{header.width}x{header.height}x{header.bit_depth}-bit')
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 2:   # grey + alpha
        img = img[:, :, 0]
    source = fmt.split(';')[0].strip()   # image_transport: '<encoding>; png compressed ...'
    bayer = _bayer_code(source)
    if img.ndim == 2 and bayer is not None:
        return _convert(img, bayer, source)   # a mosaic sent as grey
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def depth_to_image_fields(depth: np.ndarray) -> Dict[str, Any]:
    """
    Build ``sensor_msgs/Image`` fields for H×W depth in metres as little-endian 32FC1.

    Zero, negative and non-finite depth is written as NaN. Returns a dict with ``encoding``,
    ``height``, ``width``, ``step`` (4·W), ``is_bigendian`` (0) and ``data`` (1-D uint8 array).
    """
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f'depth must be an HxW array, got shape {d.shape}')
    out = d.astype('<f4', copy=True)
    with np.errstate(invalid='ignore'):
        out[~(np.isfinite(out) & (out > 0))] = np.nan
    h, w = out.shape
    return {'encoding': '32FC1', 'height': h, 'width': w, 'step': 4 * w, 'is_bigendian': 0,
            'data': out.reshape(-1).view(np.uint8)}


def rgb_to_image_fields(rgb: np.ndarray, encoding: str = 'rgb8') -> Dict[str, Any]:
    """
    Build ``sensor_msgs/Image`` fields for an H×W×3 uint8 RGB image in the given encoding.

    ``encoding`` is rgb8, bgr8, rgba8, bgra8 or mono8 (alpha is written as 255, mono8 is the
    ITU-R BT.601 luma). ``data`` is a 1-D uint8 array of step × height bytes (no padding).
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f'rgb must be an HxWx3 uint8 array, got {img.dtype} {img.shape}')
    if encoding not in _COLOR_CHANNELS:
        raise ValueError(f'unsupported colour encoding {encoding!r} to write; supported: '
                         f'{", ".join(WRITABLE_COLOR_ENCODINGS)}')
    code = {'rgb8': None, 'bgr8': cv2.COLOR_RGB2BGR, 'rgba8': cv2.COLOR_RGB2RGBA,
            'bgra8': cv2.COLOR_RGB2BGRA, 'mono8': cv2.COLOR_RGB2GRAY}[encoding]
    img = np.ascontiguousarray(img)
    out = img.copy() if code is None else cv2.cvtColor(img, code)
    h, w = img.shape[:2]
    return {'encoding': encoding, 'height': h, 'width': w,
            'step': w * _COLOR_CHANNELS[encoding], 'is_bigendian': 0, 'data': out.reshape(-1)}


def _image_window(msg: Any) -> Tuple[int, int, int, int, int, int]:
    """
    Return the (x_offset, y_offset, width, height) of a CameraInfo's ROI and its binning (x, y).

    As REP 104 and image_geometry define them: binning 0 is 1; an ROI of zero width or height is
    the whole ``width`` × ``height`` image; both are in full-resolution pixels.
    """
    width, height = int(msg.width), int(msg.height)
    bx = int(getattr(msg, 'binning_x', 0) or 1)
    by = int(getattr(msg, 'binning_y', 0) or 1)
    roi = getattr(msg, 'roi', None)
    x0, y0, rw, rh = ((int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height))
                      if roi is not None else (0, 0, 0, 0))
    if rw == 0 or rh == 0:
        x0, y0, rw, rh = 0, 0, width, height
    if x0 + rw > width or y0 + rh > height:
        raise ImageConversionError(f'camera_info roi {rw}x{rh}+{x0}+{y0} lies outside the '
                                   f'{width}x{height} image')
    return x0, y0, rw, rh, bx, by


def camera_info_to_intrinsics(msg: Any, rectified: bool = False) -> Intrinsics:
    """
    Read pinhole intrinsics (pixels) of the image a ``sensor_msgs/CameraInfo`` comes with.

    ``rectified`` False (the image as the lens took it): ``k``, or the left 3×3 of ``p`` if ``k``
    is all zero. True (an image_proc rectified image, whose projection is ``p``): the left 3×3
    of ``p``, or ``k`` if ``p`` is all zero. A camera that publishes a region of interest or
    binned pixels (``roi``, ``binning_x/y``; k and p describe the full sensor) gets the
    intrinsics of the published image, as image_geometry computes them: f / binning,
    (c − offset) / binning, size = ROI size / binning. Raises :class:`ImageConversionError`
    when fx/fy are zero, negative or non-finite, the ROI is outside the image, or the image size
    is not positive.
    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    p = np.asarray(msg.p, dtype=np.float64).reshape(-1)
    if k.size != 9:
        raise ImageConversionError(f'camera_info k must have 9 elements, got {k.size}')
    if p.size != 12:
        raise ImageConversionError(f'camera_info p must have 12 elements, got {p.size}')
    p3 = p.reshape(3, 4)[:, :3].reshape(-1)
    first, second = (p3, k) if rectified else (k, p3)
    m = (first if np.any(first) else second).reshape(3, 3)
    x0, y0, rw, rh, bx, by = _image_window(msg)
    intr = Intrinsics(float(m[0, 0]) / bx, float(m[1, 1]) / by, (float(m[0, 2]) - x0) / bx,
                      (float(m[1, 2]) - y0) / by, rw // bx, rh // by)
    try:
        intr.validate()
    except ValueError as exc:
        raise ImageConversionError(f'invalid camera_info: {exc}') from exc
    return intr


def camera_info_to_distortion(msg: Any, rectified: bool = False) -> Optional[Distortion]:
    """
    Return the lens distortion of the image a ``sensor_msgs/CameraInfo`` describes, or None.

    None for a rectified image (``rectified``) or an all-zero ``d`` (a pinhole camera). Raises
    ``ValueError`` naming the problem for a model :mod:`adaptive_depth.lens` does not support or
    a ``d`` the model does not take.
    """
    if rectified:
        return None
    return make_distortion(str(msg.distortion_model), [float(c) for c in msg.d])


def camera_info_to_camera(msg: Any, rectified: bool = False
                          ) -> Tuple[Intrinsics, Optional[Distortion], str]:
    """
    Return what the point cloud needs from a ``sensor_msgs/CameraInfo``: intrinsics, distortion.

    The third value is ``''``, or why the distortion was set aside (a model or ``d`` this
    package cannot invert): the cloud then uses the pinhole model, and the caller says so.
    Raises :class:`ImageConversionError` when the intrinsics are unusable.
    """
    intr = camera_info_to_intrinsics(msg, rectified)
    try:
        return intr, camera_info_to_distortion(msg, rectified), ''
    except ValueError as exc:
        return intr, None, (f'{exc}: the point cloud uses the pinhole model (rectify the image, '
                            'e.g. with image_proc, and set input_rectified)')


def depth_camera_info_fields(intr: Intrinsics, source: Any = None,
                             rectified: bool = False) -> Dict[str, Any]:
    """
    Build the fields of the depth image's ``sensor_msgs/CameraInfo`` (the one rule for it).

    ``intr``: the intrinsics at the depth resolution (k, and p = [k | 0]). The depth pixels are
    the input pixels, so the lens of the input (``source``'s ``distortion_model`` and ``d``,
    which do not change with the resolution) is copied unless the input is ``rectified``,
    whose pixels have none (all-zero ``d``).
    """
    fields = intrinsics_to_camera_info_fields(intr)
    if source is not None and not rectified:
        fields['distortion_model'] = str(source.distortion_model)
        fields['d'] = [float(c) for c in source.d]
    return fields


def intrinsics_to_camera_info_fields(intr: Intrinsics,
                                     distortion_model: str = 'plumb_bob') -> Dict[str, Any]:
    """
    Build ``sensor_msgs/CameraInfo`` fields for an undistorted pinhole camera.

    Returns ``width``, ``height``, ``distortion_model``, ``d`` (zeros: 5 for plumb_bob, 8 for
    rational_polynomial, 4 for equidistant), ``k`` (9), ``r`` (identity, 9), ``p`` (12, K with zero
    translation), ``binning_x``/``binning_y`` (0) and ``roi`` offsets/size (0) as plain values.
    """
    intr.validate()
    n_d = {'plumb_bob': 5, 'rational_polynomial': 8, 'equidistant': 4}.get(distortion_model, 5)
    k = intr.matrix
    p = np.zeros((3, 4), np.float64)
    p[:, :3] = k
    return {'width': int(intr.width), 'height': int(intr.height),
            'distortion_model': distortion_model, 'd': [0.0] * n_d,
            'k': k.reshape(-1).tolist(), 'r': np.eye(3).reshape(-1).tolist(),
            'p': p.reshape(-1).tolist(), 'binning_x': 0, 'binning_y': 0,
            'roi': {'x_offset': 0, 'y_offset': 0, 'height': 0, 'width': 0,
                    'do_rectify': False}}


def cloud_to_pointcloud2_fields(buf: CloudBuffer) -> Dict[str, Any]:
    """
    Build ``sensor_msgs/PointCloud2`` fields for a packed organised cloud.

    ``fields`` is a list of dicts ``{name, offset, datatype, count}`` (callers build their own
    PointField instances); ``data`` is the 1-D uint8 view of ``buf.data`` (height × row_step
    bytes); ``is_bigendian`` is False and ``is_dense`` False (NaN points are kept).
    """
    data = np.asarray(buf.data)
    if data.dtype != np.uint8 or data.size != buf.height * buf.row_step:
        raise ValueError(
            f'cloud data must be uint8 of height*row_step = {buf.height * buf.row_step} bytes, '
            f'got {data.dtype} with {data.size} elements')
    return {'height': int(buf.height), 'width': int(buf.width),
            'fields': [{'name': f.name, 'offset': int(f.offset), 'datatype': int(f.datatype),
                        'count': int(f.count)} for f in buf.fields],
            'is_bigendian': False, 'point_step': int(buf.point_step),
            'row_step': int(buf.row_step), 'data': data.reshape(-1), 'is_dense': False}


def fill_message(msg: Any, fields: Dict[str, Any]) -> Any:
    """
    Set ``msg``'s fields from a field dict of this module and return ``msg``.

    Works for rclpy messages: numpy uint8 arrays become ``bytes`` (assigning a numpy array to
    an rclpy ``uint8[]`` field is ~70× slower), other numpy arrays become lists, and nested
    dicts (``roi``) fill the existing sub-message. ``rosbags`` messages take the arrays as they
    are and are built with their constructors instead.
    """
    for key, value in fields.items():
        if isinstance(value, dict):
            fill_message(getattr(msg, key), value)
            continue
        if isinstance(value, np.ndarray):
            value = value.tobytes() if value.dtype == np.uint8 else value.tolist()
        setattr(msg, key, value)
    return msg
