"""Barlow Twins (Zbontar et al., arXiv 2103.03230).

Official code: facebookresearch/barlowtwins (`main.py`).

Each view goes through backbone + projector on its own, so BatchNorm
statistics are per view (the official `self.backbone(y1)`, `...(y2)`), and
global under jit or synced by `bn_axis_name` under pmap (SyncBN in the
official code). The projector is `Linear(no bias)-BN-ReLU` per hidden layer,
then `Linear(no bias)` (8192-8192-8192 in the paper). The loss-side
`BN(affine=False)` is the standardisation inside `losses.barlow_twins`, which
the trainer feeds the all-gathered outputs, so its statistics are over the
global batch as in the official code (docs/methods.md#barlow-twins).

`loss = scale_loss * barlow_twins(z1, z2, lambda_)`: the paper has no scale
(scale_loss = 1.0, the default); solo-learn's CIFAR recipe uses 0.1.

Biases and BN parameters: the official LARS gives the arrays of ndim <= 1
their own lr, 0.0048 x B/256 against 0.2 x B/256 for the weights, and keeps
them out of weight decay and the trust ratio; the ImageNet config sets
`optim.lr_biases=0.0048` (a parameter group, optim.py). optax's LARS puts
the lr inside the momentum buffer, the official code outside (equal at
constant lr, docs/methods.md#optimizers).

Gradient scale: the official code all-reduces C outside autograd and DDP then
averages the gradients over the W GPUs, so its gradient is 1/W of the true
gradient of L (the loss value is L). Under jit ours is the true gradient;
`method.world_size_scale=W` reproduces the official one (value L, gradient
dL/W), which matters for the parameters outside the trust ratio and for the
balance of weight decay and gradient (docs/methods.md#barlow-twins).
"""

import jax
import ml_collections
from ml_collections import config_dict

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import two_view
from ssl_jax.models import heads


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  config_checks.non_negative(config, 'method.lambda_')
  config_checks.positive(config, 'method.scale_loss')
  config_checks.sizes(config, 'method.proj_hidden')
  config_checks.positive(config, 'method.proj_dim', integer=True)
  config_checks.positive(config, 'method.world_size_scale', integer=True,
                         optional=True)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for Barlow Twins (the paper's values)."""
  return ml_collections.ConfigDict(dict(
      name='barlow_twins',
      lambda_=0.0051,  # Weight of the off-diagonal (redundancy) term.
      scale_loss=1.0,  # Paper: 1.0; solo-learn CIFAR: 0.1.
      proj_hidden=(8192, 8192),
      proj_dim=8192,
      # None: the true gradient. W: the official code's gradient on W GPUs,
      # 1/W of it (the module docstring).
      world_size_scale=config_dict.placeholder(int),
  ))


class Method(two_view.TwoView):
  """Barlow Twins: two views, per-view forwards, cross-correlation loss."""

  def heads(self):
    m = self.config.method
    return heads.MLP(
        hidden=tuple(m.proj_hidden), out=m.proj_dim, use_bias=False,
        hidden_bn=True, last_bn=None, dtype=self.dtype,
        bn_axis_name=self.bn_axis_name), None

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del example_ids  # No per-example randomness.
    del extras, rng
    outs, mutables = self.apply_views(params, mutables, views, train)
    (h1, z1), (_, z2) = outs
    outputs = {'z1': z1, 'z2': z2, 'features': h1, 'embedding': z1}
    return outputs, mutables

  def objective(self, outputs, extras, step):
    del extras, step
    m = self.config.method
    loss = losses.barlow_twins(outputs['z1'], outputs['z2'], m.lambda_)
    scaled = m.scale_loss * loss
    if m.get('world_size_scale'):
      # The value stays L, its gradient is dL / W (the official 1/W).
      w = m.world_size_scale
      scaled = scaled / w + jax.lax.stop_gradient(scaled - scaled / w)
    return scaled, {'barlow_twins': loss}, {}
