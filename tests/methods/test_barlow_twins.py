"""Barlow Twins: objective = scaled loss of the outputs, BN per view, and
jit == pmap (the loss's standardisation must see the global batch)."""

import os

import jax
import numpy as np

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods

from conftest import REPO
import method_harness as harness

_CONFIG = os.path.join(REPO, 'configs', 'barlow_twins_fashion_mnist.py')


def _config():
  config = harness.tiny_vit(config_lib.load_file(_CONFIG + ':smoke'))
  config.batch_size = 16
  config.lock()
  return config


def _setup(config, batch=16):
  method = methods.get('barlow_twins')(config)
  data = harness.synthetic_batch(method.views, 1, batch, seed=0)
  views = [np.asarray(data[f'view{i}'], np.float32) / 255 for i in range(2)]
  variables = method.init(jax.random.PRNGKey(0), views)
  return method, views, variables


def _forward(method, variables, views):
  return method.forward(variables.params, variables.mutables,
                        variables.extras, views, jax.random.PRNGKey(1))


def test_outputs_and_objective_is_the_scaled_loss():
  config = _config()
  with config.unlocked():
    config.method.scale_loss = 0.1
    config.method.lambda_ = 0.02
  method, views, variables = _setup(config)
  # The paper's projector: no biases anywhere, BN on the hidden layers only.
  projector = variables.params['projector']
  assert not any('bias' in layer for name, layer in projector.items()
                 if name.startswith('Dense'))
  assert len([n for n in projector if n.startswith('BatchNorm')]) == len(
      config.method.proj_hidden)

  outputs, mutables = _forward(method, variables, views)
  assert outputs['z1'].shape == (16, config.method.proj_dim)
  assert set(mutables) == {'batch_stats'}
  np.testing.assert_array_equal(outputs['embedding'], outputs['z1'])
  # `features` are the backbone features of view 0 (no BN in the ViT, so
  # train and eval features agree).
  np.testing.assert_allclose(
      outputs['features'],
      method.embed(variables.params, variables.mutables, variables.extras,
                   views[0]),
      rtol=1e-5, atol=1e-6)

  loss, metrics, _ = method.objective(outputs, {}, 0)
  expected = losses.barlow_twins(outputs['z1'], outputs['z2'], 0.02)
  np.testing.assert_allclose(loss, 0.1 * expected, rtol=1e-6)
  np.testing.assert_allclose(metrics['barlow_twins'], expected, rtol=1e-6)


def test_batchnorm_statistics_are_per_view():
  method, (a, b), variables = _setup(_config())
  c = np.flip(b, axis=1) * 0.5  # Another second view.
  ab, _ = _forward(method, variables, [a, b])
  ac, _ = _forward(method, variables, [a, c])
  ba, _ = _forward(method, variables, [b, a])
  # View a's output does not depend on the other view (a concatenated
  # forward, as SimCLR's, would mix their BN statistics) ...
  np.testing.assert_allclose(ab['z1'], ac['z1'], rtol=1e-5, atol=1e-6)
  # ... and both views go through the same network.
  np.testing.assert_allclose(ab['z2'], ba['z1'], rtol=1e-5, atol=1e-6)
  assert not np.allclose(ab['z2'], ac['z2'])


def test_jit_and_pmap_agree_and_the_loss_moves():
  _, history = harness.assert_same_training(_config(), steps=2)
  assert 'barlow_twins' in history[0]
  assert history[-1]['update_norm'] > 0


def test_world_size_scale_gives_the_official_one_over_w_gradient():
  # Official main.py on W GPUs: c is all-reduced outside autograd, then DDP
  # averages the gradients: (1/W) sum_k dL/dc dc_k/dtheta = (1/W) dL/dtheta,
  # while the printed loss is L itself.
  config = _config()
  method, views, variables = _setup(config)
  outputs, _ = _forward(method, variables, views)

  def objective(z1, scale):
    with config.unlocked():
      config.method.world_size_scale = scale
    return method.objective(dict(outputs, z1=z1), {}, 0)[0]

  true_loss, true_grad = jax.value_and_grad(objective)(outputs['z1'], None)
  loss, grad = jax.value_and_grad(objective)(outputs['z1'], 8)
  np.testing.assert_allclose(loss, true_loss, rtol=1e-6)
  np.testing.assert_allclose(grad, true_grad / 8, rtol=1e-5, atol=1e-9)
  assert np.abs(true_grad).max() > 0
