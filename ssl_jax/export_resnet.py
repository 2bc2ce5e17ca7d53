"""ResNet -> timm's `resnet{18,34,50,101,152}` and torch_backbones.ResNet.

The exporter that models/resnet.py declares (`EXPORTER`); the shared
layout helpers and the format dispatch are in export_formats.py. Flax
numbers a block's convolutions and BatchNorms in call order, the
shortcut's BatchNorm last.
"""

from ssl_jax import export_formats as fmt
from ssl_jax.models import resnet


def resnet_state_dict(variables, depth: int) -> dict:
  """timm / torch_backbones.ResNet state dict of a Flax ResNet."""
  p, s = variables['params'], variables['batch_stats']
  kind, stages = resnet._STAGES[depth]  # pylint: disable=protected-access
  out = {'conv1.weight': fmt.conv(p['stem']['kernel'])}
  fmt.bn(out, 'bn1', p['BatchNorm_0'], s['BatchNorm_0'])
  convs = 3 if kind == 'bottleneck' else 2
  k = 0
  for i, num_blocks in enumerate(stages):
    for j in range(num_blocks):
      bp, bs, pre = p[f'_Block_{k}'], s[f'_Block_{k}'], f'layer{i + 1}.{j}'
      for c in range(convs):
        out[f'{pre}.conv{c + 1}.weight'] = fmt.conv(bp[f'Conv_{c}']['kernel'])
        fmt.bn(out, f'{pre}.bn{c + 1}', bp[f'BatchNorm_{c}'],
            bs[f'BatchNorm_{c}'])
      if 'shortcut' in bp:
        out[f'{pre}.downsample.0.weight'] = fmt.conv(bp['shortcut']['kernel'])
        fmt.bn(out, f'{pre}.downsample.1', bp[f'BatchNorm_{convs}'],
            bs[f'BatchNorm_{convs}'])
      k += 1
  return out


def _stride2_windows(backbone) -> list[int]:
  """Kernel sizes of the ResNet's stride-2 windows, in order."""
  stem = [] if backbone.cifar_stem else [7, 3]  # Conv, then max-pool.
  return stem + [3, 3, 3]  # The first 3x3 of stages 2-4.


def timm_refusal(backbone, image_size: int) -> str | None:
  """Why timm's ResNet cannot express this one exactly, or None."""
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


def timm_config(backbone, data, model_args: dict) -> dict:
  """timm hub config.json of a width-1 ResNet (timm_refusal)."""
  kind, _ = resnet._STAGES[backbone.depth]  # pylint: disable=protected-access
  return {'architecture': f'resnet{backbone.depth}', 'num_classes': 0,
          'num_features': 512 * (4 if kind == 'bottleneck' else 1),
          'global_pool': 'avg', 'model_args': model_args,
          'pretrained_cfg': fmt.pretrained_cfg(data, False, 'conv1', 'fc')}


def torch_refusal(backbone) -> str | None:
  del backbone  # torch_backbones.ResNet takes every ResNet.
  return None


def torch_config(backbone, data) -> dict:
  """config.json of the torch format (torch_backbones.load reads it)."""
  return {'module': 'torch_backbones', 'class': 'ResNet',
          'kwargs': {'depth': backbone.depth, 'width': backbone.width,
                     'cifar_stem': bool(backbone.cifar_stem),
                     'in_chans': len(data.mean)},
          'pretrained_cfg': fmt.pretrained_cfg(data, False, 'conv1', '')}


def state_dict(variables, backbone, image_size: int) -> dict:
  del image_size  # A ResNet's weights do not depend on it.
  return resnet_state_dict(variables, backbone.depth)
