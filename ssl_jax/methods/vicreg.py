"""VICReg (Bardes, Ponce and LeCun, arXiv 2105.04906; facebookresearch/vicreg).

Each view goes through backbone + expander on its own (BN statistics per
view, global under jit or synced by `bn_axis_name` under pmap: SyncBN in the
official code). The expander is the official one, `Linear(bias)-BN-ReLU` per
hidden layer then `Linear(no bias)` (8192-8192-8192 in the paper); heads.MLP
has a single `use_bias` flag, so the hidden layers are an MLP with biases and
the last Linear is added here. The loss is `losses.vicreg` on the
all-gathered outputs: invariance is a mean over the global batch (the
official local mean averaged by DDP is the same value), variance and
covariance use global-batch statistics (the official `FullGatherLayer`)
(docs/methods.md#vicreg). The official variance term has the 1/2 that
solo-learn's drops; we follow the official code.

Optimizer: the official LARS uses one lr and keeps biases and BN out of weight
decay and adaptation, as the shared one does (ndim <= 1, optim.py); optax's
LARS puts the lr inside the momentum buffer, the official code outside
(equal at constant lr, docs/methods.md#optimizers).
"""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import two_view
from ssl_jax.models import heads


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  for key in ('sim_coeff', 'std_coeff', 'cov_coeff'):
    config_checks.non_negative(config, f'method.{key}')
  config_checks.sizes(config, 'method.proj_hidden', allow_empty=False)
  config_checks.positive(config, 'method.proj_dim', integer=True)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for VICReg (the paper's values)."""
  return ml_collections.ConfigDict(dict(
      name='vicreg',
      sim_coeff=25.0,  # Invariance weight (lambda in the paper).
      std_coeff=25.0,  # Variance weight (mu).
      cov_coeff=1.0,  # Covariance weight (nu).
      proj_hidden=(8192, 8192),  # Expander hidden widths (at least one).
      proj_dim=8192,
  ))


class _Expander(nn.Module):
  """Linear(bias)-BN-ReLU per hidden width, then Linear(no bias), f32 out."""
  hidden: tuple[int, ...]
  out: int
  dtype: jnp.dtype = jnp.float32
  bn_axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True, groups: int = 1):
    if not self.hidden:
      raise ValueError('VICReg needs at least one expander hidden layer '
                       '(config.method.proj_hidden).')
    x = heads.MLP(hidden=self.hidden[:-1], out=self.hidden[-1],
                  use_bias=True, hidden_bn=True, last_bn='affine',
                  dtype=self.dtype, bn_axis_name=self.bn_axis_name,
                  name='hidden')(x, train=train, groups=groups)
    x = nn.relu(x).astype(self.dtype)
    x = nn.Dense(self.out, use_bias=False, dtype=self.dtype, name='last')(x)
    return x.astype(jnp.float32)


class Method(two_view.TwoView):
  """VICReg: two views, per-view forwards, variance-invariance-covariance."""
  projector_name = 'expander'  # The official name.

  def heads(self):
    m = self.config.method
    return _Expander(hidden=tuple(m.proj_hidden), out=m.proj_dim,
                     dtype=self.dtype, bn_axis_name=self.bn_axis_name), None

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
    loss, terms = losses.vicreg(outputs['z1'], outputs['z2'],
                                sim_coeff=m.sim_coeff, std_coeff=m.std_coeff,
                                cov_coeff=m.cov_coeff)
    return loss, dict(terms), {}
