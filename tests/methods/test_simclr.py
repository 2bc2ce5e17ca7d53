"""SimCLR: the objective is NT-Xent of the outputs; jit == pmap."""

import jax
import numpy as np

from ssl_jax import losses
from ssl_jax import methods

from conftest import load_config
import method_harness as harness


def _config():
  config = load_config('smoke')
  config.batch_size = 16
  return config


def test_jit_and_pmap_agree_and_the_loss_moves():
  # (test_parallel.py does the same with the ResNet through train.run.)
  config = harness.tiny_vit(_config())
  _, history = harness.assert_same_training(config, steps=3)
  assert history[-1]['update_norm'] > 0


def test_outputs_and_objective():
  config = harness.tiny_vit(_config())
  method = methods.get('simclr')(config)
  batch = harness.synthetic_batch(method.views, 1, 16, seed=0)
  views = [np.asarray(batch[f'view{i}'], np.float32) / 255 for i in range(2)]
  variables = method.init(jax.random.PRNGKey(0), views)
  outputs, mutables = method.forward(variables.params, variables.mutables,
                                     variables.extras, views,
                                     jax.random.PRNGKey(1))
  assert outputs['z1'].shape == (16, config.method.proj_dim)
  assert outputs['features'].shape == (16, method.backbone.feature_dim)
  assert set(mutables) == {'batch_stats'}
  loss, metrics, _ = method.objective(outputs, {}, 0)
  np.testing.assert_allclose(
      loss, losses.nt_xent(outputs['z1'], outputs['z2'],
                           config.method.temperature), rtol=1e-6)
  assert 'nt_xent' in metrics
