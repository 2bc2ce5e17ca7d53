"""Flax backbone variables -> the PyTorch layouts of `ssl_jax.export`.

Numpy only (no torch at export time): state dicts are written with
`safetensors.numpy`, in timm's parameter names, which
`ssl_jax/torch_backbones.py` shares.

  timm    ResNets of width 1 with the standard stem as timm's
          `resnet{18,34,50,101,152}`, when XLA's 'SAME' padding equals
          timm's symmetric padding at the evaluation size (sizes 32k + 1,
          see `timm_refusal`); every ViT as timm's VisionTransformer
          (`no_embed_class`: ssl_jax adds positions to the patch tokens
          only, except DINO's 'interpolated' table, whose CLS row timm
          adds as well, written resized to the evaluation grid; sin-cos
          positions written as the position tensor; the final LayerNorm
          before pooling, `fc_norm=False`).
  torch   every ResNet (CIFAR stem, any width, any size) as
          torch_backbones.ResNet.

Flax names to keep in mind: a ResNet block's convolutions and BatchNorms
are numbered in call order (the shortcut's BatchNorm last); a ViT block's
LayerNorm_0/1 are norm1/norm2, and its Mlp's Dense_0 is the *second* layer
(`dense(dim)(gelu(dense(hidden)(x)))` builds the outer Dense first).
"""

import numpy as np

from ssl_jax.models import resnet
from ssl_jax.models import vit

TIMM_VIT_NAMES = {'tiny': 'vit_tiny_patch16_224',
                  'small': 'vit_small_patch16_224',
                  'base': 'vit_base_patch16_224',
                  'large': 'vit_large_patch16_224',
                  'huge': 'vit_huge_patch14_224'}


def vit_size(backbone) -> dict:
  """{'dim', 'depth', 'heads'} of a ViT config (variant or explicit)."""
  preset = vit.PRESETS.get(backbone.get('variant') or '', {})
  return {k: backbone.get(k) if backbone.get(k) is not None
          else preset.get(k) for k in ('dim', 'depth', 'heads')}


def _conv(kernel):
  return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def _dense(kernel):
  return np.ascontiguousarray(kernel.T)


def _bn(out, prefix, params, stats):
  out[f'{prefix}.weight'] = params['scale']
  out[f'{prefix}.bias'] = params['bias']
  out[f'{prefix}.running_mean'] = stats['mean']
  out[f'{prefix}.running_var'] = stats['var']
  out[f'{prefix}.num_batches_tracked'] = np.zeros((), np.int64)


def resnet_state_dict(variables, depth: int) -> dict:
  """timm / torch_backbones.ResNet state dict of a Flax ResNet."""
  p, s = variables['params'], variables['batch_stats']
  kind, stages = resnet._STAGES[depth]  # pylint: disable=protected-access
  out = {'conv1.weight': _conv(p['stem']['kernel'])}
  _bn(out, 'bn1', p['BatchNorm_0'], s['BatchNorm_0'])
  convs = 3 if kind == 'bottleneck' else 2
  k = 0
  for i, num_blocks in enumerate(stages):
    for j in range(num_blocks):
      bp, bs, pre = p[f'_Block_{k}'], s[f'_Block_{k}'], f'layer{i + 1}.{j}'
      for c in range(convs):
        out[f'{pre}.conv{c + 1}.weight'] = _conv(bp[f'Conv_{c}']['kernel'])
        _bn(out, f'{pre}.bn{c + 1}', bp[f'BatchNorm_{c}'],
            bs[f'BatchNorm_{c}'])
      if 'shortcut' in bp:
        out[f'{pre}.downsample.0.weight'] = _conv(bp['shortcut']['kernel'])
        _bn(out, f'{pre}.downsample.1', bp[f'BatchNorm_{convs}'],
            bs[f'BatchNorm_{convs}'])
      k += 1
  return out


def vit_state_dict(variables, backbone, grid: tuple[int, int]) -> dict:
  """timm VisionTransformer state dict of a Flax ViT at `grid` patches."""
  p = variables['params']
  dim = vit_size(backbone)['dim']
  out = {'patch_embed.proj.weight': _conv(p['patch_embed']['kernel']),
         'patch_embed.proj.bias': p['patch_embed']['bias'],
         'norm.weight': p['norm']['scale'], 'norm.bias': p['norm']['bias']}
  if backbone.pos_embed == 'sincos':
    out['pos_embed'] = vit.sincos_2d(dim, *grid)[None]
  elif backbone.pos_embed == 'interpolated':
    prefix = int(backbone.cls_token) + backbone.num_registers
    out['pos_embed'] = np.asarray(vit.interpolated_positions(
        p['pos_embed'], prefix, backbone.pos_grid, grid))
  else:
    out['pos_embed'] = p['pos_embed']
  if 'cls' in p:
    out['cls_token'] = p['cls']
  if 'registers' in p:
    out['reg_token'] = p['registers']
  for i in range(vit_size(backbone)['depth']):
    b, pre = p[f'block{i}'], f'blocks.{i}'
    named = {'norm1': b['LayerNorm_0'], 'norm2': b['LayerNorm_1'],
             'attn.qkv': b['Attention_0']['qkv'],
             'attn.proj': b['Attention_0']['proj'],
             'mlp.fc1': b['Mlp_0']['Dense_1'], 'mlp.fc2': b['Mlp_0']['Dense_0']}
    for name, layer in named.items():
      weight = layer['scale'] if 'scale' in layer else _dense(layer['kernel'])
      out[f'{pre}.{name}.weight'] = weight
      out[f'{pre}.{name}.bias'] = layer['bias']
    for name in ('ls1', 'ls2'):  # LayerScale (timm's init_values).
      if name in b:
        out[f'{pre}.{name}.gamma'] = b[name]
  return out


