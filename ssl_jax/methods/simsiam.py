"""SimSiam (Chen and He, arXiv 2011.10566): a predictor regresses the other
view's projection under stop-gradient; no EMA, no negatives.

One network called once per view (BN statistics per view, as the official
`simsiam/builder.py`). Heads as in the official code:
  projector  Dense(no bias)-BN-ReLU x 2, then Dense-BN(affine=False); the
             official last Linear's bias is frozen and, followed by an affine-
             free BN, has no effect, so it is left out;
  predictor  Dense(no bias)-BN-ReLU-Dense(bias): heads.MLP's use_bias=True
             also gives the hidden Dense a bias, which the BN after it cancels
             (its gradient is zero), so the function is the official one.
Loss: L = -(cos(p1, sg z2) + cos(p2, sg z1)) / 2 (losses.simsiam); the
stop-gradient is applied in `objective`.
"""

import jax
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import two_view
from ssl_jax.models import heads


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  for key in ('proj_hidden', 'pred_hidden'):
    config_checks.sizes(config, f'method.{key}')
  config_checks.positive(config, 'method.proj_dim', integer=True)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for SimSiam (solo-learn's CIFAR values,
  docs/methods.md#simsiam; the paper's R50 uses the same widths)."""
  return ml_collections.ConfigDict(dict(
      name='simsiam',
      proj_hidden=(2048, 2048),  # Two hidden Dense-BN-ReLU layers.
      proj_dim=2048,  # Projection (and prediction) width.
      pred_hidden=(512,),  # The predictor's bottleneck.
  ))


class Method(two_view.TwoView):
  """SimSiam: per-view forwards, predictor vs stop-gradient projection."""

  def heads(self):
    m = self.config.method
    mlp = lambda hidden, **kw: heads.MLP(
        hidden=tuple(hidden), out=m.proj_dim, hidden_bn=True,
        dtype=self.dtype, bn_axis_name=self.bn_axis_name, **kw)
    return (mlp(m.proj_hidden, use_bias=False, last_bn='no_affine'),
            mlp(m.pred_hidden, use_bias=True, last_bn=None))

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del example_ids  # No per-example randomness.
    """Per-example `p{v}`, `z{v}` of views v = 1, 2 (z not yet stop-
    gradient: the objective applies it); `features`, `embedding` = z1."""
    del extras, rng
    ((h1, z1, p1), (_, z2, p2)), mutables = self.apply_views(
        params, mutables, views, train)
    outputs = {'p1': p1, 'p2': p2, 'z1': z1, 'z2': z2, 'features': h1,
               'embedding': z1}
    return outputs, mutables

  def objective(self, outputs, extras, step):
    del extras, step
    sg = jax.lax.stop_gradient
    loss = losses.simsiam(outputs['p1'], outputs['p2'], sg(outputs['z1']),
                          sg(outputs['z2']))
    return loss, {'simsiam': loss}, {}
