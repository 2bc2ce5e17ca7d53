"""data2vec 2.0's light convolutional decoder (Baevski et al.,
arXiv 2212.07525; fairseq `examples/data2vec/models/modalities/modules.py:
Decoder2d`).

The full token grid (encoded visible tokens at their places, noise at the
masked ones) is reshaped to [N, H, W, D] and goes through `layers` x
[grouped Conv k x k ('same'), LayerNorm over channels without affine
(eps 1e-5), GELU], each with a residual add when the widths match
(`decoder_residual`), then Linear(dim -> D_enc) per token.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


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
      x = nn.Conv(self.dim, (self.kernel, self.kernel), padding='SAME',
                  feature_group_count=self.groups, dtype=self.dtype,
                  name=f'conv{i}')(x)
      x = nn.LayerNorm(epsilon=1e-5, use_bias=False, use_scale=False,
                       dtype=self.dtype)(x)
      x = nn.gelu(x, approximate=False)
      if residual.shape[-1] == x.shape[-1]:
        x = x + residual
      residual = x
    x = x.reshape(n, length, self.dim)
    return nn.Dense(self.out_dim, dtype=self.dtype, name='proj')(x).astype(
        jnp.float32)