def _stride2_windows(backbone) -> list[int]:
  """Kernel sizes of the ResNet's stride-2 windows, in order."""
  stem = [] if backbone.cifar_stem else [7, 3]  # Conv, then max-pool.
  return stem + [3, 3, 3]  # The first 3x3 of stages 2-4.


def timm_refusal(backbone, image_size: int) -> str | None:
  """Why timm cannot express this backbone exactly, or None."""
  if backbone.name == 'vit':
    return None
  if backbone.name != 'resnet':
    return f'timm has no twin of backbone {backbone.name!r}'
  if backbone.cifar_stem:
    return "timm's ResNet has no CIFAR stem (3x3 stride 1, no max-pool)"
  if int(64 * backbone.width) != 64:
    return (f'width {backbone.width}: the stem of timm\'s ResNet is 64 '
            'channels wide whatever its stage widths')
  size = image_size
  for kernel in _stride2_windows(backbone):
    if size % 2 == 0:
      return (f"at the evaluation size {image_size} px a stride-2 {kernel}x"
              f"{kernel} window meets a {size} px input, which XLA's 'SAME' "
              f'padding pads by ({kernel // 2 - 1}, {kernel // 2}) and timm '
              f'by ({kernel // 2}, {kernel // 2}): the same weights would '
              'compute other features (timm matches only at sizes 32k + 1, '
              'e.g. 225)')
    size = (size + 1) // 2
  return None


def _pretrained_cfg(data, fixed: bool, first_conv: str,
                    classifier: str) -> dict:
  """timm's preprocessing fields: ssl_jax's evaluation view (the largest
  centred square, bilinear resize to image_size, then mean/std)."""
  return {'input_size': [len(data.mean), data.image_size, data.image_size],
          'fixed_input_size': fixed, 'interpolation': 'bilinear',
          'crop_pct': 1.0, 'crop_mode': 'center',
          'mean': list(data.mean), 'std': list(data.std), 'num_classes': 0,
          'first_conv': first_conv, 'classifier': classifier}


def timm_config(backbone, data) -> dict:
  """timm hub config.json (architecture, model_args, pretrained_cfg)."""
  args = {'num_classes': 0}
  if len(data.mean) != 3:
    args['in_chans'] = len(data.mean)
  if backbone.name == 'resnet':  # Width 1 (timm_refusal).
    kind, _ = resnet._STAGES[backbone.depth]  # pylint: disable=protected-access
    return {'architecture': f'resnet{backbone.depth}', 'num_classes': 0,
            'num_features': 512 * (4 if kind == 'bottleneck' else 1),
            'global_pool': 'avg', 'model_args': args,
            'pretrained_cfg': _pretrained_cfg(data, False, 'conv1', 'fc')}
  size = vit_size(backbone)
  named = [k for k, v in vit.PRESETS.items() if v == size]
  if not named or backbone.mlp_ratio != 4.0:
    args.update(embed_dim=size['dim'], depth=size['depth'],
                num_heads=size['heads'], mlp_ratio=backbone.mlp_ratio)
  if backbone.get('layer_scale_init'):
    args['init_values'] = backbone.layer_scale_init
  args.update(img_size=data.image_size, patch_size=backbone.patch_size,
              class_token=bool(backbone.cls_token),
              reg_tokens=backbone.num_registers,
              no_embed_class=backbone.pos_embed != 'interpolated',
              global_pool='token' if backbone.pool == 'cls' else 'avg',
              fc_norm=False)
  arch = TIMM_VIT_NAMES[named[0] if named else 'base']
  return {'architecture': arch, 'num_classes': 0,
          'num_features': size['dim'], 'global_pool': args['global_pool'],
          'model_args': args,
          'pretrained_cfg': _pretrained_cfg(data, True, 'patch_embed.proj',
                                            'head')}


def torch_refusal(backbone) -> str | None:
  """Why the torch format does not take this backbone, or None."""
  if backbone.name == 'resnet':
    return None
  if backbone.name == 'vit':
    return ("timm's VisionTransformer expresses every ssl_jax ViT exactly, "
            'so the torch format has no ViT twin')
  return f'torch_backbones has no twin of backbone {backbone.name!r}'


def torch_config(backbone, data) -> dict:
  """config.json of the torch format (torch_backbones.load reads it)."""
  return {'module': 'torch_backbones', 'class': 'ResNet',
          'kwargs': {'depth': backbone.depth, 'width': backbone.width,
                     'cifar_stem': bool(backbone.cifar_stem),
                     'in_chans': len(data.mean)},
          'pretrained_cfg': _pretrained_cfg(data, False, 'conv1', '')}


def torch_state_dict(variables, backbone, image_size: int) -> dict:
  """The timm-named state dict of either family (contiguous numpy)."""
  if backbone.name == 'resnet':
    out = resnet_state_dict(variables, backbone.depth)
  else:
    grid = image_size // backbone.patch_size
    out = vit_state_dict(variables, backbone, (grid, grid))
  return {k: np.ascontiguousarray(v) for k, v in out.items()}
