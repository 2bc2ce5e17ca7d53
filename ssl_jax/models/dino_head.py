"""DINO's projection head (Caron et al., arXiv 2104.14294; facebookresearch/dino
`vision_transformer.py` DINOHead).

  Linear(d, hidden) - GELU - Linear(hidden, hidden) - GELU
  - Linear(hidden, bottleneck)           (biases; BN after the hidden layers
                                          only with use_bn)
  -> L2-normalise
  -> weight-normalised Linear(bottleneck, K, no bias): W_k = g_k V_k / ||V_k||

The official head initialises the MLP with trunc-normal std 0.02 (truncated at
+-2 in absolute value, i.e. +-100 std: a plain normal) and zero biases; its
last layer is created after that init, so V keeps torch's default Linear init,
U(-1/sqrt(in), 1/sqrt(in)), and g is filled with 1. With norm_last_layer=True
g is frozen at 1, so here it is simply not created (W = V / ||V||, every
column of unit norm). Otherwise g is a [1, K] parameter: torch's weight_g is
[K, 1], 2-D, so the official parameter groups give it weight decay, and so do
ours (optim.decay_mask decays arrays of ndim > 1).

The normalisations and the last matmul run in float32: the logits are divided
by temperatures as low as 0.04 before a softmax over K (65,536) classes.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ssl_jax.losses import contrastive
from ssl_jax.models import vit

# torch's trunc_normal_(std=0.02, a=-2, b=2) truncates at +-2 in value, i.e.
# at +-100 std: a plain normal.
_TRUNC_NORMAL = nn.initializers.normal(stddev=0.02)
# torch nn.Linear's default weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
_TORCH_LINEAR = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')


def normalize_columns(v: jax.Array, eps: float = 1e-12) -> jax.Array:
  """V[:, k] / ||V[:, k]|| in float32 (torch weight_norm over the input dim)."""
  v = v.astype(jnp.float32)
  squared = jnp.sum(v * v, axis=0, keepdims=True)
  return v * jax.lax.rsqrt(jnp.maximum(squared, eps * eps))


class WeightNormDense(nn.Module):
  """Linear(in, out, no bias) with W = g * V / ||V|| per output unit, f32."""
  features: int
  learn_scale: bool = False  # False: g == 1, not a parameter.

  @nn.compact
  def __call__(self, x):
    v = self.param('kernel', _TORCH_LINEAR, (x.shape[-1], self.features))
    w = normalize_columns(v)
    if self.learn_scale:
      w = w * self.param('scale', nn.initializers.ones, (1, self.features))
    return jnp.dot(x.astype(jnp.float32), w)


class DINOHead(nn.Module):
  """Returns (bottleneck output [N, bottleneck], logits [N, K]), float32."""
  out_dim: int = 65536
  hidden: int = 2048
  bottleneck: int = 256
  use_bn: bool = False
  norm_last_layer: bool = True
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    dense = lambda n, name: nn.Dense(n, dtype=self.dtype, name=name,
                                     kernel_init=_TRUNC_NORMAL)
    x = x.astype(self.dtype)
    for i in range(2):
      x = dense(self.hidden, f'mlp{i}')(x)
      if self.use_bn:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         epsilon=1e-5, axis_name=self.bn_axis_name,
                         name=f'bn{i}')(x.astype(jnp.float32))
      x = vit.gelu(x).astype(self.dtype)  # torch nn.GELU.
    z = dense(self.bottleneck, 'mlp2')(x).astype(jnp.float32)
    logits = WeightNormDense(self.out_dim,
                             learn_scale=not self.norm_last_layer,
                             name='last_layer')(contrastive.l2_normalize(z))
    return z, logits
