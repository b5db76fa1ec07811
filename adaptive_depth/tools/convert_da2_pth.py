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
Convert an original Depth Anything V2 ``.pth`` checkpoint to the Hugging Face format.

The original checkpoints (``depth_anything_v2_metric_hypersim_vits.pth`` etc. from the DA2
repository) are plain state dicts; they are read with ``torch.load(weights_only=True)``, their keys
are mapped to ``transformers``' ``DepthAnythingForDepthEstimation`` names (the fused qkv projection
is split into query/key/value), the result is loaded strictly and written with
``save_pretrained``, ready for ``DepthAnythingRunner(model=OUT_DIR)``. Example (indoor, ViT-S)::

    adaptive_depth_convert_da2_pth depth_anything_v2_metric_hypersim_vits.pth ~/models/da2-mi-s \
        --encoder vits
"""

import argparse
import math
import os
from pathlib import Path
import shutil
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from adaptive_depth.tools.common import check_out, tool_main, UserError
import torch

PROG = 'convert_da2_pth'

ENCODERS = {
    # hidden size, layers, heads, HF stage indices of the 4 feature maps, neck sizes, fusion size
    'vits': (384, 12, 6, (3, 6, 9, 12), (48, 96, 192, 384), 64),
    'vitb': (768, 12, 12, (3, 6, 9, 12), (96, 192, 384, 768), 128),
    'vitl': (1024, 24, 16, (5, 12, 18, 24), (256, 512, 1024, 1024), 256),
}


class ConversionError(ValueError):
    """The input is not an original DA2 state dict matching the requested architecture."""


def config_max_depth(max_depth: float, name: str = 'max_depth') -> Union[int, float]:
    """
    Return ``max_depth`` (metres) as the installed ``DepthAnythingConfig`` can store it.

    A whole number is returned as an int. A fractional one is kept only where the installed
    ``transformers`` accepts it: recent versions declare ``max_depth: int`` in a strict config,
    which would neither build nor load a model saved with a fractional value.

    :raises ConversionError: (naming ``name``) for a value that is not finite, is <= 0, or is
        fractional where the installed ``transformers`` requires a whole number.
    """
    value = float(max_depth)
    if not (math.isfinite(value) and value > 0):
        raise ConversionError(f'{name} must be a finite number of metres > 0, got {max_depth}')
    if value.is_integer():
        return int(value)
    import transformers
    from transformers import DepthAnythingConfig

    try:
        DepthAnythingConfig(max_depth=value)
    except Exception:  # noqa: B902 - the strict-dataclass validation error is no ValueError
        raise ConversionError(
            f'{name} {value:g}: the installed transformers {transformers.__version__} stores '
            f'the max_depth of a DA2 model as a whole number of metres; pass e.g. '
            f'{max(1, math.floor(value))} or {math.ceil(value)}') from None
    return value


def da2_config(encoder: str = 'vits', metric: bool = True, max_depth: float = 20.0):
    """
    Return the ``DepthAnythingConfig`` of a DA2 model with the ``encoder`` ViT backbone.

    ``max_depth`` (metres) must be finite and > 0 (see :func:`config_max_depth`).
    """
    from transformers import DepthAnythingConfig, Dinov2Config

    if encoder not in ENCODERS:
        raise ConversionError(f'unknown encoder {encoder!r}: expected one of {sorted(ENCODERS)}')
    max_depth = config_max_depth(max_depth)
    hidden, layers, heads, stages, neck, fusion = ENCODERS[encoder]
    backbone = Dinov2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, mlp_ratio=4, patch_size=14, image_size=518,
        layerscale_value=1.0, out_features=[f'stage{i}' for i in stages],
        reshape_hidden_states=False, apply_layernorm=True)
    return DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=hidden, neck_hidden_sizes=list(neck),
        fusion_hidden_size=fusion, head_hidden_size=32,
        depth_estimation_type='metric' if metric else 'relative',
        max_depth=max_depth)


def _attention_names(hf_keys: Sequence[str]) -> Tuple[str, str, str, str]:
    """Return the HF names of (query, key, value, output) projections in this transformers."""
    if any('.attention.q_proj.' in k for k in hf_keys):
        return ('attention.q_proj', 'attention.k_proj', 'attention.v_proj', 'attention.o_proj')
    return ('attention.attention.query', 'attention.attention.key', 'attention.attention.value',
            'attention.output.dense')


def rename_map(num_layers: int, hf_keys: Sequence[str]) -> List[Tuple[str, str]]:
    """Return (original name, HF name) pairs for every tensor except the fused qkv."""
    _, _, _, out = _attention_names(hf_keys)
    pairs = [('pretrained.cls_token', 'backbone.embeddings.cls_token'),
             ('pretrained.mask_token', 'backbone.embeddings.mask_token'),
             ('pretrained.pos_embed', 'backbone.embeddings.position_embeddings'),
             ('pretrained.norm', 'backbone.layernorm')]
    pairs += [(f'pretrained.patch_embed.proj.{p}',
               f'backbone.embeddings.patch_embeddings.projection.{p}') for p in ('weight', 'bias')]
    block = [('ls1.gamma', 'layer_scale1.lambda1'), ('ls2.gamma', 'layer_scale2.lambda1'),
             ('norm1', 'norm1'), ('norm2', 'norm2'), ('mlp.fc1', 'mlp.fc1'),
             ('mlp.fc2', 'mlp.fc2'), ('attn.proj', out)]
    for i in range(num_layers):
        pairs += [(f'pretrained.blocks.{i}.{a}', f'backbone.encoder.layer.{i}.{b}')
                  for a, b in block]
    for i in range(4):
        pairs.append((f'depth_head.projects.{i}', f'neck.reassemble_stage.layers.{i}.projection'))
        pairs.append((f'depth_head.resize_layers.{i}', f'neck.reassemble_stage.layers.{i}.resize'))
        pairs.append((f'depth_head.scratch.layer{i + 1}_rn', f'neck.convs.{i}'))
        # the original refinenet4 is the first (coarsest) HF fusion layer
        ref, fus = f'depth_head.scratch.refinenet{i + 1}', f'neck.fusion_stage.layers.{3 - i}'
        pairs.append((f'{ref}.out_conv', f'{fus}.projection'))
        for unit in (1, 2):
            for conv in (1, 2):
                pairs.append((f'{ref}.resConfUnit{unit}.conv{conv}',
                              f'{fus}.residual_layer{unit}.convolution{conv}'))
    pairs += [('depth_head.scratch.output_conv1', 'head.conv1'),
              ('depth_head.scratch.output_conv2.0', 'head.conv2'),
              ('depth_head.scratch.output_conv2.2', 'head.conv3')]
    return pairs


def _strip(original: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    for wrapper in ('model', 'state_dict'):
        if wrapper in original and isinstance(original[wrapper], Mapping):
            original = original[wrapper]
    out = {}
    for key, value in original.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConversionError(f'not a state dict of tensors: entry {key!r} is '
                                  f'{type(value).__name__}')
        out[key[len('module.'):] if key.startswith('module.') else key] = value
    return out


def convert_state_dict(original: Mapping[str, torch.Tensor], config,
                       hf_keys: Sequence[str]) -> Dict[str, torch.Tensor]:
    """Map an original DA2 state dict to HF names for ``config`` (keys of the HF model)."""
    src = _strip(original)
    hidden = config.backbone_config.hidden_size
    layers = config.backbone_config.num_hidden_layers
    q, k, v, _ = _attention_names(hf_keys)
    out: Dict[str, torch.Tensor] = {}
    for i in range(layers):
        for part in ('weight', 'bias'):
            name = f'pretrained.blocks.{i}.attn.qkv.{part}'
            if name not in src:
                raise ConversionError(f'missing {name!r}: not an original DA2 checkpoint of '
                                      f'this size ({layers} layers)')
            fused = src.pop(name)
            if fused.shape[0] != 3 * hidden:
                raise ConversionError(f'{name} has shape {tuple(fused.shape)}; expected first '
                                      f'dimension {3 * hidden} (wrong --encoder?)')
            for j, proj in enumerate((q, k, v)):
                out[f'backbone.encoder.layer.{i}.{proj}.{part}'] = \
                    fused[j * hidden:(j + 1) * hidden].clone()
    for old, new in rename_map(layers, hf_keys):
        for suffix in ('', '.weight', '.bias'):
            if old + suffix in src:
                out[new + suffix] = src.pop(old + suffix)
    if src:
        raise ConversionError(f'{len(src)} tensors of the checkpoint have no HF counterpart, '
                              f'e.g. {sorted(src)[:5]} (wrong --encoder or not a DA2 checkpoint?)')
    return out


def convert_checkpoint(pth: Path, out_dir: Path, encoder: str = 'vits', metric: bool = True,
                       max_depth: float = 20.0) -> Path:
    """Convert ``pth`` (original DA2 state dict) into an HF checkpoint directory ``out_dir``."""
    from transformers import DepthAnythingForDepthEstimation

    pth = Path(pth).expanduser()
    if pth.is_dir():
        raise ConversionError(f'checkpoint {str(pth)!r} is a directory; pass the original '
                              'DA2 .pth file')
    if not pth.is_file():
        raise FileNotFoundError(f'checkpoint {str(pth)!r} does not exist')
    if pth.stat().st_size == 0:
        raise ConversionError(f'checkpoint {str(pth)!r} is empty (0 bytes)')
    try:
        original = torch.load(str(pth), map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: B902 - unpickling / zip / EOF errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f'refusing {str(pth)!r}: not a plain state dict readable with '
                              f'torch.load(weights_only=True) ({first})') from exc
    if not isinstance(original, Mapping):
        raise ConversionError(f'{str(pth)!r} holds a {type(original).__name__}, not a state dict')
    config = da2_config(encoder, metric, max_depth)
    model = DepthAnythingForDepthEstimation(config)
    hf_keys = list(model.state_dict())
    state = convert_state_dict(original, config, hf_keys)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != 'backbone.embeddings.mask_token']
    if missing or unexpected:
        raise ConversionError(f'conversion mismatch: missing {missing[:5]}, unexpected '
                              f'{unexpected[:5]} (wrong --encoder?)')
    out_dir = Path(out_dir).expanduser()
    # Write next to the target and move it in complete, so a failure or Ctrl-C never leaves a
    # half-written (or half-replaced) model directory.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f'.{out_dir.name}.partial-{os.getpid()}'
    try:
        model.eval().save_pretrained(staging)
        if out_dir.is_dir():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


@tool_main(PROG, interrupted='interrupted; nothing written')
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point (``convert_da2_pth``); returns the exit code (docs/tools.md)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.strip().splitlines()[0])
    parser.add_argument('checkpoint', help='original DA2 .pth state dict')
    parser.add_argument('output', help='output directory (Hugging Face format); a used one '
                                       'needs --overwrite')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a used output directory (once the conversion succeeded)')
    parser.add_argument('--encoder', choices=sorted(ENCODERS), default='vits')
    parser.add_argument('--max-depth', type=float, default=20.0,
                        help='metres, > 0: 20 for indoor (Hypersim) models, 80 for outdoor '
                             '(VKITTI); a whole number with recent transformers versions')
    parser.add_argument('--relative', action='store_true',
                        help='the checkpoint is a relative-depth model (not usable by the '
                             'pipeline, converted for completeness)')
    args = parser.parse_args(argv)
    max_depth = config_max_depth(args.max_depth, '--max-depth')   # before any work
    out = check_out(args.output, overwrite=args.overwrite, option='output')
    try:   # an unwritable output fails before the work, not after it
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((a for a in out.parents if a.exists() and not a.is_dir()), None)
        why = f'{blocker} is a file' if blocker else f'cannot create {out.parent} ({exc})'
        raise UserError(f'output {out} cannot be written: {why}') from None
    out = convert_checkpoint(Path(args.checkpoint), out, args.encoder, not args.relative,
                             max_depth)
    print(f'{PROG}: wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
