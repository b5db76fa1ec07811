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

"""Tests for adaptive_depth.ros.conversions with rclpy, rosbags and plain message objects."""

import array
from types import SimpleNamespace

from adaptive_depth.geometry import (backproject, Intrinsics, NYU_INTRINSICS,
                                     pack_organized_cloud, project)
from adaptive_depth.input_limits import ImageSizeError
from adaptive_depth.ros import conversions
from adaptive_depth.ros.conversions import (camera_info_to_intrinsics, cloud_to_pointcloud2_fields,
                                            compressed_image_header,
                                            compressed_msg_to_rgb, depth_to_image_fields,
                                            fill_message, image_msg_to_depth, image_msg_to_rgb,
                                            ImageConversionError,
                                            intrinsics_to_camera_info_fields,
                                            rgb_to_image_fields, WRITABLE_COLOR_ENCODINGS)
import cv2
import numpy as np
import pytest

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def _msg(**fields):
    """Return a message stand-in: attributes; nested dicts (e.g. roi) as nested messages."""
    return SimpleNamespace(**{k: _msg(**v) if isinstance(v, dict) else v
                              for k, v in fields.items()})


def _rosbags_types():
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_JAZZY).types


def _rosbags_header():
    types = _rosbags_types()
    return types['std_msgs/msg/Header'](
        stamp=types['builtin_interfaces/msg/Time'](sec=1, nanosec=2), frame_id='cam')


@pytest.mark.parametrize('encoding', WRITABLE_COLOR_ENCODINGS)
def test_rgb_round_trip_every_encoding(encoding):
    fields = rgb_to_image_fields(RGB, encoding)
    assert fields['encoding'] == encoding and fields['data'].dtype == np.uint8
    assert fields['data'].size == fields['step'] * fields['height']
    out = image_msg_to_rgb(_msg(**fields))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.writeable
    if encoding == 'mono8':
        gray = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)
        np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=2))
    else:
        np.testing.assert_array_equal(out, RGB)


def test_bgr_channel_order():
    fields = rgb_to_image_fields(RGB, 'bgr8')
    np.testing.assert_array_equal(fields['data'].reshape(5, 7, 3), RGB[..., ::-1])
    raw = RGB.reshape(-1).copy()
    np.testing.assert_array_equal(
        image_msg_to_rgb(_msg(encoding='bgr8', height=5, width=7, step=21, is_bigendian=0,
                              data=raw)), RGB[..., ::-1])


@pytest.mark.parametrize('encoding,ch', [('rgb8', 3), ('bgra8', 4), ('mono8', 1)])
def test_step_padding(encoding, ch):
    pad = 5
    rows = np.zeros((5, 7 * ch + pad), np.uint8)
    pix = RNG.integers(0, 256, (5, 7, ch), dtype=np.uint8)
    rows[:, :7 * ch] = pix.reshape(5, -1)
    rows[:, 7 * ch:] = 99   # garbage in the padding must be ignored
    out = image_msg_to_rgb(_msg(encoding=encoding, height=5, width=7, step=7 * ch + pad,
                                is_bigendian=0, data=rows.tobytes()))
    if encoding == 'rgb8':
        np.testing.assert_array_equal(out, pix)
    elif encoding == 'bgra8':
        np.testing.assert_array_equal(out, pix[..., 2::-1])
    else:
        np.testing.assert_array_equal(out[..., 2], pix[..., 0])


def _flat_colour_rows(colours, width=8, height=6):
    """Return an H×W×3 RGB image of vertical colour bands (each band 4 pixels wide)."""
    img = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(colours):
        img[:, 4 * i:4 * i + 4] = colour
    return img


