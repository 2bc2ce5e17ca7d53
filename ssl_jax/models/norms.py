"""BatchNorm with statistics per group of the batch ("ghost" batches).

The official BYOL, SimSiam, MoCo v3, Barlow Twins and VICReg code calls the
network once per view, so BatchNorm normalises each view with its own
statistics. `BatchNorm(groups=G)` computes exactly that inside one call on
the G views laid out image-major (row r of the batch is view r % G of image
r // G; models/multicrop.py: image_major): each view is normalised by its
own mean and variance, and the running averages are updated once per view,
in order, as G separate calls would. The convolutions and matrix products
then run on the whole batch at once, which on a TPU is the difference
between 64 and 128 images per chip for each of them (docs/tpu.md). The
views are interleaved rather than concatenated so that each device of a
sharded batch holds every view of its own images: concatenating sharded
views along the batch moves rows between devices (collective permutes and
all-to-alls in the compiled program).

With groups=1 it is flax's nn.BatchNorm: the same variables ('scale',
'bias'; 'mean', 'var'), statistics in float32 with E[x^2] - E[x]^2 clipped
at 0, the same normalisation arithmetic, `axis_name` for pmap.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class BatchNorm(nn.Module):
  """nn.BatchNorm over the last axis, with `groups` independent groups."""
  use_running_average: bool = False
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = None
  use_bias: bool = True
  use_scale: bool = True
  scale_init: Any = nn.initializers.ones
  bias_init: Any = nn.initializers.zeros
  axis_name: str | None = None
  groups: int = 1

  @nn.compact
  def __call__(self, x):
    features = x.shape[-1]
    ra_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,),
                            jnp.float32)
    ra_var = self.variable('batch_stats', 'var', jnp.ones, (features,),
                           jnp.float32)
    g = self.groups
    if x.shape[0] % g:
      raise ValueError(f'BatchNorm: batch {x.shape[0]} not divisible into '
                       f'{g} groups.')
    # [N / G, G, ..., C] (image-major rows): statistics over every axis but
    # the group's (1) and the channel's.
    grouped = x.reshape((x.shape[0] // g, g) + x.shape[1:])
    axes = (0,) + tuple(range(2, grouped.ndim - 1))
    if self.use_running_average:
      mean = jnp.broadcast_to(ra_mean.value, (g, features))
      var = jnp.broadcast_to(ra_var.value, (g, features))
    else:
      xf = grouped.astype(jnp.promote_types(x.dtype, jnp.float32))
      mean, mean2 = xf.mean(axes), jnp.square(xf).mean(axes)
      if self.axis_name is not None and not self.is_initializing():
        mean, mean2 = jax.lax.pmean(jnp.stack([mean, mean2]),
                                    self.axis_name)
      var = jnp.maximum(0.0, mean2 - jnp.square(mean))
      if not self.is_initializing():
        m = self.momentum
        for i in range(g):  # As G calls, one after another.
          ra_mean.value = m * ra_mean.value + (1 - m) * mean[i]
          ra_var.value = m * ra_var.value + (1 - m) * var[i]
    shape = (1, g) + (1,) * (len(axes) - 1) + (features,)
    y = grouped - mean.reshape(shape)
    mul = jax.lax.rsqrt(var + self.epsilon).reshape(shape)
    args = [x]
    if self.use_scale:
      scale = self.param('scale', self.scale_init, (features,), jnp.float32)
      mul = mul * scale
      args.append(scale)
    y = y * mul
    if self.use_bias:
      bias = self.param('bias', self.bias_init, (features,), jnp.float32)
      y = y + bias
      args.append(bias)
    dtype = self.dtype or jnp.result_type(*args)
    return y.reshape(x.shape).astype(dtype)
