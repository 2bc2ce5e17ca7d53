"""The two-view scaffold: backbone -> projector (-> predictor) on two views.

SimCLR, Barlow Twins, VICReg, SimSiam, BYOL and MoCo v3 share the network,
`init`, the evaluation features and `embed`; they differ in their heads,
how the views go through the network and the loss. A method built on it
(methods/<name>.py) defines:

  heads()      (projector, predictor or None), built from config.method;
  forward and objective (base.py's contract), with `apply_views` for the
               per-view forward of the official BYOL, SimSiam, MoCo v3,
               Barlow Twins and VICReg code (base.apply_per_view).

`MomentumTarget` adds the EMA target network of BYOL and MoCo v3 (their
"target" and "momentum encoder"). Not a method itself: it defines no
`Method`, so `config.method.name='two_view'` is refused.
"""

import flax.linen as nn
import jax

from ssl_jax import optim
from ssl_jax.methods import base


class Model(nn.Module):
  """backbone -> projector (-> predictor); `groups` > 1: BatchNorm
  statistics per view of a fused batch (base.apply_per_view)."""
  backbone: nn.Module
  projector: nn.Module
  predictor: nn.Module | None = None
  # The projector's parameter name: VICReg's official 'expander' (the name
  # also seeds its initialisation, so it is kept).
  projector_name: str = 'projector'

  def setup(self):
    if self.projector_name != 'projector':
      setattr(self, self.projector_name, self.projector.clone())

  def __call__(self, x, train: bool = True, groups: int = 1):
    """(features, projection) or, with a predictor, (h, z, prediction)."""
    h, z = self.encode(x, train, groups)
    if self.predictor is None:
      return h, z
    return h, z, self.predictor(z, train=train, groups=groups)

  def encode(self, x, train: bool = True, groups: int = 1):
    """Backbone and projector only (what a target network runs)."""
    h = self.backbone(x, train=train, groups=groups)
    projector = getattr(self, self.projector_name)
    return h, projector(h, train=train, groups=groups)

  def features(self, x):
    return self.backbone(x, train=False)


class TwoView(base.MethodBase):
  """The shared part of the two-view methods (see the module docstring)."""
  num_views = 2
  projector_name = 'projector'

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    projector, predictor = self.heads()
    self.model = Model(self.backbone, projector, predictor,
                       projector_name=self.projector_name)

  def heads(self) -> tuple[nn.Module, nn.Module | None]:
    """(projector, predictor or None) from config.method."""
    raise NotImplementedError

  def init(self, rng, views):
    variables = self.model.init(rng, views[0], train=True)
    params, mutables = base.split_variables(variables)
    return base.Variables(params, mutables, extras={})

  def apply_views(self, params, mutables, views, train=True, method=None):
    """The two views through `self.model` with BatchNorm statistics per
    view (one fused call, or one per view with config.fuse_views=False).
    Returns (list of per-view outputs, new mutables)."""
    return base.apply_per_view(self.model, params, mutables, views[:2],
                               train=train, method=method,
                               fuse=self.fuse_views)

  def embed(self, params, mutables, extras, images):
    del extras  # The online network is evaluated.
    return self.model.apply(
        {'params': params, 'batch_stats': mutables.get('batch_stats', {})},
        images, method=Model.features)


class MomentumTarget(TwoView):
  """An online backbone -> projector -> predictor regressing an EMA target
  backbone -> projector (BYOL's target, MoCo v3's momentum encoder).

  The target's params are `extras['target']` (a copy of the online
  backbone + projector at init), moved after each step with momentum
  cosine from config.method.ema_base to 1 (docs/methods.md#schedules). As
  the official code, the target runs BN in training mode (batch
  statistics), with running statistics of its own:

    mutables = {'batch_stats': online, 'target_batch_stats': target}

  `forward` returns the online predictions `p{v}` and the stop-gradient
  target projections `target{v}` of views v = 1, 2, with `features` and
  `embedding` (online projection) of view 1.
  """
  # The online parts the target copies (the predictor stays online).
  target_parts = ('backbone', 'projector')

  def encoder_part(self, tree):
    """The target network's entries of a variable tree (a ViT backbone has
    no batch statistics, so parts may be absent)."""
    return {k: tree[k] for k in self.target_parts if k in tree}

  def momentum(self, step):
    """Target EMA momentum at `step` (cosine from ema_base to 1)."""
    return optim.ema_cosine(step, self.total_steps,
                            base=self.config.method.ema_base)

  def init(self, rng, views):
    variables = super().init(rng, views)
    stats = variables.mutables['batch_stats']
    # The target starts as a copy of the online backbone + projector.
    return base.Variables(
        variables.params,
        {'batch_stats': stats,
         'target_batch_stats': self.encoder_part(stats)},
        extras={'target': self.encoder_part(variables.params)})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del rng, example_ids  # No randomness of its own.
    online, stats = self.apply_views(
        params, {'batch_stats': mutables['batch_stats']}, views, train)
    target, target_stats = self.apply_views(
        extras['target'], {'batch_stats': mutables['target_batch_stats']},
        views, train, method=Model.encode)
    outputs = {}
    for v, ((h, z, p), (_, z_target)) in enumerate(zip(online, target), 1):
      outputs[f'p{v}'] = p
      outputs[f'target{v}'] = jax.lax.stop_gradient(z_target)
      if v == 1:
        outputs['features'], outputs['embedding'] = h, z
    return outputs, {'batch_stats': stats['batch_stats'],
                     'target_batch_stats': target_stats['batch_stats']}

  def update_extras(self, extras, params, aux, step):
    """target <- m target + (1 - m) online (backbone + projector only)."""
    del aux
    target = optim.ema_update(extras['target'], self.encoder_part(params),
                              self.momentum(step))
    return dict(extras, target=target)
