"""Projector / predictor heads: one configurable MLP covers the papers' heads.

`MLP(hidden=(2048, 2048), out=128, last_bn='no_beta')` is SimCLR v2's 3-layer
projector (Dense without bias -> BN -> ReLU per hidden layer, last Dense ->
BN without beta). BYOL's is `MLP((4096,), 256, use_bias=True,
last_bias=False, last_bn=None)` (the official last Linear has no bias);
MoCo v3's `last_bn='no_affine'`. Statistics in float32 whatever the compute
dtype.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ssl_jax.models import norms

# last_bn: None (no BN after the last Dense), 'affine', 'no_beta' (SimCLR,
# center=False), 'no_affine' (MoCo v3's BN(affine=False)).
_LAST_BN = {None: None, 'affine': (True, True), 'no_beta': (False, True),
            'no_affine': (False, False)}


class MLP(nn.Module):
  """Dense (-> BN) -> ReLU hidden layers, then Dense (-> optional BN)."""
  hidden: Sequence[int]
  out: int
  use_bias: bool = False
  last_bias: bool | None = None  # The last Dense's bias; None: use_bias.
  hidden_bn: bool = True
  last_bn: str | None = None
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True, groups: int = 1):
    """`groups`: BatchNorm statistics per that many consecutive parts of
    the batch (models/norms.py), e.g. one per concatenated view."""
    if self.last_bn not in _LAST_BN:
      raise ValueError(f'last_bn {self.last_bn!r} not in {list(_LAST_BN)}.')
    norm = lambda **kw: norms.BatchNorm(
        use_running_average=not train, momentum=0.9, epsilon=1e-5,
        axis_name=self.bn_axis_name, groups=groups, **kw)
    x = x.astype(self.dtype)
    for width in self.hidden:
      x = nn.Dense(width, use_bias=self.use_bias, dtype=self.dtype)(x)
      if self.hidden_bn:
        x = norm()(x.astype(jnp.float32))
      x = nn.relu(x).astype(self.dtype)
    last_bias = self.use_bias if self.last_bias is None else self.last_bias
    x = nn.Dense(self.out, use_bias=last_bias, dtype=self.dtype)(x)
    x = x.astype(jnp.float32)
    if self.last_bn is not None:
      center, scale = _LAST_BN[self.last_bn]
      x = norm(use_bias=center, use_scale=scale)(x)
    return x
