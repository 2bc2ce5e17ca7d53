"""MoCo v3: the objective is InfoNCE of queries and stop-gradient momentum
keys, the heads have no biases, the momentum encoder follows the EMA rule
(the train-step wiring it shares with BYOL is checked in test_byol.py),
jit == pmap."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax import optim
from ssl_jax import step as step_lib
from ssl_jax.methods import base

from conftest import REPO
import method_harness as harness

N = 16
TOTAL_STEPS = 10


def _config(vit_heads=False):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'moco_v3_fashion_mnist.py') + ':smoke')
  config.batch_size = N
  config = harness.tiny_vit(config)
  if vit_heads:  # The paper's ViT recipe: 3-layer projector, frozen patches.
    config.method.update(proj_hidden=(32, 32), pred_last_bn='no_affine',
                         freeze_patch_embed=True)
  return config


def _views(method, seed):
  batch = harness.synthetic_batch(method.views, 1, N, seed=seed)
  return [jnp.asarray(batch[f'view{i}'], jnp.float32) / 255
          for i in range(2)]


@pytest.fixture(scope='module')
def setup():
  """Init, then one compiled forward + objective + gradient."""
  method = methods.get('moco_v3')(_config(), total_steps=TOTAL_STEPS)
  views = _views(method, seed=0)
  variables = base.Variables(**jax.jit(
      lambda v: vars(method.init(jax.random.PRNGKey(0), v)))(views))

  def loss_fn(params, extras):
    outputs, mutables = method.forward(params, variables.mutables, extras,
                                       views, jax.random.PRNGKey(1))
    objective = method.objective(outputs, extras, 5)
    return objective[0], (objective, outputs, mutables)

  (_, (objective, outputs, mutables)), grads = jax.jit(jax.value_and_grad(
      loss_fn, argnums=(0, 1), has_aux=True))(variables.params,
                                              variables.extras)
  return method, variables, objective, outputs, mutables, grads


def test_jit_and_pmap_agree_and_the_loss_moves():
  # ViT heads and the frozen patch embedding (adjust_updates) included.
  state, history = harness.assert_same_training(_config(vit_heads=True),
                                                steps=2)
  assert history[-1]['update_norm'] > 0
  assert set(state.extras['target']) == {'backbone', 'projector'}
  # The frozen patch embedding never moves, so its EMA equals it; the other
  # backbone weights moved, so their EMA lags behind.
  online = state.params['model']['backbone']
  target = state.extras['target']['backbone']
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               target['patch_embed'], online['patch_embed'])
  kernel = lambda tree: tree['block0']['Attention_0']['qkv']['kernel']
  assert not np.allclose(kernel(target), kernel(online), rtol=1e-6)


def test_objective_is_the_moco_v3_loss_of_the_outputs(setup):
  method, _, (loss, metrics, _), outputs, mutables, _ = setup
  dim = method.config.method.proj_dim
  for key in ('p1', 'p2', 'target1', 'target2', 'embedding'):
    assert outputs[key].shape == (N, dim), key
  assert outputs['features'].shape == (N, method.backbone.feature_dim)
  assert set(mutables) == {'batch_stats', 'target_batch_stats'}
  temperature = method.config.method.temperature
  assert temperature == 0.2
  np.testing.assert_allclose(
      loss, losses.moco_v3(outputs['p1'], outputs['p2'], outputs['target1'],
                           outputs['target2'], temperature), rtol=1e-6)
  assert metrics['moco_v3'] == loss
  # Cosine momentum from ema_base 0.99 at step 5 of 10: 1 - 0.01 / 2.
  np.testing.assert_allclose(metrics['ema_momentum'], 0.995, rtol=1e-6)


def test_momentum_encoder_starts_as_a_copy_and_gets_no_gradient(setup):
  _, variables, _, outputs, _, (g_params, g_extras) = setup
  params = variables.params
  jax.tree.map(np.testing.assert_array_equal, variables.extras['target'],
               {k: params[k] for k in ('backbone', 'projector')})
  # Train-mode BN with the same weights: keys equal the online projections.
  np.testing.assert_allclose(outputs['target1'], outputs['embedding'],
                             rtol=1e-4, atol=5e-5)
  for leaf in jax.tree.leaves(g_extras):
    np.testing.assert_array_equal(leaf, 0)
  assert any(np.abs(leaf).max() > 0
             for leaf in jax.tree.leaves(g_params['predictor']))


def test_heads_have_no_bias_and_the_right_last_bn():
  # Shapes only (eval_shape): ResNet heads, then the ViT heads.
  for vit_heads, proj_layers, pred_bns in ((False, 2, 1), (True, 3, 2)):
    method = methods.get('moco_v3')(_config(vit_heads))
    views = [jax.ShapeDtypeStruct((N, 28, 28, 1), jnp.float32)] * 2
    params, mutables = jax.eval_shape(
        lambda v: (lambda x: (x.params, x.mutables))(
            method.init(jax.random.PRNGKey(0), v)), views)
    for head in ('projector', 'predictor'):
      for name, layer in params[head].items():
        if name.startswith('Dense'):
          assert set(layer) == {'kernel'}, (head, name)
    dense = [k for k in params['projector'] if k.startswith('Dense')]
    assert len(dense) == proj_layers
    # Projector: hidden BNs with affine params, the last one without.
    stats = mutables['batch_stats']
    assert len(stats['projector']) == proj_layers
    assert len([k for k in params['projector']
                if k.startswith('BatchNorm')]) == proj_layers - 1
    # Predictor: last BN only with the ViT heads (affine-free).
    assert len(stats['predictor']) == pred_bns


def test_momentum_encoder_follows_the_ema_rule(setup):
  method, variables, _, _, _, _ = setup
  online = jax.tree.map(lambda x: x + 1.0, variables.params)
  extras = jax.jit(method.update_extras)(variables.extras, online, {}, 5)
  assert set(extras['target']) == {'backbone', 'projector'}  # No predictor.
  m = 0.995  # Step 5 of 10 from 0.99.
  kernel = lambda tree: tree['projector']['Dense_0']['kernel']
  np.testing.assert_allclose(
      kernel(extras['target']),
      m * kernel(variables.params) + (1 - m) * kernel(online), rtol=1e-6,
      atol=1e-6)


def test_frozen_patch_embedding():
  method = methods.get('moco_v3')(_config(vit_heads=True))
  updates = {'backbone': {'patch_embed': {'kernel': jnp.ones((7, 7, 1, 16))},
                          'norm': {'scale': jnp.ones(16)}},
             'predictor': {'Dense_0': {'kernel': jnp.ones((4, 4))}}}
  adjusted = method.adjust_updates(updates, 0)
  np.testing.assert_array_equal(
      adjusted['backbone']['patch_embed']['kernel'], 0)
  np.testing.assert_array_equal(adjusted['backbone']['norm']['scale'], 1)
  np.testing.assert_array_equal(adjusted['predictor']['Dense_0']['kernel'], 1)
  config = _config()
  config.backbone = config_lib.backbone_config('resnet', width=0.0625)
  config.method.freeze_patch_embed = True
  with pytest.raises(config_lib.ConfigError, match='freeze_patch_embed'):
    methods.get('moco_v3')(config)


def test_imagenet_vit_recipe_never_moves_the_patch_embedding():
  # moco-v3 vits.py with --stop-grad-conv1: the patch embedding's weight and
  # bias have requires_grad=False, so a train step leaves them as drawn.
  config = config_lib.load_file(os.path.join(
      REPO, 'configs', 'moco_v3_imagenet.py') + ':smoke,backbone=vit')
  assert config.method.freeze_patch_embed
  config.batch_size = N
  # No device augmentation: a smaller step to compile.
  config.aug.update(flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=(0.0,),
                    solarize_p=(0.0,))
  method = methods.get('moco_v3')(config, total_steps=TOTAL_STEPS)
  tx, schedule = optim.make(config, TOTAL_STEPS, 0)
  batch = harness.synthetic_batch(method.views, 3, N, seed=0)
  state = step_lib.init_state(method, tx, harness.NUM_CLASSES,
                              jax.random.PRNGKey(0), batch, probe=False)
  train_step = jax.jit(step_lib.make_train_step(
      method, tx, schedule, seed=0, num_classes=harness.NUM_CLASSES,
      probe=False))
  new_state, metrics = train_step(state, batch)
  assert metrics['nonfinite'] == 0
  old, new = state.params['model'], new_state.params['model']
  jax.tree.map(np.testing.assert_array_equal,
               old['backbone']['patch_embed'], new['backbone']['patch_embed'])
  qkv = lambda p: p['backbone']['block0']['Attention_0']['qkv']['kernel']
  assert not np.allclose(qkv(old), qkv(new))
