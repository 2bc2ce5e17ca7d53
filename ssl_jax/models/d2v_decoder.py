"""data2vec 2.0's light convolutional decoder (Baevski et al.,
arXiv 2212.07525; fairseq `examples/data2vec/models/modalities/modules.py:
Decoder2d`).

The full token grid (encoded visible tokens at their places, noise at the
masked ones) is reshaped to [N, H, W, D] and goes through `layers` x
[grouped Conv k x k ('same'), LayerNorm over channels without affine
(eps 1e-5), GELU], each with a residual add when the widths match
(`decoder_residual`), then Linear(dim -> D_enc) per token.

`GroupedConv` has the parameters of `nn.Conv(feature_group_count=groups)`
but on CPU runs as a dense convolution with a block-diagonal kernel:
XLA:CPU's grouped convolution is far slower (backward pass of 3 layers at
1024 x 7 x 7 x 192, 16 groups: 76 s, against 2.7 s per layer dense).
Other backends use the native grouped convolution. Same function either way.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssl_jax import parallel

from ssl_jax.models import vit


class GroupedConv(nn.Module):
  """'same' k x k convolution in `groups` groups, stride 1, with bias.

  Parameters as nn.Conv's: kernel [k, k, C / groups, features], output
  channel o reading input group o // (features / groups).
  """
  features: int
  kernel: int
  groups: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c, k, g, o = x.shape[-1], self.kernel, self.groups, self.features
    if c % g or o % g:
      raise ValueError(f'{g} groups do not divide {c} -> {o} channels.')
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (k, k, c // g, o)).astype(self.dtype)
    bias = self.param('bias', nn.initializers.zeros, (o,))
    groups = g
    if g > 1 and parallel.target_platform() == 'cpu':
      kernel = block_diagonal(kernel, g)
      groups = 1
    out = jax.lax.conv_general_dilated(
        x.astype(self.dtype), kernel, (1, 1), 'SAME',
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
        feature_group_count=groups)
    return out + bias.astype(self.dtype)


def block_diagonal(kernel, groups: int):
  """Grouped HWIO kernel [k, k, C / g, O] -> dense [k, k, C, O], zero
  outside the diagonal blocks (input group i feeds output group i only)."""
  k1, k2, c_per, o = kernel.shape
  blocks = kernel.reshape(k1, k2, c_per, groups, o // groups)
  dense = jnp.einsum('abigj,gh->abgihj', blocks,
                     jnp.eye(groups, dtype=kernel.dtype))
  return dense.reshape(k1, k2, groups * c_per, o)


class Decoder2d(nn.Module):
  """[N, L, D_in] tokens in raster order -> [N, L, out_dim] predictions."""
  grid: tuple[int, int]
  out_dim: int
  dim: int = 768
  layers: int = 6
  kernel: int = 3
  groups: int = 16
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens):
    n, length, _ = tokens.shape
    gh, gw = self.grid
    x = tokens.astype(self.dtype).reshape(n, gh, gw, -1)
    residual = x
    for i in range(self.layers):
      x = GroupedConv(self.dim, self.kernel, self.groups, self.dtype,
                      name=f'conv{i}')(x)
      x = nn.LayerNorm(epsilon=1e-5, use_bias=False, use_scale=False,
                       dtype=self.dtype)(x)
      x = vit.gelu(x)
      if residual.shape[-1] == x.shape[-1]:
        x = x + residual
      residual = x
    x = x.reshape(n, length, self.dim)
    return nn.Dense(self.out_dim, dtype=self.dtype, name='proj')(x).astype(
        jnp.float32)
