"""SimCLR (Chen et al., arXiv 2002.05709; v2 heads, arXiv 2006.10029).

Both views go through the backbone in one call, so BatchNorm statistics are
taken over the 2N crops (the official `tf.concat(features_list, 0)`); the
projector is SimCLR v2's (Dense without bias -> BN -> ReLU, last BN without
beta); the loss is NT-Xent over the global batch with no stop-gradient, at the
official code's scale: `loss_a + loss_b` of google-research/simclr
`objective.py: add_contrastive_loss`, each a mean over the N anchors of one
view, i.e. twice `losses.nt_xent` (the paper's mean over the 2N anchors).
The factor matters: LARS's trust ratio cancels it for the weights' step
size but not for the BN parameters and biases, which are outside the trust
ratio, and it sets how much weight decay weighs against the gradient (twice
as much at the paper's scale as in the official code;
docs/methods.md#simclr).
"""

import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import two_view
from ssl_jax.models import heads
from ssl_jax.models import multicrop

# `objective.py` sums the two views' mean losses: twice the mean over 2N.
OFFICIAL_SCALE = 2.0


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  config_checks.positive(config, 'method.temperature')
  config_checks.sizes(config, 'method.proj_hidden')
  config_checks.positive(config, 'method.proj_dim', integer=True)
  config_checks.choice(config, 'method.proj_last_bn', config_checks.LAST_BN)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for SimCLR (defaults: docs/methods.md#simclr)."""
  return ml_collections.ConfigDict(dict(
      name='simclr',
      temperature=0.2,
      proj_hidden=(2048,),
      proj_dim=128,
      proj_last_bn='no_beta',
  ))


class Method(two_view.TwoView):
  """SimCLR: two symmetric views, one concatenated forward, NT-Xent."""

  def heads(self):
    m = self.config.method
    return heads.MLP(
        hidden=tuple(m.proj_hidden), out=m.proj_dim, use_bias=False,
        last_bn=m.proj_last_bn, dtype=self.dtype,
        bn_axis_name=self.bn_axis_name), None

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del example_ids  # No per-example randomness.
    del extras, rng
    # Both views in one call, as the official concatenation (BatchNorm over
    # both), laid out image-major so that a sharded batch keeps each
    # device's rows on it (base.apply_per_view).
    (h, z), new_mutables = self.model.apply(
        {'params': params, **mutables}, multicrop.image_major(views[:2]),
        train=train, mutable=list(mutables))
    z1, z2 = (multicrop.view_of(z, i, 2) for i in range(2))
    outputs = {'z1': z1, 'z2': z2, 'features': multicrop.view_of(h, 0, 2),
               'embedding': z1}
    return outputs, new_mutables

  def objective(self, outputs, extras, step):
    """The official `loss_a + loss_b` = 2 x nt_xent; the metric `nt_xent`
    stays the paper's mean over the 2N anchors."""
    del extras, step
    paper = losses.nt_xent(outputs['z1'], outputs['z2'],
                           self.config.method.temperature)
    return OFFICIAL_SCALE * paper, {'nt_xent': paper}, {}
