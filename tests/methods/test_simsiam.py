"""SimSiam: the objective is the SimSiam loss with the stop-gradient on the
projections, views are forwarded one by one, the heads are the official
ones, jit == pmap."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax.methods import base

from conftest import REPO
import method_harness as harness

N = 16


def _config():
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'simsiam_fashion_mnist.py') + ':smoke')
  config.batch_size = N
  return harness.tiny_vit(config)


def _views(method, seed):
  batch = harness.synthetic_batch(method.views, 1, N, seed=seed)
  return [jnp.asarray(batch[f'view{i}'], jnp.float32) / 255
          for i in range(2)]


@pytest.fixture(scope='module')
def setup():
  method = methods.get('simsiam')(_config())
  views = _views(method, seed=0)
  variables = base.Variables(**jax.jit(
      lambda v: vars(method.init(jax.random.PRNGKey(0), v)))(views))
  forward = jax.jit(lambda views: method.forward(
      variables.params, variables.mutables, variables.extras, views,
      jax.random.PRNGKey(1)))
  return method, views, variables, forward


def test_jit_and_pmap_agree_and_the_loss_moves():
  # With the parameter groups of the ImageNet recipe (the predictor at a
  # fixed lr) and a bias group: the grouped optimizer state shards and
  # updates alike in both modes (the other methods run the single group).
  config = _config()
  config.optim.update(fix_pred_lr=True, lr_biases=0.01)
  _, history = harness.assert_same_training(config, steps=2)
  assert history[-1]['update_norm'] > 0


def test_objective_is_the_simsiam_loss_of_the_outputs(setup):
  method, views, variables, forward = setup
  outputs, mutables = forward(views)
  dim = method.config.method.proj_dim
  for key in ('p1', 'p2', 'z1', 'z2', 'embedding'):
    assert outputs[key].shape == (N, dim), key
  assert outputs['features'].shape == (N, method.backbone.feature_dim)
  assert set(mutables) == {'batch_stats'} and variables.extras == {}
  loss, metrics, _ = method.objective(outputs, {}, 0)
  np.testing.assert_allclose(
      loss, losses.simsiam(outputs['p1'], outputs['p2'], outputs['z1'],
                           outputs['z2']), rtol=1e-6)
  assert metrics['simsiam'] == loss


def test_projections_are_stop_gradient_targets(setup):
  method, views, _, forward = setup
  outputs, _ = forward(views)
  grads = jax.grad(lambda o: method.objective(o, {}, 0)[0])(outputs)
  np.testing.assert_array_equal(grads['z1'], 0)
  np.testing.assert_array_equal(grads['z2'], 0)
  assert np.abs(grads['p1']).max() > 0 and np.abs(grads['p2']).max() > 0


def test_views_are_not_concatenated(setup):
  # BN statistics per view: view 1's outputs do not depend on view 2.
  method, (a, b), _, forward = setup
  other = _views(method, seed=7)[1]
  outputs, _ = forward([a, b])
  outputs2, _ = forward([a, other])
  for key in ('p1', 'z1', 'features', 'embedding'):
    np.testing.assert_allclose(outputs2[key], outputs[key], rtol=1e-5,
                               atol=1e-6, err_msg=key)
  assert not np.allclose(outputs2['p2'], outputs['p2'])


def test_heads_are_the_official_ones(setup):
  _, _, variables, _ = setup
  params, stats = variables.params, variables.mutables['batch_stats']
  projector, predictor = params['projector'], params['predictor']
  # Projector: 3 Dense without bias; 2 affine BNs, the last one affine-free.
  assert all(set(projector[f'Dense_{i}']) == {'kernel'} for i in range(3))
  assert sorted(k for k in projector if k.startswith('BatchNorm')) == [
      'BatchNorm_0', 'BatchNorm_1']
  assert len(stats['projector']) == 3
  # Predictor: Dense-BN-ReLU-Dense with the last Dense biased, no last BN.
  assert 'bias' in predictor['Dense_1']
  assert list(stats['predictor']) == ['BatchNorm_0']
