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

"""Tests of the Depth Anything V2 runner (tiny random-weight model, CPU, no network)."""

import json
import shutil
import socket

from adaptive_depth.depth_model import (
    da2_input_size, DepthAnythingRunner, DOCS_URL, hub_unreachable_reason, ImageInputError,
    ModelLoadError, resolve_device, resolve_precision, UnsupportedModelError)
from adaptive_depth.input_limits import ImageSizeError, MAX_ASPECT_RATIO
import numpy as np
import pytest
import torch

INPUT_SIZE = 112  # short side of the network input; small to keep the tests fast


@pytest.fixture(scope='module')
def runner(tiny_da2_dir):
    return DepthAnythingRunner(str(tiny_da2_dir), device='cpu', input_size=INPUT_SIZE)


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth gradient plus noise, so the image is not constant.
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                     (xx + yy) * 255 // max(h + w - 2, 1)], axis=-1)
    noise = rng.integers(0, 40, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize('h,w', [(480, 640), (240, 320), (300, 200)])
def test_output_shape_dtype_and_values(runner, h, w):
    depth = runner.predict(_image(h, w))
    assert depth.shape == (h, w)
    assert depth.dtype == np.float32
    assert np.all(np.isfinite(depth))
    assert np.all(depth > 0)
    assert np.all(depth <= runner.max_depth + 1e-4)
    assert float(depth.std()) > 0  # not a constant map


def test_network_size_keeps_aspect_and_multiples_of_14():
    for h, w in [(480, 640), (240, 320), (300, 200), (518, 518), (100, 400), (719, 1283)]:
        th, tw = da2_input_size(h, w, 518)
        assert th % 14 == 0 and tw % 14 == 0
        assert min(th, tw) >= 518
        # short side maps to (at least) input_size, aspect kept to within one patch
        assert abs(th / tw - h / w) <= 14 / min(th, tw)
        assert min(th, tw) < 518 + 14
    # the nearest multiple of 14 is chosen: 640 * 518 / 480 = 690.7 → 686 (not 700)
    assert da2_input_size(480, 640, 518) == (518, 686)
    assert da2_input_size(640, 480, 518) == (686, 518)
    with pytest.raises(ValueError, match='positive'):
        da2_input_size(0, 10)


@pytest.mark.parametrize('h,w', [(1, 4097), (4097, 1), (100, 401), (70, 286_790)])
def test_network_input_is_bounded(h, w):
    # Beyond 4:1 the image is refused (it would have become a 70 x 286,790 network input).
    with pytest.raises(ImageSizeError, match='aspect ratio'):
        da2_input_size(h, w, 518)


def test_network_input_tokens_bounded_at_the_aspect_limit():
    for h, w in [(1, 4), (4, 1), (128, 512), (3, 12)]:
        th, tw = da2_input_size(h, w, 518)
        assert th * tw <= MAX_ASPECT_RATIO * (518 + 14) ** 2


def test_runner_refuses_extreme_aspect_ratio(runner):
    with pytest.raises(ImageSizeError, match='aspect ratio'):
        runner.predict(np.zeros((2, 4097, 3), np.uint8))


def test_attributes_and_timings(runner, tiny_da2_dir):
    assert runner.name == str(tiny_da2_dir)
    assert runner.max_depth == 20.0
    assert runner.num_parameters == sum(p.numel() for p in runner.model.parameters())
    assert runner.device == torch.device('cpu')
    assert runner.precision == 'fp32'
    assert not runner.model.training
    runner.predict(_image(60, 80))
    assert set(runner.timings) == {'preprocess', 'forward', 'postprocess'}
    assert all(v >= 0 for v in runner.timings.values())


def test_batch_equals_single_and_list_equals_array(runner):
    images = [_image(90, 120, seed=s) for s in range(3)]
    singles = np.stack([runner.predict(im) for im in images])
    batch = runner.predict(np.stack(images))
    as_list = runner.predict(images)
    assert batch.shape == (3, 90, 120)
    np.testing.assert_allclose(batch, singles, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(as_list, batch)
    streamed = np.stack(list(runner.iter_predict(images, batch_size=2)))
    np.testing.assert_allclose(streamed, singles, rtol=1e-4, atol=1e-4)


def test_predict_tensor_matches_predict(runner):
    image = _image(72, 96, seed=4)
    out = runner.predict_tensor(torch.from_numpy(image))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, 72, 96) and out.dtype == torch.float32
    np.testing.assert_allclose(out[0].numpy(), runner.predict(image), rtol=1e-5, atol=1e-5)


def test_bad_images_are_rejected(runner):
    with pytest.raises(ImageInputError, match='uint8'):
        runner.predict(np.zeros((20, 30, 3), np.float32))
    with pytest.raises(ImageInputError, match='shape'):
        runner.predict(np.zeros((20, 30), np.uint8))
    with pytest.raises(ImageInputError, match='same size'):
        runner.predict([np.zeros((20, 30, 3), np.uint8), np.zeros((20, 31, 3), np.uint8)])
    with pytest.raises(ImageInputError, match='empty'):
        runner.predict([])


def test_relative_depth_checkpoint_is_refused(tiny_da2_dir, tmp_path):
    rel = tmp_path / 'relative'
    shutil.copytree(tiny_da2_dir, rel)
    config = json.loads((rel / 'config.json').read_text())
    config['depth_estimation_type'] = 'relative'
    (rel / 'config.json').write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match='relative'):
        DepthAnythingRunner(str(rel), device='cpu')


