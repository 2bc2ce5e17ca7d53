"""BYOL (Grill et al., arXiv 2006.07733): an online network regresses an EMA
target network's projections; no negatives.

Online = backbone -> projector -> predictor; target = backbone -> projector
whose params are an EMA of the online ones (`extras['target']`, a copy at
init, moved in `update_extras` with the cosine momentum of
docs/methods.md#schedules).
As in the official code (`byol_experiment.py`) BatchNorm statistics are per
view (both views go through one call with a group of statistics per view,
base.apply_per_view; `config.fuse_views=False` calls once per view), and the
target forward also runs
BN in training mode (batch statistics) with running statistics of its own,
kept beside the online ones in the mutables:

  mutables = {'batch_stats': online, 'target_batch_stats': target}

MoCo v3 (moco_v3.py) reuses this machinery with its own heads and loss.
"""

import flax.linen as nn
import jax
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax import optim
from ssl_jax.methods import base
from ssl_jax.models import heads

# The online sub-modules that the target copies (the predictor stays online).
TARGET_PARTS = ('backbone', 'projector')


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


def encoder_part(tree):
  """The target-network entries (backbone, projector) of a variable tree.

  A ViT backbone has no batch statistics, so parts may be absent.
  """
  return {k: tree[k] for k in TARGET_PARTS if k in tree}


class _Model(nn.Module):
  backbone: nn.Module
  projector: nn.Module
  predictor: nn.Module

  def __call__(self, x, train: bool = True, groups: int = 1):
    h, z = self.encode(x, train, groups)
    return h, z, self.predictor(z, train=train, groups=groups)

  def encode(self, x, train: bool = True, groups: int = 1):
    """Backbone and projector only: what the target network runs."""
    h = self.backbone(x, train=train, groups=groups)
    return h, self.projector(h, train=train, groups=groups)

  def features(self, x):
    return self.backbone(x, train=False)


class Method(base.MethodBase):
  """BYOL: online predictor vs EMA target, per-view forwards, BYOL loss."""
  num_views = 2

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    projector, predictor = self._heads()
    self.model = _Model(self.backbone, projector, predictor)

  def _heads(self) -> tuple[nn.Module, nn.Module]:
    """The paper's projector and predictor: Dense(4096, bias)-BN-ReLU-Dense
    (no bias in the official `networks.py`; solo-learn's has one:
    `method.last_bias`)."""
    m = self.config.method
    mlp = lambda hidden: heads.MLP(
        hidden=tuple(hidden), out=m.proj_dim, use_bias=True,
        last_bias=bool(m.get('last_bias', True)), hidden_bn=True,
        last_bn=None, dtype=self.dtype, bn_axis_name=self.bn_axis_name)
    return mlp(m.proj_hidden), mlp(m.pred_hidden)

  def momentum(self, step):
    """Target EMA momentum at `step` (cosine from ema_base to 1)."""
    return optim.ema_cosine(step, self.total_steps,
                            base=self.config.method.ema_base)

  def init(self, rng, views):
    variables = self.model.init(rng, views[0], train=True)
    params, mutables = base.split_variables(variables)
    stats = mutables['batch_stats']
    # The target starts as a copy of the online backbone + projector.
    return base.Variables(
        params,
        {'batch_stats': stats, 'target_batch_stats': encoder_part(stats)},
        extras={'target': encoder_part(params)})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del example_ids  # No per-example randomness.
    """Per-example outputs: online predictions `p{v}` and stop-gradient
    target projections `target{v}` of views v = 1, 2; `features` and
    `embedding` (online projection) of view 1."""
    del rng
    # BN statistics per view, in one fused call or one call per view.
    online, stats = base.apply_per_view(
        self.model, params, {'batch_stats': mutables['batch_stats']},
        views[:2], train=train, fuse=self.fuse_views)
    target, target_stats = base.apply_per_view(
        self.model, extras['target'],
        {'batch_stats': mutables['target_batch_stats']}, views[:2],
        train=train, method=_Model.encode, fuse=self.fuse_views)
    outputs = {}
    for v, ((h, z, p), (_, z_target)) in enumerate(zip(online, target), 1):
      outputs[f'p{v}'] = p
      outputs[f'target{v}'] = jax.lax.stop_gradient(z_target)
      if v == 1:
        outputs['features'], outputs['embedding'] = h, z
    return outputs, {'batch_stats': stats['batch_stats'],
                     'target_batch_stats': target_stats['batch_stats']}

  def objective(self, outputs, extras, step):
    del extras
    loss = losses.byol(outputs['p1'], outputs['p2'], outputs['target1'],
                       outputs['target2'])
    return loss, {'byol': loss, 'ema_momentum': self.momentum(step)}, {}

  def update_extras(self, extras, params, aux, step):
    """target <- m target + (1 - m) online (backbone + projector only)."""
    del aux
    target = optim.ema_update(extras['target'], encoder_part(params),
                              self.momentum(step))
    return dict(extras, target=target)

  def embed(self, params, mutables, extras, images):
    del extras  # The online network is evaluated.
    return self.model.apply(
        {'params': params, 'batch_stats': mutables['batch_stats']}, images,
        method=_Model.features)
