"""VICReg: objective and metrics = the loss and its terms on the outputs,
the official expander, BN per view, and jit == pmap (variance and covariance
must see the global batch)."""

import os

import jax
import numpy as np

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods

from conftest import REPO
import method_harness as harness

_CONFIG = os.path.join(REPO, 'configs', 'vicreg_fashion_mnist.py')


def _config():
  config = harness.tiny_vit(config_lib.load_file(_CONFIG + ':smoke'))
  config.batch_size = 16
  config.lock()
  return config


def _setup(config, batch=16):
  method = methods.get('vicreg')(config)
  data = harness.synthetic_batch(method.views, 1, batch, seed=0)
  views = [np.asarray(data[f'view{i}'], np.float32) / 255 for i in range(2)]
  variables = method.init(jax.random.PRNGKey(0), views)
  return method, views, variables


def _forward(method, variables, views):
  return method.forward(variables.params, variables.mutables,
                        variables.extras, views, jax.random.PRNGKey(1))


def test_expander_has_biases_on_hidden_layers_only():
  config = _config()
  with config.unlocked():
    config.method.proj_hidden = (24, 20)
  _, _, variables = _setup(config)
  expander = variables.params['expander']
  hidden = expander['hidden']
  dense = sorted(n for n in hidden if n.startswith('Dense'))
  assert [hidden[n]['kernel'].shape[-1] for n in dense] == [24, 20]
  assert all('bias' in hidden[n] for n in dense)
  assert len([n for n in hidden if n.startswith('BatchNorm')]) == 2
  assert set(expander['last']) == {'kernel'}
  assert expander['last']['kernel'].shape[-1] == config.method.proj_dim


def test_outputs_objective_and_metrics_are_the_loss_and_its_terms():
  config = _config()
  with config.unlocked():
    config.method.update(sim_coeff=2.0, std_coeff=3.0, cov_coeff=0.5)
  method, views, variables = _setup(config)
  outputs, mutables = _forward(method, variables, views)
  assert outputs['z1'].shape == (16, config.method.proj_dim)
  assert set(mutables) == {'batch_stats'}
  np.testing.assert_array_equal(outputs['embedding'], outputs['z1'])
  np.testing.assert_allclose(
      outputs['features'],
      method.embed(variables.params, variables.mutables, variables.extras,
                   views[0]),
      rtol=1e-5, atol=1e-6)

  loss, metrics, _ = method.objective(outputs, {}, 0)
  expected, terms = losses.vicreg(outputs['z1'], outputs['z2'], 2.0, 3.0, 0.5)
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  assert set(terms) <= set(metrics)
  for key, value in terms.items():
    np.testing.assert_allclose(metrics[key], value, rtol=1e-6)
  np.testing.assert_allclose(
      loss, 2.0 * terms['invariance'] + 3.0 * terms['variance']
      + 0.5 * terms['covariance'], rtol=1e-5)


def test_batchnorm_statistics_are_per_view():
  method, (a, b), variables = _setup(_config())
  c = np.flip(b, axis=1) * 0.5  # Another second view.
  ab, _ = _forward(method, variables, [a, b])
  ac, _ = _forward(method, variables, [a, c])
  ba, _ = _forward(method, variables, [b, a])
  np.testing.assert_allclose(ab['z1'], ac['z1'], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(ab['z2'], ba['z1'], rtol=1e-5, atol=1e-6)
  assert not np.allclose(ab['z2'], ac['z2'])


def test_jit_and_pmap_agree_and_the_loss_moves():
  _, history = harness.assert_same_training(_config(), steps=2)
  assert {'invariance', 'variance', 'covariance'} <= set(history[0])
  assert history[-1]['update_norm'] > 0
