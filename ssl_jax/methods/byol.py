"""BYOL (Grill et al., arXiv 2006.07733): an online network regresses an EMA
target network's projections; no negatives.

Online = backbone -> projector -> predictor; target = backbone -> projector
whose params are an EMA of the online ones (`extras['target']`, a copy at
init, moved in `update_extras` with the cosine momentum of
docs/methods.md#schedules): two_view.MomentumTarget, shared with MoCo v3.
As in the official code (`byol_experiment.py`) BatchNorm statistics are per
view (both views go through one call with a group of statistics per view,
base.apply_per_view; `config.fuse_views=False` calls once per view), and the
target forward also runs BN in training mode (batch statistics) with
running statistics of its own, kept beside the online ones in the mutables:

  mutables = {'batch_stats': online, 'target_batch_stats': target}
"""

import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import two_view
from ssl_jax.models import heads


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  config_checks.fraction(config, 'method.ema_base')
  for key in ('proj_hidden', 'pred_hidden'):
    config_checks.sizes(config, f'method.{key}')
  config_checks.positive(config, 'method.proj_dim', integer=True)
  config_checks.choice(config, 'method.last_bias', (True, False))


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for BYOL (solo-learn's CIFAR values,
  docs/methods.md#byol)."""
  return ml_collections.ConfigDict(dict(
      name='byol',
      # Target momentum at step 0, cosine to 1 at the last step (paper:
      # 0.996 at 1000 epochs, 0.99 at 100/300; solo-learn CIFAR 0.99).
      ema_base=0.99,
      proj_hidden=(4096,),  # Projector hidden widths (Dense+bias-BN-ReLU).
      proj_dim=256,  # Projection (and prediction) width.
      pred_hidden=(4096,),  # Predictor hidden widths.
      # A bias in the projector's and predictor's last Dense: solo-learn's
      # heads have one; the official code's have none (the ImageNet config
      # sets False).
      last_bias=True,
  ))


class Method(two_view.MomentumTarget):
  """BYOL: online predictor vs EMA target, per-view forwards, BYOL loss."""

  def heads(self):
    """The paper's projector and predictor: Dense(4096, bias)-BN-ReLU-Dense
    (no bias in the official `networks.py`; solo-learn's has one:
    `method.last_bias`)."""
    m = self.config.method
    mlp = lambda hidden: heads.MLP(
        hidden=tuple(hidden), out=m.proj_dim, use_bias=True,
        last_bias=bool(m.get('last_bias', True)), hidden_bn=True,
        last_bn=None, dtype=self.dtype, bn_axis_name=self.bn_axis_name)
    return mlp(m.proj_hidden), mlp(m.pred_hidden)

  def objective(self, outputs, extras, step):
    del extras
    loss = losses.byol(outputs['p1'], outputs['p2'], outputs['target1'],
                       outputs['target2'])
    return loss, {'byol': loss, 'ema_momentum': self.momentum(step)}, {}
