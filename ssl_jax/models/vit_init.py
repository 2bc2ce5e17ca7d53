"""The ViT initialisations of the official codes, chosen per method.

Flax's `xavier_uniform()` on the patch embedding's 4-D conv kernel
[p, p, C, D] counts the receptive field on both sides (fan-in C p^2,
fan-out D p^2), so its bound is about p times smaller than the official
codes', which initialise the flattened [D, C p^2] matrix. Each official
code has its own rule (docs/methods.md#vit-initialisation):

  patch_init     kernel                               bias
  'xavier_flat'  U(+-sqrt(6 / (C p^2 + D)))           U(+-1/sqrt(C p^2))
                 MAE models_mae.py, data2vec 2.0 images.py: xavier on the
                 [D, C p^2] view; the bias keeps torch's Conv2d default.
  'moco_v3'      U(+-sqrt(6 / (3 p^2 + D)))           0
                 moco-v3 vits.py (3 input channels written into the bound).
  'torch'        U(+-1/sqrt(C p^2))                   U(+-1/sqrt(C p^2))
                 torch's Conv2d default, kaiming_uniform(a=sqrt(5)), which
                 DINO's vision_transformer.py leaves in place.
  'trunc_normal' N(0, 0.02^2) cut at +-2 (in value)   0
                 I-JEPA vision_transformer.py: trunc_normal_(std=0.02).

qkv_init: 'fused' is xavier-uniform of the [D, 3D] qkv matrix (MAE, timm),
bound sqrt(6 / 4D); 'split' treats q, k and v as three [D, D] matrices, bound
sqrt(6 / 2D) (MoCo v3's vits.py). The parameter layout is the same.

dense_init: the blocks' linear layers (qkv, proj, MLP). 'xavier' is
xavier-uniform (MAE, MoCo v3, DINO, data2vec 2.0; qkv as qkv_init says);
'trunc_normal' is N(0, 0.02^2) cut at +-2 in value for all of them, qkv
included (DINOv2's vision_transformer.py: timm's init_weights_vit_timm).
Biases start at 0 either way. (I-JEPA also draws trunc_normal(0.02), then
divides each block's proj and fc2 by sqrt(2 * layer): not offered here.)
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

PATCH_INITS = ('xavier_flat', 'moco_v3', 'torch', 'trunc_normal')
QKV_INITS = ('fused', 'split')
DENSE_INITS = ('xavier', 'trunc_normal')

# torch's trunc_normal_(std=0.02, a=-2, b=2) cuts at +-2 in value, i.e. at
# +-100 standard deviations.
_TRUNC_NORMAL = nn.initializers.truncated_normal(0.02, lower=-100.0,
                                                 upper=100.0)


def _uniform(bound: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def patch_embed_init(name: str, channels: int, patch: int, dim: int):
  """(kernel_init, bias_init) of the [p, p, C, D] patch-embedding conv.

  Raises:
    ValueError: `name` is not one of PATCH_INITS.
  """
  fan_in = channels * patch * patch
  # The kernel's input axes are (p, p, C): fans of the flattened matrix.
  flat = dict(in_axis=(0, 1, 2), out_axis=3)
  torch_bias = _uniform(fan_in ** -0.5)
  if name == 'xavier_flat':
    return nn.initializers.xavier_uniform(**flat), torch_bias
  if name == 'moco_v3':
    bound = (6.0 / (3 * patch * patch + dim)) ** 0.5
    return _uniform(bound), nn.initializers.zeros
  if name == 'torch':
    # kaiming_uniform(a=sqrt(5)): gain^2 = 2 / (1 + 5), bound 1/sqrt(fan_in).
    return (nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform',
                                             **flat), torch_bias)
  if name == 'trunc_normal':
    return _TRUNC_NORMAL, nn.initializers.zeros
  raise ValueError(f'ViT patch_init={name!r} not in {PATCH_INITS}.')


def qkv_kernel_init(name: str):
  """Kernel init of the fused [D, 3D] qkv projection.

  Raises:
    ValueError: `name` is not one of QKV_INITS.
  """
  if name == 'fused':
    return nn.initializers.xavier_uniform()
  if name == 'split':
    # As [D, 3, D] with the middle axis a batch axis: three xavier draws,
    # fan-in D and fan-out D each; output features are ordered (q|k|v, D)
    # as Attention splits them.
    per_matrix = nn.initializers.xavier_uniform(in_axis=0, out_axis=2,
                                                batch_axis=1)

    def init(key, shape, dtype=jnp.float32):
      d_in, d_out = shape
      return per_matrix(key, (d_in, 3, d_out // 3), dtype).reshape(shape)

    return init
  raise ValueError(f'ViT qkv_init={name!r} not in {QKV_INITS}.')


def dense_kernel_init(name: str):
  """Kernel init of a block's proj and MLP layers (the module docstring).

  Raises:
    ValueError: `name` is not one of DENSE_INITS.
  """
  if name == 'xavier':
    return nn.initializers.xavier_uniform()
  if name == 'trunc_normal':
    return _TRUNC_NORMAL
  raise ValueError(f'ViT dense_init={name!r} not in {DENSE_INITS}.')