def test_missing_or_invalid_paths_raise_clear_errors(tmp_path, tiny_da2_dir):
    missing = tmp_path / 'no' / 'such' / 'model'
    with pytest.raises(ModelLoadError, match='neither an existing local directory') as info:
        DepthAnythingRunner(str(missing), device='cpu')
    assert str(missing) in str(info.value)
    with pytest.raises(ModelLoadError, match='is a file'):
        DepthAnythingRunner(str(tiny_da2_dir / 'config.json'), device='cpu')
    with pytest.raises(ModelLoadError, match='no config.json'):
        DepthAnythingRunner(str(tmp_path), device='cpu')


def test_unreachable_hub_id_gives_download_instructions(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
    hub_id = 'adaptive-depth-tests/not-a-real-model-hf'
    with pytest.raises(ModelLoadError) as info:
        DepthAnythingRunner(hub_id, device='cpu')
    message = str(info.value)
    assert hub_id in message
    assert f'huggingface-cli download {hub_id} --local-dir' in message
    assert 'git lfs' in message
    assert isinstance(info.value, OSError)
    assert 'HF_HUB_OFFLINE=1' in message and DOCS_URL in message
    assert 'docs/depth_model.md' not in message.replace(DOCS_URL, '').replace(
        'share/adaptive_depth/docs/depth_model.md', ''), 'cites a path a colcon install lacks'


@pytest.fixture
def hub_env(monkeypatch):
    """Online mode without proxies; returns a function that points HF_ENDPOINT at a port."""
    for name in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HTTPS_PROXY', 'https_proxy',
                 'ALL_PROXY', 'all_proxy'):
        monkeypatch.delenv(name, raising=False)
    return lambda port: monkeypatch.setenv('HF_ENDPOINT', f'http://127.0.0.1:{port}')


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def test_hub_probe_tells_reachable_from_unreachable(hub_env, monkeypatch):
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        hub_env(server.getsockname()[1])
        assert hub_unreachable_reason() is None
    hub_env(_closed_port())
    assert 'is unreachable' in hub_unreachable_reason()
    monkeypatch.setenv('HTTPS_PROXY', 'http://proxy.invalid:3128')
    assert hub_unreachable_reason() is None, 'with a proxy the download decides'
    monkeypatch.setenv('TRANSFORMERS_OFFLINE', 'yes')
    assert 'TRANSFORMERS_OFFLINE=yes' in hub_unreachable_reason()


def test_uncached_hub_id_with_unreachable_hub_fails_without_download(hub_env, monkeypatch):
    """No retries against a hub that is not there: only the cache is consulted, then an error."""
    import transformers

    hub_env(_closed_port())
    calls = []
    real = transformers.AutoConfig.from_pretrained

    def spy(name, *args, **kwargs):
        calls.append(bool(kwargs.get('local_files_only')))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, 'from_pretrained', spy)
    hub_id = 'adaptive-depth-tests/not-cached-model-hf'
    with pytest.raises(ModelLoadError) as info:
        DepthAnythingRunner(hub_id, device='cpu')
    message = str(info.value)
    assert calls == [True], 'only the local cache may be asked, never the hub'
    assert 'is unreachable' in message and 'not in the local Hugging Face cache' in message
    assert f'huggingface-cli download {hub_id}' in message


def test_device_and_precision_resolution():
    cpu = torch.device('cpu')
    assert resolve_device('cpu') == cpu
    assert resolve_device('auto').type == ('cuda' if torch.cuda.is_available() else 'cpu')
    assert resolve_precision('auto', cpu) is None
    assert resolve_precision('auto', torch.device('cuda')) == torch.float16
    assert resolve_precision('bf16', cpu) == torch.bfloat16
    with pytest.warns(RuntimeWarning, match='fp16'):
        assert resolve_precision('fp16', cpu) is None
    with pytest.raises(ValueError, match='precision'):
        resolve_precision('int8', cpu)
    with pytest.raises(ValueError, match='device'):
        resolve_device('tpu:0')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='CUDA is not available'):
            resolve_device('cuda')


def test_bf16_on_cpu_runs_close_to_fp32(tiny_da2_dir, runner):
    bf16 = DepthAnythingRunner(str(tiny_da2_dir), device='cpu', precision='bf16',
                               input_size=INPUT_SIZE)
    assert bf16.precision == 'bf16'
    image = _image(60, 80, seed=7)
    ref = runner.predict(image)
    out = bf16.predict(image)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.all(np.isfinite(out))
    assert np.median(np.abs(out - ref) / ref) < 0.1


def test_uint8_resize_matches_float_resize_within_one_level():
    # The CPU path resizes uint8 directly; other devices resize in float and round. They must
    # agree to within one grey level so CPU and GPU see the same input.
    from adaptive_depth.depth_model import normalisation_constants, resize_normalise

    rgb = torch.from_numpy(_image(120, 160, seed=3))[None]
    one = torch.ones(1, 3, 1, 1)
    zero = torch.zeros(1, 3, 1, 1)
    for mode, size in (('bicubic', (140, 182)), ('bilinear', (64, 64))):
        fast = resize_normalise(rgb, size, one, zero, mode=mode)
        ref = resize_normalise(rgb, size, one, zero, mode=mode, uint8_kernel=False)
        plain = torch.nn.functional.interpolate(
            rgb.permute(0, 3, 1, 2).float(), size=size, mode=mode, align_corners=False,
            antialias=True)
        assert float((fast - plain).abs().mean()) < 1.0  # it is the requested kind of resize
        assert fast.shape == (1, 3) + size
        assert float((fast - ref).abs().max()) <= 1.0
        assert float((fast - ref).abs().mean()) < 0.1
    scale, bias = normalisation_constants((0.5, 0.25, 0.0), (0.5, 0.25, 1.0), torch.device('cpu'))
    x = resize_normalise(torch.full((1, 4, 4, 3), 255, dtype=torch.uint8), (4, 4), scale, bias)
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), [1.0, 3.0, 1.0], rtol=1e-6)
