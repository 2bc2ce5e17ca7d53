"""LeJEPA (Balestriero and LeCun, arXiv 2511.08544; rbalestr-lab/lejepa).

One network, no predictor, teacher, stop-gradient or schedule of its own:
every crop of an image is projected and pulled towards the mean projection
of the image's global crops, while SIGReg pushes each view's projections
towards an isotropic Gaussian (losses/sigreg.py has the formulas and their
official files; docs/methods.md#lejepa).

  network  backbone -> Dense(embedding_dim) (MINIMAL.md's timm
           `num_classes=512` classifier, the launch scripts'
           `embedding_dim=512`; 0: none) -> projector MLP (torchvision
           `MLP(512, [2048, 2048, proj_dim], norm_layer=BatchNorm1d)`:
           Linear -> BN -> ReLU per hidden layer, a last Linear, biases
           everywhere).
  crops    `global_views` crops (MINIMAL.md: 4 of one size, no local ones;
           the ImageNet recipe: 2 global + 6 local): as the paper's
           Algorithm 1, the global crops through the backbone in one call,
           the local crops in another, then the projector once on all (its
           BatchNorm over every crop, as MINIMAL.md's one call and
           stable-pretraining's single projector call).
  slices   fresh unit directions every step from fold_in(PRNGKey(seed),
           step): the same on every device, as the official generator
           seeded with the all-reduced step (`slicing.py`).

A ViT runs with stochastic depth when config.backbone.drop_path > 0 (the
official launch scripts' drop_path_rate 0.1), each crop of each image from
its own key (models/multicrop.py). Evaluation features (`embed`) are the
backbone's, the network the paper evaluates with a linear probe.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import base
from ssl_jax.models import heads
from ssl_jax.models import multicrop


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  config_checks.positive(config, 'method.global_views', integer=True)
  config_checks.fraction(config, 'method.lamb')
  config_checks.positive(config, 'method.num_slices', integer=True)
  config_checks.positive(config, 'method.t_max')
  knots = config.method.get('knots')
  config_checks.check(
      isinstance(knots, int) and not isinstance(knots, bool) and knots >= 3
      and knots % 2 == 1, 'method.knots', knots,
      'an odd integer >= 3 (the official asserts n_points % 2 == 1)')
  config_checks.non_negative(config, 'method.embedding_dim', integer=True)
  config_checks.sizes(config, 'method.proj_hidden')
  config_checks.positive(config, 'method.proj_dim', integer=True)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for LeJEPA: the official ImageNet values (README,
  scripts/launch_*_ablation.md)."""
  return ml_collections.ConfigDict(dict(
      name='lejepa',
      global_views=2,  # Crops whose mean projection every crop predicts.
      lamb=0.05,  # SIGReg's weight; the prediction term's is 1 - lamb.
      num_slices=1024,  # Random directions per step.
      t_max=3.0,  # Epps-Pulley integration range [0, t_max] (doubled).
      knots=17,  # Trapezoid knots on [0, t_max].
      embedding_dim=512,  # Dense after the backbone; 0: none.
      proj_hidden=(2048, 2048),
      proj_dim=512,
  ))


class _Model(nn.Module):
  """Backbone once per group of same-size crops, then the projector on all."""
  backbone: nn.Module
  num_global: int
  embedding_dim: int
  projector: nn.Module
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, groups, train: bool = True, drop_keys=None):
    """`groups`: image-major crops, the global ones first
    (models/multicrop.py). Returns the backbone features [N, G, F] of the G
    global crops and the projections [N, C, P] of all C crops."""
    features = multicrop.backbone_features(self.backbone, groups, train,
                                           drop_keys)
    n = groups[0].shape[0] // self.num_global
    per_image = [f.reshape(n, -1, f.shape[-1]) for f in features]
    crops = jnp.concatenate(per_image, axis=1)  # [N, C, F]
    h = crops.reshape(-1, crops.shape[-1])
    if self.embedding_dim:
      h = nn.Dense(self.embedding_dim, dtype=self.dtype, name='embedding')(h)
    z = self.projector(h, train=train)
    return per_image[0], z.reshape(n, -1, z.shape[-1])

  def features(self, x):
    return self.backbone(x, train=False)


class Method(base.MethodBase):
  """LeJEPA: multi-crop projections, prediction of the global mean, SIGReg."""
  supports_local_crops = True

  def __init__(self, config, **kwargs):
    # The recipe sets the number of global views (MINIMAL.md: 4).
    self.num_views = int(config.method.global_views)
    super().__init__(config, **kwargs)
    m = config.method
    self.model = _Model(
        self.backbone, self.num_views, m.embedding_dim,
        heads.MLP(hidden=tuple(m.proj_hidden), out=m.proj_dim, use_bias=True,
                  dtype=self.dtype, bn_axis_name=self.bn_axis_name),
        dtype=self.dtype)

  def init(self, rng, views):
    variables = self.model.init(
        rng, multicrop.crop_groups(views, self.num_views), train=True)
    params, mutables = base.split_variables(variables)
    return base.Variables(params, mutables, extras={})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del extras
    drop_keys = None
    if train and self.config.backbone.get('drop_path'):
      drop_keys = multicrop.crop_drop_keys(views, self.num_views, rng,
                                           example_ids)
    (h, z), mutables = self.model.apply(
        {'params': params, **mutables},
        multicrop.crop_groups(views, self.num_views), train=train,
        drop_keys=drop_keys, mutable=list(mutables))
    # Batch axis first (the pmap trainer all-gathers along axis 0).
    outputs = {'projections': z,  # [N, C, P], global crops first.
               'features': h[:, 0],  # Backbone, global crop 0 (probe).
               'embedding': z[:, 0]}
    return outputs, mutables

  def directions(self, step):
    """This step's SIGReg directions [P, S], the same on every device."""
    m = self.config.method
    key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), step)
    return losses.sigreg_directions(key, m.proj_dim, m.num_slices)

  def objective(self, outputs, extras, step):
    del extras
    m = self.config.method
    z = jnp.swapaxes(outputs['projections'], 0, 1)  # [C, N, P]
    loss, logs = losses.lejepa(z, self.num_views, self.directions(step),
                               m.lamb, m.t_max, m.knots)
    return loss, {'lejepa': loss, **logs}, {}

  def embed(self, params, mutables, extras, images):
    """The backbone's features (the network LeJEPA evaluates)."""
    del extras
    return self.model.apply({'params': params, **mutables}, images,
                            method=_Model.features)
