"""I-JEPA's predictor (Assran et al., arXiv 2301.08243;
`src/models/vision_transformer.py: VisionTransformerPredictor`).

A narrow ViT over [context tokens; one query per target position]:
Linear(D_enc -> dim) on the context-encoder outputs plus the fixed 2-D
sin-cos embedding of their positions; each target query is the shared
learnable mask token plus the sin-cos embedding of its position; pre-norm
blocks, LayerNorm, Linear(dim -> D_enc) on the query outputs. Called once
per target block (the caller repeats the context per block). Optional
validity masks of the context and target tokens (static-length padding):
invalid tokens are masked out of every attention as keys.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ssl_jax.models import vit


class Predictor(nn.Module):
  """(context [B, K_c, D_enc], context_idx [B, K_c], target_idx [B, K_t],
  optional bool context_valid [B, K_c], target_valid [B, K_t]) ->
  predictions [B, K_t, D_enc]; indices are raster positions."""
  grid: tuple[int, int]
  out_dim: int  # The encoder width D_enc.
  dim: int = 384
  depth: int = 12
  heads: int = 16
  mlp_ratio: float = 4.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, context, context_idx, target_idx, context_valid=None,
               target_valid=None):
    dense = lambda n, name: nn.Dense(
        n, dtype=self.dtype, name=name,
        kernel_init=nn.initializers.xavier_uniform())
    pos = jnp.asarray(vit.sincos_2d(self.dim, *self.grid), self.dtype)
    x = dense(self.dim, 'embed')(context.astype(self.dtype))
    x = x + pos[context_idx]
    mask_token = self.param('mask_token', nn.initializers.normal(0.02),
                            (1, 1, self.dim))
    queries = mask_token.astype(self.dtype) + pos[target_idx]
    x = jnp.concatenate([x, queries], axis=1)
    key_mask = None
    if context_valid is not None or target_valid is not None:
      ones = lambda idx: jnp.ones(idx.shape, bool)
      key_mask = jnp.concatenate(
          [ones(context_idx) if context_valid is None else context_valid,
           ones(target_idx) if target_valid is None else target_valid],
          axis=1)
    for i in range(self.depth):
      x = vit.Block(self.heads, self.mlp_ratio, self.dtype,
                    name=f'block{i}')(x, key_mask)
    x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name='norm')(x)
    num_context = context.shape[1]
    return dense(self.out_dim, 'proj')(x[:, num_context:]).astype(
        jnp.float32)
