"""The method contract's hooks around the optimizer step, under jit and pmap
(methods/base.py: after_update)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ssl_jax import methods
from ssl_jax.methods import base

import method_harness as harness
from conftest import load_config


def _unit_columns(kernel):
  return kernel / jnp.linalg.norm(kernel, axis=0, keepdims=True)


class _Model(nn.Module):
  backbone: nn.Module

  @nn.compact
  def __call__(self, x):
    return nn.Dense(8, name='proj')(self.backbone(x))


class _NormalisedColumns(base.MethodBase):
  """A projection whose columns after_update puts back on the unit sphere
  (SwAV's prototypes); forward reports how far they are from it."""
  num_views = 2

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    self.model = _Model(self.backbone)

  def init(self, rng, views):
    return base.Variables(self.model.init(rng, views[0])['params'], {}, {})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    z1, z2 = (self.model.apply({'params': params}, v) for v in views[:2])
    norms = jnp.linalg.norm(params['proj']['kernel'], axis=0)
    off = jnp.full((z1.shape[0],), jnp.max(jnp.abs(norms - 1)))
    return {'z1': z1, 'z2': z2, 'off': off, 'features': z1,
            'embedding': z1}, mutables

  def objective(self, outputs, extras, step):
    loss = jnp.mean(jnp.sum((outputs['z1'] - 2 * outputs['z2'])**2, -1))
    return loss, {'column_norm_off': jnp.mean(outputs['off'])}, {}

  def after_update(self, params, extras, step):
    proj = dict(params['proj'], kernel=_unit_columns(params['proj']['kernel']))
    return dict(params, proj=proj)

  def embed(self, params, mutables, extras, images):
    return self.model.apply({'params': params}, images)


methods.register('normalised_columns_test', _NormalisedColumns)


def test_after_update_edits_the_new_params_equally_under_jit_and_pmap():
  config = harness.tiny_vit(load_config('smoke'))
  with config.unlocked():
    config.method = ml_collections.ConfigDict(
        {'name': 'normalised_columns_test'})
  config.probe.enabled = False
  config.optim.update(name='sgd', momentum=0.0, lr=0.5, lr_scaling='none',
                      weight_decay=0.0)
  state, history = harness.assert_same_training(config, steps=3)
  off = [h['column_norm_off'] for h in history]  # Before each step.
  assert off[0] > 0.1, off  # The initial kernel's columns are not unit.
  assert max(off[1:]) < 1e-5, off  # After steps 1 and 2 they are.
  kernel = np.asarray(state.params['model']['proj']['kernel'])
  np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1, atol=1e-5)
  assert history[-1]['update_norm'] > 0