@pytest.mark.parametrize('pattern', ['rggb', 'bggr', 'gbrg', 'grbg'])
@pytest.mark.parametrize('bits', [8, 16])
def test_bayer_mosaics_are_demosaiced_to_their_colours(pattern, bits):
    rgb = _flat_colour_rows([(200, 100, 30), (20, 180, 240)], width=16, height=8)
    index = {'r': 0, 'g': 1, 'b': 2}
    mosaic = np.zeros(rgb.shape[:2], np.uint16)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):  # the pattern's 2×2 cell
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, index[pattern[k]]]
    if bits == 16:   # 16 bit: the value in the upper byte, noise in the lower one
        data = (mosaic * 256 + 77).astype('>u2').view(np.uint8)
    else:
        data = mosaic.astype(np.uint8)
    out = image_msg_to_rgb(_msg(encoding=f'bayer_{pattern}{bits}', height=8, width=16,
                                step=16 * bits // 8, is_bigendian=1, data=data.reshape(-1)))
    assert out.shape == (8, 16, 3) and out.dtype == np.uint8
    # inside each flat band, away from its edges, demosaicing gives the colour back
    np.testing.assert_array_equal(out[2:6, 1:3], rgb[2:6, 1:3])
    np.testing.assert_array_equal(out[2:6, 10:14], rgb[2:6, 10:14])


def test_compressed_bayer_mosaic_is_demosaiced_by_its_format():
    rgb = _flat_colour_rows([(200, 100, 30), (20, 180, 240)], width=16, height=8)
    mosaic = rgb[..., 1].copy()                      # RGGB
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    ok, png = cv2.imencode('.png', mosaic)
    assert ok
    out = compressed_msg_to_rgb(_msg(format='bayer_rggb8; png compressed bayer_rggb8',
                                     data=png.tobytes()))
    np.testing.assert_array_equal(out[2:6, 1:3], rgb[2:6, 1:3])
    grey = compressed_msg_to_rgb(_msg(format='png', data=png.tobytes()))   # no pattern named
    np.testing.assert_array_equal(grey[..., 0], mosaic)


@pytest.mark.parametrize('encoding,order', [('yuv422', 'UYVY'), ('yuv422_yuy2', 'YUYV')])
def test_yuv422_is_converted_to_rgb(encoding, order):
    rgb = _flat_colour_rows([(200, 100, 30), (20, 180, 240)])
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    # BT.601 video range (Y 16-235), what webcams send over V4L2 and OpenCV decodes
    planes = {'Y': 16 + 65.481 * r + 128.553 * g + 24.966 * b,
              'U': 128 - 37.797 * r - 74.203 * g + 112.0 * b,
              'V': 128 + 112.0 * r - 93.786 * g - 18.214 * b}
    packed = np.zeros((6, 4, 4), np.uint8)   # 2 pixels per 4 bytes
    for k, name in enumerate(order):
        pixel = k // 2 if name == 'Y' else 0   # Y of the 1st and 2nd pixel; U, V shared
        packed[..., k] = np.clip(np.round(planes[name][:, pixel::2]), 0, 255)
    out = image_msg_to_rgb(_msg(encoding=encoding, height=6, width=8, step=16,
                                is_bigendian=0, data=packed.reshape(-1)))
    assert np.abs(out.astype(int) - rgb).max() <= 3


def test_sixteen_bit_colour_keeps_the_upper_byte_in_either_byte_order():
    pix = RNG.integers(0, 65536, (3, 4, 4), dtype=np.uint16)
    for bigendian in (0, 1):
        data = pix.astype('>u2' if bigendian else '<u2').view(np.uint8).reshape(-1)
        out = image_msg_to_rgb(_msg(encoding='bgra16', height=3, width=4, step=32,
                                    is_bigendian=bigendian, data=data))
        np.testing.assert_array_equal(out, (pix[..., 2::-1] >> 8).astype(np.uint8))


@pytest.mark.parametrize('change,match', [
    ({'encoding': 'nv21'}, 'unsupported colour encoding'),
    ({'encoding': 'yuv422', 'width': 5, 'step': 10, 'data': np.zeros(50, np.uint8)},
     'even width'),
    ({'width': 0}, 'zero'),
    ({'height': 0}, 'zero'),
    ({'step': 20}, 'step 20 is smaller'),
    ({'data': np.zeros(104, np.uint8)}, 'expected step\\*height'),
])
def test_rgb_rejections(change, match):
    fields = rgb_to_image_fields(RGB, 'rgb8')
    fields.update(change)
    with pytest.raises(ImageConversionError, match=match):
        image_msg_to_rgb(_msg(**fields))


def test_depth_round_trip_32fc1_with_invalid():
    depth = RNG.uniform(0.3, 9.0, (4, 6)).astype(np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2], depth[3, 3] = 0.0, np.nan, np.inf, -1.0
    fields = depth_to_image_fields(depth)
    assert (fields['encoding'], fields['step'], fields['is_bigendian']) == ('32FC1', 24, 0)
    assert fields['data'].dtype == np.uint8 and fields['data'].size == 96
    out = image_msg_to_depth(_msg(**fields))
    bad = ~(np.isfinite(depth) & (depth > 0))
    assert np.all(np.isnan(out[bad]))
    np.testing.assert_array_equal(out[~bad], depth[~bad])


@pytest.mark.parametrize('bigendian', [0, 1])
def test_depth_16uc1_and_32fc1_endianness_and_padding(bigendian):
    mm = np.array([[0, 1000, 65535], [1, 2500, 700]], np.uint16)
    order = '>' if bigendian else '<'
    rows = np.zeros((2, 8), np.uint8)   # 6 bytes of pixels + 2 bytes padding per row
    rows[:, :6] = mm.astype(order + 'u2').view(np.uint8).reshape(2, 6)
    out = image_msg_to_depth(_msg(encoding='16UC1', height=2, width=3, step=8,
                                  is_bigendian=bigendian, data=rows.reshape(-1)))
    assert out.dtype == np.float32 and np.isnan(out[0, 0])
    np.testing.assert_allclose(out[0, 1:], [1.0, 65.535], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.001, 2.5, 0.7], rtol=1e-6)
    metres = np.array([[1.5, 0.0], [np.nan, 7.25]], np.float32)
    raw = metres.astype(order + 'f4').tobytes()
    out = image_msg_to_depth(_msg(encoding='32FC1', height=2, width=2, step=8,
                                  is_bigendian=bigendian, data=raw))
    np.testing.assert_array_equal(out, [[1.5, np.nan], [np.nan, 7.25]])


def test_depth_rejections():
    with pytest.raises(ImageConversionError, match='unsupported depth encoding'):
        image_msg_to_depth(_msg(encoding='rgb8', height=1, width=1, step=3, is_bigendian=0,
                                data=b'abc'))
    with pytest.raises(ImageConversionError, match='step 2 is smaller'):
        image_msg_to_depth(_msg(encoding='32FC1', height=1, width=1, step=2, is_bigendian=0,
                                data=b'ab'))
    with pytest.raises(ImageConversionError, match='expected step'):
        image_msg_to_depth(_msg(encoding='16UC1', height=2, width=1, step=2, is_bigendian=0,
                                data=b'ab'))


@pytest.mark.parametrize('fmt,ext', [('jpeg', '.jpg'), ('rgb8; jpeg compressed bgr8', '.jpg'),
                                     ('png', '.png')])
def test_compressed(fmt, ext):
    img = np.zeros((32, 48, 3), np.uint8)
    img[:, :24] = (200, 30, 10)   # RGB
    img[:, 24:] = (10, 40, 220)
    ok, enc = cv2.imencode(ext, img[..., ::-1])
    assert ok
    out = compressed_msg_to_rgb(_msg(format=fmt, data=enc.reshape(-1)))
    assert out.shape == (32, 48, 3)
    err = np.abs(out.astype(int) - img.astype(int))
    if ext == '.png':
        assert err.max() == 0
    else:   # lossy: compare away from the colour edge (chroma subsampling)
        assert err[:, :16].max() <= 12 and err[:, 32:].max() <= 12
    with pytest.raises(ImageConversionError, match='neither PNG nor JPEG'):
        compressed_msg_to_rgb(_msg(format=fmt, data=b'\x00\x01garbage'))
    with pytest.raises(ImageConversionError, match='no data'):
        compressed_msg_to_rgb(_msg(format=fmt, data=b''))


def _encode(img, ext, params=()):
    ok, enc = cv2.imencode(ext, img, list(params))
    assert ok
    return enc.tobytes()


def test_compressed_header_is_read_without_decoding(monkeypatch):
    img = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    assert compressed_image_header(_encode(img, '.png')) == ('png', 53, 37, 8)
    assert compressed_image_header(_encode(img[..., 0], '.png')) == ('png', 53, 37, 8)
    assert compressed_image_header(_encode(img.astype(np.uint16), '.png')).bit_depth == 16
    # JPEG: the frame header follows APP0/DQT/... segments, progressive too (SOF2)
    jpeg = _encode(img, '.jpg', (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    assert compressed_image_header(jpeg) == ('jpeg', 53, 37, 8)
    exif = jpeg[:2] + b'\xff\xe1\x00\x10Exif\x00\x00' + bytes(8) + jpeg[2:]
    assert compressed_image_header(exif) == ('jpeg', 53, 37, 8)
    # A 6-kB-ish PNG that decodes to 2500 x 2500 is refused from its header alone.
    bomb = _encode(np.zeros((2500, 2500, 3), np.uint8), '.png')
    assert len(bomb) < 30_000

    def no_decode(*args):
        raise AssertionError('imdecode must not run for a refused image')
    monkeypatch.setattr(conversions.cv2, 'imdecode', no_decode)
    with pytest.raises(ImageSizeError, match='6250000 pixels exceeds the limit of 4000000'):
        compressed_msg_to_rgb(_msg(format='png', data=bomb), max_pixels=4_000_000)
    with pytest.raises(ImageSizeError, match='aspect ratio'):
        compressed_msg_to_rgb(_msg(format='png', data=_encode(np.zeros((1, 4097), np.uint8),
                                                              '.png')), max_pixels=10**7)


def test_compressed_rejects_other_formats_and_corrupt_data_quietly(capfd):
    img = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    png, jpeg = _encode(img, '.png'), _encode(img, '.jpg')
    float_tiff = _encode(np.ones((4, 4), np.float32), '.tiff')
    pfm = b'PF\n2 2\n-1.0\n' + np.ones(12, np.float32).tobytes()
    hdr = b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n' + b'\x80' * 16
    gif = b'GIF89a\x10\x00\x10\x00' + bytes(20)
    capfd.readouterr()
    cases = {
        float_tiff: 'TIFF', pfm: 'PFM', hdr: 'HDR', gif: 'GIF', b'BM' + bytes(60): 'BMP',
        png[:len(png) // 2]: 'truncated', jpeg[:len(jpeg) // 2]: 'truncated',
        png[:40] + bytes([png[40] ^ 0xFF]) + png[41:]: 'could not decode',
        png[:-30] + b'x' * 18 + png[-12:]: 'could not decode.*libpng error',
        jpeg[:200] + b'\xff\x00abc' + jpeg[200:]: 'Corrupt JPEG data',
        png[:16] + (2 ** 31).to_bytes(4, 'big') + png[20:]: 'invalid PNG header',
        png[:24] + b'\x20' + png[25:]: 'invalid PNG header',
        jpeg[:2] + b'\xff\xc0\x00\x11\x0c' + jpeg[7:]: 'no valid frame header|12-bit',
    }
    for data, match in cases.items():
        with pytest.raises(ImageConversionError, match=match):
            compressed_msg_to_rgb(_msg(format='png', data=data), max_pixels=2**40)
    out, err = capfd.readouterr()
    assert out == '' and err == '', 'decoders printed to stdout/stderr'
    # 16-bit PNG keeps its high byte, grey PNG is replicated
    wide = compressed_msg_to_rgb(_msg(format='png', data=_encode(
        img.astype(np.uint16) * 257, '.png')))
    np.testing.assert_array_equal(wide, img[..., ::-1])
    grey = compressed_msg_to_rgb(_msg(format='png', data=_encode(img[..., 0], '.png')))
    np.testing.assert_array_equal(grey, np.repeat(img[..., :1], 3, axis=2))


def test_captured_stderr_passes_other_output_through(capfd):
    import os
    with conversions._captured_stderr() as lines:
        os.write(2, b'libpng warning: iCCP: known incorrect sRGB profile\n')
        os.write(2, b'[WARN] [1.0] [node]: another thread logged this\n')
    assert lines == ['libpng warning: iCCP: known incorrect sRGB profile']
    assert capfd.readouterr().err == '[WARN] [1.0] [node]: another thread logged this\n'


def test_raw_image_limits():
    msg = _msg(encoding='mono8', height=1, width=4097, step=4097, data=bytes(4097))
    assert image_msg_to_rgb(msg).shape == (1, 4097, 3)   # no limits asked for
    with pytest.raises(ImageSizeError, match='aspect ratio'):
        image_msg_to_rgb(msg, max_pixels=10**6)
    msg = _msg(encoding='mono8', height=100, width=120, step=120, data=bytes(12000))
    assert image_msg_to_rgb(msg, max_pixels=12000).shape == (100, 120, 3)
    with pytest.raises(ImageSizeError, match='max_input_pixels'):
        image_msg_to_rgb(msg, max_pixels=11999)


def test_camera_info_round_trip_and_rejections():
    fields = intrinsics_to_camera_info_fields(NYU_INTRINSICS)
    assert fields['p'][3] == 0.0 and fields['p'][7] == 0.0 and len(fields['p']) == 12
    assert fields['r'] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert fields['d'] == [0.0] * 5 and fields['distortion_model'] == 'plumb_bob'
    assert camera_info_to_intrinsics(_msg(**fields)) == NYU_INTRINSICS
    zero_k = dict(fields, k=[0.0] * 9)   # falls back to p
    assert camera_info_to_intrinsics(_msg(**zero_k)) == NYU_INTRINSICS
    for bad in (0.0, -3.0, float('nan'), 1e-300, 1e300):   # 1e-300 / 1e300: 0 / inf in float32
        k = list(fields['k'])
        k[0] = bad
        with pytest.raises(ImageConversionError, match='fx'):
            camera_info_to_intrinsics(_msg(**dict(fields, k=k)))
    k = list(fields['k'])
    k[2] = 1e300
    with pytest.raises(ImageConversionError, match='cx'):
        camera_info_to_intrinsics(_msg(**dict(fields, k=k)))
    k = list(fields['k'])
    k[4] = 0.0
    with pytest.raises(ImageConversionError, match='fy'):
        camera_info_to_intrinsics(_msg(**dict(fields, k=k)))
    with pytest.raises(ImageConversionError):
        camera_info_to_intrinsics(_msg(**dict(fields, k=[0.0] * 9, p=[0.0] * 12)))


def test_camera_info_roi_and_binning_give_the_published_image_intrinsics():
    full = Intrinsics(1000.0, 1002.0, 640.5, 480.25, 1280, 960)  # the sensor's k and size
    fields = intrinsics_to_camera_info_fields(full)
    binned = dict(fields, binning_x=2, binning_y=2)
    assert camera_info_to_intrinsics(_msg(**binned)) == Intrinsics(
        500.0, 501.0, 320.25, 240.125, 640, 480)
    cropped = dict(binned, roi={'x_offset': 100, 'y_offset': 40, 'width': 800, 'height': 600,
                                'do_rectify': False})
    intr = camera_info_to_intrinsics(_msg(**cropped))
    assert intr == Intrinsics(500.0, 501.0, 270.25, 220.125, 400, 300)
    # a point seen at full-sensor pixel (u, v) is at ((u - 100) / 2, (v - 40) / 2) here
    point = np.array([[0.3, -0.2, 2.0]])
    u, v = project(point, full)[0]
    np.testing.assert_allclose(project(point, intr)[0], [(u - 100) / 2, (v - 40) / 2])
    assert camera_info_to_intrinsics(_msg(**dict(fields, binning_x=0))) == full  # 0 means 1
    outside = dict(fields, roi={'x_offset': 600, 'y_offset': 0, 'width': 800, 'height': 600,
                                'do_rectify': False})
    with pytest.raises(ImageConversionError, match='roi 800x600\\+600\\+0 lies outside'):
        camera_info_to_intrinsics(_msg(**outside))


def test_pointcloud2_fields_and_point_values():
    intr = NYU_INTRINSICS.scaled(16, 12)
    depth = RNG.uniform(0.5, 5.0, (12, 16)).astype(np.float32)
    depth[3, 4] = np.nan
    pts = backproject(depth, intr)
    fields = cloud_to_pointcloud2_fields(pack_organized_cloud(pts, RNG.integers(
        0, 256, (12, 16, 3), dtype=np.uint8)))
    assert [(f['name'], f['offset'], f['datatype'], f['count']) for f in fields['fields']] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]
    assert (fields['height'], fields['width'], fields['point_step'], fields['row_step']) == \
        (12, 16, 16, 256)
    assert fields['is_bigendian'] is False and fields['is_dense'] is False
    data = fields['data']
    assert data.ndim == 1 and data.size == 12 * 256
    f32 = data.view('<f4').reshape(12, 16, 4)
    np.testing.assert_array_equal(f32[..., 2], np.where(np.isfinite(depth), depth, np.nan))
    v, u = np.mgrid[0:12, 0:16]
    np.testing.assert_allclose(f32[..., 0], (u - intr.cx) / intr.fx * depth, rtol=1e-5)
    np.testing.assert_allclose(f32[..., 1], (v - intr.cy) / intr.fy * depth, rtol=1e-5)


def test_rclpy_messages():
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
    msg = Image()
    fields = rgb_to_image_fields(RGB, 'bgr8')
    for key, value in fields.items():
        setattr(msg, key, value.tobytes() if key == 'data' else value)
    assert isinstance(msg.data, array.array)
    np.testing.assert_array_equal(image_msg_to_rgb(msg), RGB)
    depth = np.array([[1.0, 2.0], [0.0, 3.5]], np.float32)
    dmsg = Image()
    for key, value in depth_to_image_fields(depth).items():
        setattr(dmsg, key, value.tobytes() if key == 'data' else value)
    np.testing.assert_array_equal(image_msg_to_depth(dmsg), [[1.0, 2.0], [np.nan, 3.5]])
    info = CameraInfo()
    cf = intrinsics_to_camera_info_fields(NYU_INTRINSICS)
    for key in ('width', 'height', 'distortion_model', 'd', 'k', 'r', 'p'):
        setattr(info, key, cf[key])
    assert camera_info_to_intrinsics(info) == NYU_INTRINSICS
    cloud = cloud_to_pointcloud2_fields(pack_organized_cloud(backproject(
        np.ones((12, 16), np.float32), NYU_INTRINSICS.scaled(16, 12))))
    pc = PointCloud2(height=cloud['height'], width=cloud['width'],
                     fields=[PointField(**f) for f in cloud['fields']],
                     is_bigendian=cloud['is_bigendian'], point_step=cloud['point_step'],
                     row_step=cloud['row_step'], data=cloud['data'].tobytes(),
                     is_dense=cloud['is_dense'])
    assert len(pc.data) == pc.row_step * pc.height and pc.fields[2].offset == 8


def test_fill_message_builds_rclpy_messages():
    from sensor_msgs.msg import CameraInfo, Image
    info = fill_message(CameraInfo(), intrinsics_to_camera_info_fields(NYU_INTRINSICS))
    assert camera_info_to_intrinsics(info) == NYU_INTRINSICS
    assert info.roi.width == 0 and info.roi.do_rectify is False
    assert list(info.p[:4]) == [NYU_INTRINSICS.fx, 0.0, NYU_INTRINSICS.cx, 0.0]
    image = fill_message(Image(), rgb_to_image_fields(RGB, 'rgb8'))
    assert isinstance(image.data, array.array)
    np.testing.assert_array_equal(image_msg_to_rgb(image), RGB)


def test_rosbags_messages():
    types = _rosbags_types()
    image_cls = types['sensor_msgs/msg/Image']
    fields = rgb_to_image_fields(RGB, 'rgba8')
    msg = image_cls(header=_rosbags_header(), **fields)
    np.testing.assert_array_equal(image_msg_to_rgb(msg), RGB)
    dmsg = image_cls(header=_rosbags_header(), **depth_to_image_fields(
        np.array([[0.5, 0.0]], np.float32)))
    np.testing.assert_array_equal(image_msg_to_depth(dmsg), [[0.5, np.nan]])
    ok, enc = cv2.imencode('.png', RGB[..., ::-1])
    cmsg = types['sensor_msgs/msg/CompressedImage'](header=_rosbags_header(), format='png',
                                                    data=enc.reshape(-1))
    np.testing.assert_array_equal(compressed_msg_to_rgb(cmsg), RGB)
    cf = intrinsics_to_camera_info_fields(NYU_INTRINSICS)
    roi = types['sensor_msgs/msg/RegionOfInterest'](**cf['roi'])
    info = types['sensor_msgs/msg/CameraInfo'](
        header=_rosbags_header(), height=cf['height'], width=cf['width'],
        distortion_model=cf['distortion_model'], d=np.array(cf['d']), k=np.array(cf['k']),
        r=np.array(cf['r']), p=np.array(cf['p']), binning_x=0, binning_y=0, roi=roi)
    assert camera_info_to_intrinsics(info) == NYU_INTRINSICS


def test_builder_input_errors():
    with pytest.raises(ValueError, match='HxW'):
        depth_to_image_fields(np.zeros((2, 2, 1), np.float32))
    with pytest.raises(ValueError, match='uint8'):
        rgb_to_image_fields(RGB.astype(np.float32))
    with pytest.raises(ValueError, match='encoding'):
        rgb_to_image_fields(RGB, 'yuv422')
