"""DINO: outputs, objective, teacher EMA, centre, frozen last layer, the
official ViT's stochastic depth (student only) and interpolated positions,
jit == pmap. Cheap: the smoke config's one- or two-block ViT, 2 global + 2
local crops."""

import functools
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
from ssl_jax import train
from ssl_jax.methods import base
from ssl_jax.methods import dino

from conftest import REPO
import method_harness as harness

BATCH = 16


def _config(local_crops=2, official_vit=False, **method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'dino_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.aug.local_crops = local_crops
  if official_vit:  # Two blocks: block 1 drops branches with p 0.5.
    config.backbone.update(depth=2, pos_embed='interpolated', pos_grid=4,
                           drop_path=0.5)
  # Test schedules that move within a few steps: tau_t 0.04 in epoch 0,
  # 0.07 from epoch 1; EMA momentum far from 1 so its effect is visible.
  config.method.update(warmup_teacher_temp=0.04, teacher_temp=0.07,
                       warmup_teacher_temp_epochs=2, ema_base=0.5,
                       **method)
  config.lock()
  return config


def _views(method, batch_size=BATCH):
  batch = harness.synthetic_batch(method.views, 1, batch_size, seed=0)
  return [jnp.asarray(batch[f'view{i}'], jnp.float32) / 255
          for i in range(len(method.views))]


def test_teacher_temperature_schedule():
  # The boosted recipe: 0.04 -> 0.07 over 30 epochs (docs/methods.md#schedules).
  temp = lambda step: float(dino.teacher_temperature(
      step, 10, warmup=0.04, final=0.07, warmup_epochs=30))
  np.testing.assert_allclose(temp(0), 0.04, rtol=1e-6)
  np.testing.assert_allclose(temp(10), 0.0410344828, rtol=1e-6)  # Epoch 1.
  assert temp(19) == temp(10)  # Constant within an epoch.
  np.testing.assert_allclose(temp(290), 0.07, rtol=1e-6)  # Epoch 29.
  np.testing.assert_allclose(temp(5000), 0.07, rtol=1e-6)
  np.testing.assert_allclose(
      dino.teacher_temperature(5, 10, 0.04, 0.07, 0), 0.07, rtol=1e-6)


def test_outputs_objective_and_extras_update():
  config = _config()
  method = methods.get('dino')(config, total_steps=8, steps_per_epoch=2)
  assert len(method.views) == 4  # 2 global + 2 local.
  views = _views(method)

  @jax.jit
  def init_and_forward(views):
    variables = method.init(jax.random.PRNGKey(0), views)
    outputs, mutables = method.forward(
        variables.params, variables.mutables, variables.extras, views,
        jax.random.PRNGKey(1))
    return vars(variables), outputs, mutables

  variables, outputs, mutables = init_and_forward(views)
  variables = base.Variables(**variables)
  k = config.method.out_dim
  # The teacher starts as the student; the centre at zero.
  jax.tree.map(np.testing.assert_array_equal, variables.extras['teacher'],
               variables.params)
  np.testing.assert_array_equal(variables.extras['center'], np.zeros(k))
  assert set(mutables) == {'student', 'teacher'}
  assert outputs['student_logits'].shape == (BATCH, 4, k)
  assert outputs['teacher_logits'].shape == (BATCH, 2, k)
  assert outputs['features'].shape == (BATCH, method.backbone.feature_dim)
  assert outputs['embedding'].shape == (BATCH, config.method.head_bottleneck)
  # (The batch-first layout is what makes pmap's gather along axis 0 right:
  # the jit == pmap test below checks it.)
  # Teacher == student at init, on the global crops.
  np.testing.assert_allclose(outputs['teacher_logits'],
                             outputs['student_logits'][:, :2], rtol=1e-5,
                             atol=1e-6)

  extras = dict(variables.extras, center=jnp.linspace(-0.1, 0.1, k))
  for step, temp in ((1, 0.04), (2, 0.07)):  # Epoch 0, then epoch 1.
    loss, metrics, aux = method.objective(outputs, extras, step)
    expected = losses.dino(
        np.swapaxes(outputs['student_logits'], 0, 1),
        np.swapaxes(outputs['teacher_logits'], 0, 1), extras['center'],
        student_temp=0.1, teacher_temp=temp)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(metrics['teacher_temp'], temp, rtol=1e-6)
  assert metrics['ema_momentum'] == pytest.approx(
      1 - 0.5 * (np.cos(np.pi * 2 / 8) + 1) / 2, rel=1e-6)

  # Extras after the step: EMA teacher and the centre of this step's
  # teacher logits (all 2N rows), checked with NumPy.
  new_params = jax.tree.map(lambda p: p + 1.0, variables.params)
  new = method.update_extras(extras, new_params, aux, step=2)
  m = 1 - 0.5 * (np.cos(np.pi * 2 / 8) + 1) / 2
  jax.tree.map(lambda t, s, t0: np.testing.assert_allclose(
      t, m * t0 + (1 - m) * s, rtol=1e-5, atol=1e-6),
               new['teacher'], new_params, extras['teacher'])
  rows = np.asarray(outputs['teacher_logits'], np.float64).reshape(-1, k)
  np.testing.assert_allclose(
      new['center'], 0.9 * np.asarray(extras['center']) + 0.1 * rows.mean(0),
      rtol=1e-5, atol=1e-7)


def test_teacher_keeps_its_own_batch_stats():
  # BN in the head gives the tiny ViT batch statistics (as a ResNet has):
  # the teacher runs BN in train mode on its own copy of them.
  config = _config(local_crops=0, head_use_bn=True)
  method = methods.get('dino')(config)
  views = _views(method, batch_size=4)

  @jax.jit
  def init_and_forward(views):
    variables = method.init(jax.random.PRNGKey(0), views)
    # A teacher that differs from the student, as after some EMA steps.
    extras = dict(variables.extras, teacher=jax.tree.map(
        lambda p: 1.5 * p, variables.extras['teacher']))
    _, mutables = method.forward(variables.params, variables.mutables,
                                 extras, views, jax.random.PRNGKey(1))
    return variables.mutables, mutables

  initial, mutables = init_and_forward(views)
  # Copied at init (the official load_state_dict copies buffers too).
  assert jax.tree.leaves(initial['teacher'])
  jax.tree.map(np.testing.assert_array_equal, initial['teacher'],
               initial['student'])
  student, teacher = (mutables[k]['batch_stats'] for k in ('student',
                                                           'teacher'))
  # Both networks update their own statistics in train mode.
  changed = lambda a, b: not np.allclose(a, b)
  before = initial['teacher']['batch_stats']
  assert all(jax.tree.leaves(jax.tree.map(changed, teacher, before)))
  assert all(jax.tree.leaves(jax.tree.map(changed, student, before)))
  assert all(jax.tree.leaves(jax.tree.map(changed, student, teacher)))


def _initial_model_params(config, total_steps):
  """The model params run_steps starts from (same seed, same init)."""
  method = methods.get('dino')(config, total_steps=total_steps,
                               steps_per_epoch=total_steps // 2)
  tx, _ = optim.make(config, total_steps, 1,
                     frozen_start=method.frozen_start())
  init = functools.partial(
      step_lib.init_state, method, tx, harness.NUM_CLASSES,
      jax.random.PRNGKey(config.seed),
      train.sample_batch(method.views, 1), probe=config.probe.enabled)
  return jax.jit(init)().params['model']


def test_student_drops_paths_the_teacher_does_not():
  config = _config(official_vit=True)
  method = methods.get('dino')(config, total_steps=8, steps_per_epoch=2)
  views = _views(method)
  assert method.frozen_start()[1] == 2  # freeze_last_layer_epochs 1.0.

  @functools.partial(jax.jit, static_argnums=1)
  def forward(views, train):
    variables = method.init(jax.random.PRNGKey(0), views)
    return method.forward(variables.params, variables.mutables,
                          variables.extras, views, jax.random.PRNGKey(1),
                          train=train)[0]

  trained, evaluated = forward(views, True), forward(views, False)
  np.testing.assert_allclose(trained['teacher_logits'],
                             evaluated['teacher_logits'], rtol=1e-6)
  # At init the teacher is the student: equal without stochastic depth,
  # apart for the crops whose block-1 branches were dropped or rescaled.
  np.testing.assert_allclose(evaluated['student_logits'][:, :2],
                             evaluated['teacher_logits'], rtol=1e-5,
                             atol=1e-6)
  moved = ~np.isclose(trained['student_logits'], evaluated['student_logits'],
                      atol=1e-4).all(-1)
  assert moved.any() and moved[:, 2:].any()  # Local crops too.


def test_training_ema_frozen_last_layer_and_jit_equals_pmap():
  # total_steps 4, 2 steps per epoch: the last layer is frozen in steps 0-1
  # (epoch 0), trained from step 2. One local crop: a smaller step to
  # compile. The official ViT: stochastic depth per crop of each example
  # and the positions resized for the 14 px local crop, alike under jit and
  # pmap.
  config = _config(local_crops=1, official_vit=True)
  # AdamW's first steps move a weight by about lr * g / |g| whatever |g|:
  # on a weight whose gradient is round-off (block 1 drops its branch for
  # most crops) jit's and pmap's summation orders give steps up to 2.5e-5
  # apart; every other weight agrees to 2e-5 as elsewhere.
  state, history = harness.assert_same_training(config, steps=3,
                                                total_steps=4, atol=5e-5)
  student, teacher = state.params['model'], state.extras['teacher']
  initial = _initial_model_params(config, total_steps=4)
  last = lambda tree: np.asarray(tree['head']['last_layer']['kernel'])
  # The teacher copies the student at init; the rest of the network trains
  # from step 0, so its teacher has moved off the initial weights.
  assert not np.allclose(teacher['head']['mlp0']['kernel'],
                         initial['head']['mlp0']['kernel'])
  # The last layer moves at step 2 only: had it moved in steps 0-1, the
  # teacher (an EMA) would not be m(2) theta_0 + (1 - m(2)) theta_3.
  assert not np.allclose(last(student), last(initial))
  m = float(optim.ema_cosine(2, 4, 0.5))
  np.testing.assert_allclose(
      last(teacher), m * last(initial) + (1 - m) * last(student), rtol=1e-5,
      atol=1e-6)
  assert [h['teacher_temp'] for h in history] == pytest.approx(
      [0.04, 0.04, 0.07])
  assert [h['ema_momentum'] for h in history] == pytest.approx(
      [float(optim.ema_cosine(i, 4, 0.5)) for i in range(3)])
  assert all(np.isfinite(h['dino']) for h in history)
