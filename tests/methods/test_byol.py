"""BYOL: the objective is the BYOL loss of per-view outputs, the target is a
stop-gradient EMA copy of backbone + projector, jit == pmap."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax import optim
from ssl_jax import state as state_lib
from ssl_jax import step as step_lib
from ssl_jax.methods import base

from conftest import REPO
import method_harness as harness

N = 16
TOTAL_STEPS = 10


def _config():
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'byol_fashion_mnist.py') + ':smoke')
  config.batch_size = N
  return harness.tiny_vit(config)


def _views(method, seed):
  batch = harness.synthetic_batch(method.views, 1, N, seed=seed)
  return [jnp.asarray(batch[f'view{i}'], jnp.float32) / 255
          for i in range(2)]


def _tree_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture(scope='module')
def setup():
  """Init, then one compiled forward + objective + gradient, reused below."""
  config = _config()
  method = methods.get('byol')(config, total_steps=TOTAL_STEPS)
  views = _views(method, seed=0)
  variables = base.Variables(**jax.jit(
      lambda v: vars(method.init(jax.random.PRNGKey(0), v)))(views))

  def loss_fn(params, extras, views):
    outputs, mutables = method.forward(params, variables.mutables, extras,
                                       views, jax.random.PRNGKey(1))
    return method.objective(outputs, extras, 0)[0], (outputs, mutables)

  run = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True))
  return method, views, variables, run


def test_jit_and_pmap_agree_and_the_loss_moves():
  # The target (extras) and both BN statistics (mutables) are compared too.
  state, history = harness.assert_same_training(_config(), steps=2)
  assert history[-1]['update_norm'] > 0
  assert set(state.extras['target']) == {'backbone', 'projector'}
  assert set(state.mutables) == {'batch_stats', 'target_batch_stats'}


def test_objective_is_the_byol_loss_of_the_outputs(setup):
  method, views, variables, run = setup
  (_, (outputs, mutables)), _ = run(variables.params, variables.extras, views)
  dim = method.config.method.proj_dim
  for key in ('p1', 'p2', 'target1', 'target2', 'embedding'):
    assert outputs[key].shape == (N, dim), key
  assert outputs['features'].shape == (N, method.backbone.feature_dim)
  assert set(mutables) == {'batch_stats', 'target_batch_stats'}
  loss, metrics, _ = method.objective(outputs, variables.extras, 5)
  np.testing.assert_allclose(
      loss, losses.byol(outputs['p1'], outputs['p2'], outputs['target1'],
                        outputs['target2']), rtol=1e-6)
  # Cosine momentum from ema_base 0.99 at step 5 of 10: 1 - 0.01 / 2.
  np.testing.assert_allclose(metrics['ema_momentum'], 0.995, rtol=1e-6)


def test_target_starts_as_a_copy_and_runs_bn_in_train_mode(setup):
  _, views, variables, run = setup
  (_, (outputs, mutables)), _ = run(variables.params, variables.extras, views)
  params, stats = variables.params, variables.mutables['batch_stats']
  assert set(params) == {'backbone', 'projector', 'predictor'}
  _tree_equal(variables.extras['target'],
              {k: params[k] for k in ('backbone', 'projector')})
  _tree_equal(variables.mutables['target_batch_stats'],
              {'projector': stats['projector']})  # The ViT has no BN.
  # Same weights and batch statistics: the target's projection of view 1 is
  # the online one (eval-mode BN with the initial averages would differ).
  np.testing.assert_allclose(outputs['target1'], outputs['embedding'],
                             rtol=1e-4, atol=2e-5)
  # Its running averages moved, by its own forwards (equal to the online
  # projector's here, both having seen the same two views).
  new_target = mutables['target_batch_stats']['projector']
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               new_target, mutables['batch_stats']['projector'])
  assert not np.allclose(new_target['BatchNorm_0']['mean'],
                         stats['projector']['BatchNorm_0']['mean'])


def test_views_are_not_concatenated(setup):
  # BN statistics per view: view 1's outputs do not depend on view 2.
  method, (a, b), variables, run = setup
  other = _views(method, seed=7)[1]
  assert not np.allclose(b, other)
  (_, (outputs, _)), _ = run(variables.params, variables.extras, [a, b])
  (_, (outputs2, _)), _ = run(variables.params, variables.extras, [a, other])
  for key in ('p1', 'target1', 'features', 'embedding'):
    np.testing.assert_allclose(outputs2[key], outputs[key], rtol=1e-5,
                               atol=1e-6, err_msg=key)
  assert not np.allclose(outputs2['p2'], outputs['p2'])


def test_target_gets_no_gradient(setup):
  _, views, variables, run = setup
  _, (g_params, g_extras) = run(variables.params, variables.extras, views)
  for leaf in jax.tree.leaves(g_extras):
    np.testing.assert_array_equal(leaf, 0)
  assert any(np.abs(leaf).max() > 0
             for leaf in jax.tree.leaves(g_params['predictor']))


def test_a_train_step_moves_the_target_by_the_ema_rule(setup):
  _, _, variables, _ = setup
  config = _config()
  config.method.ema_base = 0.9
  # Adam's first step moves every weight by about lr: a visible EMA move.
  config.optim.update(name='adamw', lr=0.05, lr_scaling='none')
  # No device augmentation: a smaller step to compile.
  config.aug.update(flip_p=0.0, jitter_p=0.0, gray_p=0.0, solarize_p=(0.0,))
  method = methods.get('byol')(config, total_steps=TOTAL_STEPS)
  # No warm-up: the optimizer's own step count starts at 0 below.
  tx, schedule = optim.make(config, TOTAL_STEPS, 0)
  params = {'model': variables.params, 'probe': {}}
  state = state_lib.TrainState(
      step=jnp.asarray(5, jnp.int32),  # Mid-schedule.
      params=params, opt_state=tx.init(params),
      mutables=variables.mutables, extras=variables.extras)
  train_step = jax.jit(step_lib.make_train_step(
      method, tx, schedule, seed=0, num_classes=harness.NUM_CLASSES,
      probe=False))
  batch = harness.synthetic_batch(method.views, 1, N, seed=0)
  new_state, metrics = train_step(state, batch)

  # Momentum at step 5 of 10 from base 0.9: 1 - 0.1 (cos(pi / 2) + 1) / 2.
  m = 0.95
  np.testing.assert_allclose(metrics['ema_momentum'], m, rtol=1e-6)
  old, new = state.extras['target'], new_state.extras['target']
  online = new_state.params['model']
  assert set(new) == {'backbone', 'projector'}  # No predictor.
  # One leaf by hand: the projector's first Dense kernel.
  kernel = lambda tree: tree['projector']['Dense_0']['kernel']
  np.testing.assert_allclose(
      kernel(new), m * kernel(old) + (1 - m) * kernel(online), rtol=1e-5,
      atol=1e-7)
  assert np.abs(kernel(online) - kernel(old)).mean() > 0.01
  assert not np.allclose(kernel(new), kernel(old), rtol=0, atol=1e-3)
  # And every leaf of backbone + projector.
  jax.tree.map(
      lambda t, t0, o: np.testing.assert_allclose(
          t, m * t0 + (1 - m) * o, rtol=1e-5, atol=1e-7),
      new, old, {k: online[k] for k in ('backbone', 'projector')})


def test_update_extras_leaves_the_predictor_out(setup):
  method, _, variables, _ = setup
  params = jax.tree.map(lambda x: x + 1.0, variables.params)
  extras = jax.jit(method.update_extras)(variables.extras, params, {}, 0)
  assert set(extras['target']) == {'backbone', 'projector'}
  m = 0.99  # ema_base at step 0.
  np.testing.assert_allclose(
      extras['target']['projector']['Dense_1']['kernel'],
      variables.params['projector']['Dense_1']['kernel'] + (1 - m),
      rtol=1e-6, atol=1e-6)


def test_fused_views_equal_one_call_per_view(setup):
  """fuse_views (one call, a BatchNorm group per view) computes what one
  call per view does: outputs, both running statistics and gradients."""
  method, views, variables, run = setup
  config = _config()
  config.fuse_views = False
  unfused = methods.get('byol')(config, total_steps=TOTAL_STEPS)
  assert method.fuse_views and not unfused.fuse_views

  def loss_fn(params, extras, views):
    outputs, mutables = unfused.forward(params, variables.mutables, extras,
                                        views, jax.random.PRNGKey(1))
    return unfused.objective(outputs, extras, 0)[0], (outputs, mutables)

  expected = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
      variables.params, variables.extras, views)
  (loss, aux), (grads, _) = run(variables.params, variables.extras, views)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      a, b, rtol=1e-4, atol=1e-5), ((loss, aux), grads), expected)


def test_imagenet_heads_last_dense_has_no_bias_as_the_official(setup):
  # deepmind-research byol/utils/networks.py MLP: Linear(hidden, with_bias)
  # -> BN -> ReLU -> Linear(output, with_bias=False).
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'byol_imagenet.py') + ':smoke')
  method = methods.get('byol')(config)  # Shapes only: the ResNet is free.
  views = [jax.ShapeDtypeStruct((2, v.crop_size, v.crop_size, 3),
                                jnp.float32) for v in method.views]
  params = jax.eval_shape(
      lambda v: method.init(jax.random.PRNGKey(0), v).params, views)
  for head in ('projector', 'predictor'):
    assert set(params[head]['Dense_0']) == {'kernel', 'bias'}
    assert set(params[head]['Dense_1']) == {'kernel'}, head
  # solo-learn's heads (the default: CIFAR-10, Fashion-MNIST) keep one.
  _, _, variables, _ = setup
  assert 'bias' in variables.params['projector']['Dense_1']
