"""Flax backbone variables -> the PyTorch layouts of `ssl_jax.export`.

Numpy only (no torch at export time): state dicts are written with
`safetensors.numpy`, in timm's parameter names, which
`ssl_jax/torch_backbones.py` shares.

  timm    every ViT as timm's VisionTransformer (export_vit.py); ResNets
          of width 1 with the standard stem as timm's
          `resnet{18,34,50,101,152}`, when XLA's 'SAME' padding equals
          timm's symmetric padding at the evaluation size (sizes 32k + 1;
          export_resnet.py).
  torch   every ResNet (CIFAR stem, any width, any size) as
          torch_backbones.ResNet.

A backbone offers these formats by naming its exporter module in its own
file (`EXPORTER = 'ssl_jax.export_resnet'`), which defines
`timm_refusal(backbone, image_size)`, `timm_config(backbone, data,
model_args)`, `torch_refusal(backbone)`, `torch_config(backbone, data)`
(where torch takes it) and `state_dict(variables, backbone, image_size)`.
A backbone without one exports as safetensors only.
"""

import importlib

import numpy as np

from ssl_jax import models


def conv(kernel):
  return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def dense(kernel):
  return np.ascontiguousarray(kernel.T)


def bn(out, prefix, params, stats):
  out[f'{prefix}.weight'] = params['scale']
  out[f'{prefix}.bias'] = params['bias']
  out[f'{prefix}.running_mean'] = stats['mean']
  out[f'{prefix}.running_var'] = stats['var']
  out[f'{prefix}.num_batches_tracked'] = np.zeros((), np.int64)


def pretrained_cfg(data, fixed: bool, first_conv: str,
                    classifier: str) -> dict:
  """timm's preprocessing fields: ssl_jax's evaluation view (the largest
  centred square, bilinear resize to image_size, then mean/std)."""
  return {'input_size': [len(data.mean), data.image_size, data.image_size],
          'fixed_input_size': fixed, 'interpolation': 'bilinear',
          'crop_pct': 1.0, 'crop_mode': 'center',
          'mean': list(data.mean), 'std': list(data.std), 'num_classes': 0,
          'first_conv': first_conv, 'classifier': classifier}


def _exporter(backbone):
  """The exporter module the backbone's own file names, or None."""
  path = getattr(models.backbone_module(backbone.name), 'EXPORTER', None)
  return importlib.import_module(path) if path else None


def timm_refusal(backbone, image_size: int) -> str | None:
  """Why timm cannot express this backbone exactly, or None."""
  exporter = _exporter(backbone)
  if exporter is None:
    return f'timm has no twin of backbone {backbone.name!r}'
  return exporter.timm_refusal(backbone, image_size)


def timm_config(backbone, data) -> dict:
  """timm hub config.json (architecture, model_args, pretrained_cfg)."""
  args = {'num_classes': 0}
  if len(data.mean) != 3:
    args['in_chans'] = len(data.mean)
  return _exporter(backbone).timm_config(backbone, data, args)


def torch_refusal(backbone) -> str | None:
  """Why the torch format does not take this backbone, or None."""
  exporter = _exporter(backbone)
  if exporter is None:
    return f'torch_backbones has no twin of backbone {backbone.name!r}'
  return exporter.torch_refusal(backbone)


def torch_config(backbone, data) -> dict:
  """config.json of the torch format (torch_backbones.load reads it)."""
  return _exporter(backbone).torch_config(backbone, data)


def torch_state_dict(variables, backbone, image_size: int) -> dict:
  """The timm-named state dict (contiguous numpy)."""
  out = _exporter(backbone).state_dict(variables, backbone, image_size)
  return {k: np.ascontiguousarray(v) for k, v in out.items()}
