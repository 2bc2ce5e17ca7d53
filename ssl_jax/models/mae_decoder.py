"""MAE's decoder (He et al., arXiv 2111.06377; `models_mae.py`).

Encoded visible tokens -> Linear to the decoder width, the shared learnable
mask token at every removed position (unshuffled back to raster order),
fixed 2-D sin-cos position embedding (zeros at the CLS position), a few
pre-norm transformer blocks, LayerNorm, Linear to p*p*C pixel values per
patch. The CLS output is dropped.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ssl_jax.models import patches
from ssl_jax.models import vit


class MAEDecoder(nn.Module):
  """[N, prefix + K, D_enc] encoder tokens + keep [N, K] -> [N, L, p*p*C]."""
  grid: tuple[int, int]
  patch_dim: int  # p * p * C.
  dim: int = 512
  depth: int = 8
  heads: int = 16
  mlp_ratio: float = 4.0
  num_prefix: int = 1  # CLS (+ registers) in front of the encoder tokens.
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, keep):
    dense = lambda n, name: nn.Dense(
        n, dtype=self.dtype, name=name,
        kernel_init=nn.initializers.xavier_uniform())
    x = dense(self.dim, 'embed')(tokens.astype(self.dtype))
    mask_token = self.param('mask_token', nn.initializers.normal(0.02),
                            (1, 1, self.dim))
    gh, gw = self.grid
    full = patches.unshuffle(x[:, self.num_prefix:], keep, mask_token,
                             gh * gw)
    x = jnp.concatenate([x[:, :self.num_prefix], full], axis=1)
    pos = jnp.concatenate([jnp.zeros((self.num_prefix, self.dim)),
                           vit.sincos_2d(self.dim, gh, gw)])
    x = x + pos[None].astype(x.dtype)
    for i in range(self.depth):
      x = vit.Block(self.heads, self.mlp_ratio, self.dtype,
                    name=f'block{i}')(x)
    x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name='norm')(x)
    x = dense(self.patch_dim, 'pred')(x)
    return x[:, self.num_prefix:].astype(jnp.float32)
