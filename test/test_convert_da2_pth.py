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

"""Tests of the original-DA2-checkpoint converter (``convert_da2_pth``), offline."""

from adaptive_depth.depth_model import DepthAnythingRunner
from adaptive_depth.testing import make_untrained_depth_anything
from adaptive_depth.tools.convert_da2_pth import (
    _attention_names, ConversionError, convert_state_dict, da2_config, main, rename_map)
import numpy as np
import pytest
import torch


def _to_original(hf_state, config):
    """Build an original-style DA2 state dict (fused qkv, original names) from HF weights."""
    keys = list(hf_state)
    layers = config.backbone_config.num_hidden_layers
    original = {}
    for old, new in rename_map(layers, keys):
        for suffix in ('', '.weight', '.bias'):
            if new + suffix in hf_state:
                original[old + suffix] = hf_state[new + suffix].clone()
    q, k, v, _ = _attention_names(keys)
    for i in range(layers):
        for part in ('weight', 'bias'):
            original[f'pretrained.blocks.{i}.attn.qkv.{part}'] = torch.cat(
                [hf_state[f'backbone.encoder.layer.{i}.{p}.{part}'] for p in (q, k, v)])
    return original


def test_round_trip_of_tiny_model(tiny_da2_dir):
    from transformers import AutoModelForDepthEstimation

    model = AutoModelForDepthEstimation.from_pretrained(tiny_da2_dir, local_files_only=True)
    hf_state = model.state_dict()
    original = _to_original(hf_state, model.config)
    assert any(k.startswith('depth_head.scratch.refinenet4') for k in original)
    converted = convert_state_dict({f'module.{k}': v for k, v in original.items()},
                                   model.config, list(hf_state))
    assert set(converted) == set(hf_state)
    for key, value in hf_state.items():
        torch.testing.assert_close(converted[key], value, rtol=0, atol=0, msg=key)
    with pytest.raises(ConversionError, match='no HF counterpart'):
        convert_state_dict({**original, 'extra.weight': torch.zeros(1)}, model.config,
                           list(hf_state))


def test_cli_converts_a_vits_checkpoint(tmp_path):
    hf_dir = make_untrained_depth_anything(tmp_path / 'hf', size='small', seed=3)
    reference = DepthAnythingRunner(str(hf_dir), device='cpu', input_size=56)
    config = da2_config('vits', metric=True, max_depth=20)
    assert config.backbone_config.hidden_size == 384
    pth = tmp_path / 'depth_anything_v2_metric_hypersim_vits.pth'
    torch.save(_to_original(reference.model.state_dict(), config), pth)
    out = tmp_path / 'converted'
    assert main([str(pth), str(out), '--encoder', 'vits', '--max-depth', '20']) == 0
    converted = DepthAnythingRunner(str(out), device='cpu', input_size=56)
    assert converted.max_depth == 20.0
    image = np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    np.testing.assert_allclose(converted.predict(image), reference.predict(image), rtol=1e-5,
                               atol=1e-5)
    assert main([str(pth), str(tmp_path / 'bad'), '--encoder', 'vitb']) == 2
    assert not (tmp_path / 'bad').exists()
    # A used output is refused, and replaced with --overwrite (nothing of the old one left).
    (out / 'stale.txt').write_text('old')
    assert main([str(pth), str(out)]) == 2
    assert (out / 'stale.txt').exists()
    assert main([str(pth), str(out), '--overwrite']) == 0
    assert not (out / 'stale.txt').exists() and (out / 'config.json').is_file()


def test_pickled_object_is_refused(tmp_path, capsys):
    path = tmp_path / 'module.pth'
    torch.save(torch.nn.Linear(2, 2), path)
    assert main([str(path), str(tmp_path / 'out')]) == 2
    assert 'weights_only' in capsys.readouterr().err
    assert main([str(tmp_path / 'missing.pth'), str(tmp_path / 'out')]) == 2


@pytest.mark.parametrize('value', ['-5', '0', 'nan', 'inf', '-inf'])
def test_max_depth_must_be_finite_and_positive(value, tmp_path, capsys, monkeypatch):
    import adaptive_depth.tools.convert_da2_pth as tool

    def fake_convert(pth, out_dir, *args):   # the real conversion takes seconds: not needed
        out_dir.mkdir(parents=True)
        return out_dir

    monkeypatch.setattr(tool, 'convert_checkpoint', fake_convert)
    pth = tmp_path / 'depth_anything_v2_metric_hypersim_vits.pth'
    pth.write_bytes(b'not read')
    assert main([str(pth), str(tmp_path / 'out'), f'--max-depth={value}']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('convert_da2_pth: error: --max-depth') and '\n' not in err
    assert 'finite number of metres > 0' in err
    assert not (tmp_path / 'out').exists()
    with pytest.raises(ValueError, match='max_depth'):
        da2_config('vits', max_depth=float(value))


def test_fractional_max_depth_is_stored_or_refused_clearly(tmp_path, capsys, monkeypatch):
    from transformers import DepthAnythingConfig
    import adaptive_depth.tools.convert_da2_pth as tool

    try:   # recent transformers declare ``max_depth: int`` in a strict config
        accepts_float = DepthAnythingConfig(max_depth=20.5).max_depth == 20.5
    except Exception:  # noqa: B902 - the strict validation error is no ValueError
        accepts_float = False
    calls = []

    def fake_convert(pth, out_dir, encoder, metric, max_depth):
        calls.append(max_depth)
        out_dir.mkdir(parents=True)
        return out_dir

    monkeypatch.setattr(tool, 'convert_checkpoint', fake_convert)
    pth = tmp_path / 'depth_anything_v2_metric_hypersim_vits.pth'
    pth.write_bytes(b'not read')
    code = main([str(pth), str(tmp_path / 'out'), '--max-depth', '20.5'])
    err = capsys.readouterr().err.strip()
    if accepts_float:
        assert code == 0 and calls == [20.5]
        assert da2_config('vits', max_depth=20.5).max_depth == 20.5
    else:
        assert code == 2 and calls == []
        assert err.startswith('convert_da2_pth: error: --max-depth 20.5') and '\n' not in err
        assert 'whole number' in err and '20 or 21' in err
        with pytest.raises(ConversionError, match='whole number'):
            da2_config('vits', max_depth=20.5)
    # Whole numbers are stored as ints (every transformers version accepts them).
    assert da2_config('vits', max_depth=80.0).max_depth == 80
    assert main([str(pth), str(tmp_path / 'out2'), '--max-depth', '80']) == 0
    assert calls[-1] == 80 and isinstance(calls[-1], int)
