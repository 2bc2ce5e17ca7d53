"""LR scaling and schedule, weight-decay masks, the probe's own partition,
parameter groups (Barlow Twins' bias lr, SimSiam's fixed predictor lr)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ssl_jax import config_lib
from ssl_jax import optim

from conftest import REPO


def _config(**optim_kw):
  c = config_lib.base_config()
  c.total_steps = 100
  c.batch_size = 512
  c.optim.update(optim_kw)
  return c


def test_linear_lr_scaling_and_warmup_cosine():
  c = _config(lr=0.3)
  assert optim.peak_lr(c) == 0.3 * 512 / 256
  schedule = optim.lr_schedule(c, total_steps=100, warmup_steps=10)
  np.testing.assert_allclose(schedule(0), 0.0)
  np.testing.assert_allclose(schedule(5), 0.3, rtol=1e-6)
  np.testing.assert_allclose(schedule(10), 0.6, rtol=1e-6)
  # Half-way through the cosine part the lr is half the peak.
  np.testing.assert_allclose(schedule(55), 0.3, rtol=1e-5)
  np.testing.assert_allclose(schedule(100), 0.0, atol=1e-7)
  # SimCLR's learning_rate_scaling=sqrt: base lr x sqrt(B), not sqrt(B/256).
  c.optim.lr_scaling = 'sqrt'
  np.testing.assert_allclose(optim.peak_lr(c), 0.3 * 512**0.5)


def test_warmup_start_and_per_epoch_steps():
  # I-JEPA's WarmupCosineSchedule starts at start_lr 2e-4 of lr 1e-3.
  c = _config(lr=1e-3, lr_scaling='none', start_lr_ratio=0.2)
  schedule = optim.lr_schedule(c, total_steps=100, warmup_steps=10)
  np.testing.assert_allclose(schedule(0), 2e-4, rtol=1e-6)
  np.testing.assert_allclose(schedule(5), 6e-4, rtol=1e-6)
  np.testing.assert_allclose(schedule(10), 1e-3, rtol=1e-6)
  # SimSiam's adjust_learning_rate: once per epoch, epoch e of E = 10 at
  # peak (1 + cos(pi e / E)) / 2 for all its updates (here 10 per epoch).
  c = _config(lr=0.05, lr_per_epoch=True)
  schedule = optim.lr_schedule(c, total_steps=100, warmup_steps=0,
                               steps_per_epoch=10)
  for step, epoch in ((0, 0), (9, 0), (10, 1), (57, 5), (99, 9)):
    np.testing.assert_allclose(
        schedule(step), 0.1 * (1 + np.cos(np.pi * epoch / 10)) / 2,
        rtol=1e-5, err_msg=f'step {step}')
  with pytest.raises(ValueError, match='steps_per_epoch'):
    optim.lr_schedule(c, total_steps=100, warmup_steps=0)
  c = _config(start_lr_ratio=1.5)
  with pytest.raises(config_lib.ConfigError, match='start_lr_ratio'):
    config_lib.validate(c, num_devices=1)


def test_weight_decay_and_trust_ratio_skip_biases_and_norms():
  params = {'model': {'kernel': jnp.ones((4, 4)), 'bias': jnp.ones((4,)),
                      'scale': jnp.ones((4,))},
            'probe': {'kernel': jnp.ones((4, 2)), 'bias': jnp.ones((2,))}}
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  for name in ('lars', 'adamw', 'sgd'):
    c = _config(name=name, weight_decay=0.1, lr=1.0)
    tx, _ = optim.make(c, total_steps=100, warmup_steps=0)
    state = tx.init(params)
    # Two steps with zero gradients: only weight decay can move anything.
    for _ in range(2):
      updates, state = tx.update(zero_grads, state, params)
    assert np.abs(updates['model']['kernel']).sum() > 0, name
    np.testing.assert_array_equal(updates['model']['bias'], 0)
    np.testing.assert_array_equal(updates['model']['scale'], 0)
    # The probe has no weight decay at all.
    np.testing.assert_array_equal(updates['probe']['kernel'], 0)


def test_probe_uses_its_own_lr():
  c = _config(name='sgd', lr=1e-6, momentum=0.0, weight_decay=0.0)
  c.probe.lr = 0.5
  c.probe.momentum = 0.0
  tx, _ = optim.make(c, total_steps=100, warmup_steps=0)
  params = {'model': {'w': jnp.ones((2, 2))}, 'probe': {'w': jnp.ones((2, 2))}}
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates['probe']['w'], -0.5)
  np.testing.assert_allclose(updates['model']['w'], -1e-6 * 2)
  assert isinstance(tx, optax.GradientTransformation)


def test_ema_schedules_match_the_methods_card():
  np.testing.assert_allclose(optim.ema_cosine(0, 100, 0.996), 0.996,
                             rtol=1e-7)
  np.testing.assert_allclose(optim.ema_cosine(50, 100, 0.996), 0.998,
                             rtol=1e-7)
  np.testing.assert_allclose(optim.ema_cosine(100, 100, 0.996), 1.0)
  np.testing.assert_allclose(optim.ema_linear(50, 100, 0.996), 0.998,
                             rtol=1e-7)
  # data2vec 2.0: 0.9998 -> 0.99999 over 100k updates; k = 50k -> 0.999895.
  np.testing.assert_allclose(optim.ema_linear(50_000, 100_000, 0.9998,
                                              0.99999), 0.999895, rtol=1e-7)
  np.testing.assert_allclose(optim.ema_linear(200_000, 100_000, 0.9998,
                                              0.99999), 0.99999, rtol=1e-7)


def test_ema_update_moves_the_teacher_toward_the_student():
  teacher = {'w': jnp.zeros((2,))}
  student = {'w': jnp.ones((2,))}
  new = optim.ema_update(teacher, student, 0.9)
  np.testing.assert_allclose(new['w'], 0.1, rtol=1e-6)
  grad = jax.grad(lambda s: optim.ema_update(teacher, s, 0.9)['w'].sum())(
      student)
  np.testing.assert_array_equal(grad['w'], 0)  # The teacher sees no gradient.


def test_weight_decay_cosine_schedule_and_decay_everything_option():
  c = _config(name='adamw', weight_decay=0.04)
  c.optim.weight_decay_end = 0.4
  wd = optim.weight_decay_schedule(c, total_steps=100)
  np.testing.assert_allclose([wd(0), wd(50), wd(100)], [0.04, 0.22, 0.4],
                             rtol=1e-6)
  c = _config(name='sgd', weight_decay=0.1, lr=1e-9, momentum=0.0)
  c.optim.exclude_norm_and_bias = False
  tx, _ = optim.make(c, total_steps=100, warmup_steps=0)
  params = {'model': {'bias': jnp.ones((4,))}, 'probe': {}}
  updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params),
                         tx.init(params), params)
  assert np.abs(updates['model']['bias']).sum() > 0


def test_per_tensor_clip_scales_each_array_alone():
  tx = optim.clip_per_tensor(3.0)
  grads = {'big': jnp.full((4,), 10.0), 'small': jnp.array([0.3, 0.4])}
  out, _ = tx.update(grads, tx.init(grads))
  np.testing.assert_allclose(jnp.linalg.norm(out['big']), 3.0, rtol=1e-5)
  np.testing.assert_allclose(out['small'], grads['small'])  # Under 3: kept.


def _recipe(name):
  return config_lib.load_file(os.path.join(REPO, 'configs', name))


def test_barlow_twins_biases_and_bn_get_their_own_lr():
  # facebookresearch/barlowtwins main.py: LARS param_groups [weights,
  # biases (ndim == 1)], lr = schedule x 0.2 and x 0.0048 (x B/256 = 8),
  # weight_decay_filter and lars_adaptation_filter on the ndim-1 arrays.
  c = _recipe('barlow_twins_imagenet.py')
  tx, _ = optim.make(c, total_steps=100, warmup_steps=0)
  w = jnp.full((4, 4), 0.5)
  params = {'model': {'backbone': {'kernel': w, 'bias': jnp.ones((4,)),
                                   'scale': jnp.ones((4,))}},
            'probe': {}}
  g = {'model': {'backbone': {'kernel': jnp.full((4, 4), 2.0),
                              'bias': jnp.full((4,), 3.0),
                              'scale': jnp.full((4,), -1.0)}}, 'probe': {}}
  updates, _ = tx.update(g, tx.init(params), params)
  u = updates['model']['backbone']
  # Step 0 without warm-up is the peak; the momentum buffer starts at 0.
  np.testing.assert_allclose(u['bias'], -0.0048 * 8 * 3.0, rtol=1e-6)
  np.testing.assert_allclose(u['scale'], -0.0048 * 8 * -1.0, rtol=1e-6)
  # Weights: dp = g + wd w, scaled by eta ||w|| / ||dp||, times 0.2 x 8.
  dp = 2.0 + 1e-6 * 0.5
  trust = 1e-3 * (0.5 * 4) / (dp * 4)
  np.testing.assert_allclose(u['kernel'], -0.2 * 8 * trust * dp, rtol=1e-5)
  # Both groups follow one schedule shape: warm-up, then cosine to 0.001.
  groups = optim.group_schedules(c, total_steps=1000, warmup_steps=100)
  for step in (0, 50, 100, 550, 999, 1000):
    np.testing.assert_allclose(groups['biases'](step),
                               groups['main'](step) * 0.0048 / 0.2,
                               rtol=1e-5, atol=1e-12)
  np.testing.assert_allclose(groups['biases'](1000), 0.0048 * 8 * 0.001,
                             rtol=1e-5)


def test_grouped_optimizer_clips_all_model_gradients_together():
  c = _config(name='sgd', lr=256 / 512, momentum=0.0, weight_decay=0.0,
              lr_biases=256 / 512, grad_clip_norm=1.0)
  tx, _ = optim.make(c, total_steps=100, warmup_steps=0)
  params = {'model': {'kernel': jnp.ones((2, 2)), 'bias': jnp.ones((2,))},
            'probe': {}}
  grads = jax.tree.map(lambda p: 10.0 * jnp.ones_like(p), params)
  updates, _ = tx.update(grads, tx.init(params), params)
  # lr 1 for both groups: the update is the clipped gradient, global norm 1.
  np.testing.assert_allclose(optax.tree.norm(updates['model']), 1.0,
                             rtol=1e-5)


def test_simsiam_fix_pred_lr_keeps_the_predictor_at_the_initial_lr():
  # main_simsiam.py --fix-pred-lr: the predictor's group keeps init_lr =
  # 0.05 x 512/256 = 0.1; the encoder follows the cosine
  # init_lr x 0.5 (1 + cos(pi t / T)).
  c = _recipe('simsiam_imagenet.py')
  assert c.optim.fix_pred_lr
  c.optim.update(momentum=0.0, weight_decay=0.0)  # The lr alone.
  # 10 epochs of 10 updates (lr_per_epoch): update 90 opens epoch 9.
  tx, _ = optim.make(c, total_steps=100, warmup_steps=0, steps_per_epoch=10)
  params = {'model': {'backbone': {'kernel': jnp.ones((2, 2))},
                      'predictor': {'kernel': jnp.ones((2, 2)),
                                    'bias': jnp.ones((2,))}},
            'probe': {}}
  zeros = jax.tree.map(jnp.zeros_like, params)
  state = tx.init(params)
  update = jax.jit(tx.update)
  for _ in range(90):
    _, state = update(zeros, state, params)
  updates, _ = update(jax.tree.map(jnp.ones_like, params), state, params)
  np.testing.assert_allclose(updates['model']['predictor']['kernel'], -0.1,
                             rtol=1e-6)
  np.testing.assert_allclose(updates['model']['predictor']['bias'], -0.1,
                             rtol=1e-6)
  np.testing.assert_allclose(updates['model']['backbone']['kernel'],
                             -0.1 * 0.5 * (1 + np.cos(np.pi * 90 / 100)),
                             rtol=1e-5)


def test_fix_pred_lr_needs_a_predictor():
  c = _config(name='sgd', fix_pred_lr=True)
  tx, _ = optim.make(c, total_steps=100, warmup_steps=0)
  with pytest.raises(config_lib.ConfigError, match='fix_pred_lr'):
    tx.init({'model': {'backbone': {'w': jnp.ones(2)}}, 'probe': {}})


def test_frozen_start_skips_updates_and_adam_moments():
  # DINO's cancel_gradients_last_layer sets the last layer's grad to None
  # for the first epoch: torch's AdamW then skips the tensor (no update, no
  # decay, moments and step count untouched). Here 3 frozen updates with
  # gradient 10, then gradient 1 at update 3: with untouched moments, Adam's
  # first step is m^/(sqrt(v^) + eps) = 1, so the update is
  # -lr_3 (1 + wd w) with w = 1 (never moved) and lr_3 the schedule's value
  # at the global update 3 (warm-up 2 of 10, cosine after).
  c = _config(name='adamw', lr=0.1, lr_scaling='none', weight_decay=0.5)
  frozen = lambda path: path[0].key == 'head'
  tx, schedule = optim.make(c, total_steps=10, warmup_steps=2,
                            frozen_start=(frozen, 3))
  params = {'model': {'head': {'kernel': jnp.ones((2, 2))},
                      'backbone': {'kernel': jnp.ones((2, 2))}},
            'probe': {}}
  grads = lambda g: jax.tree.map(lambda p: jnp.full_like(p, g), params)
  state = tx.init(params)
  update = jax.jit(tx.update)
  for _ in range(3):
    updates, state = update(grads(10.0), state, params)
    np.testing.assert_array_equal(updates['model']['head']['kernel'], 0)
  updates, _ = update(grads(1.0), state, params)
  np.testing.assert_allclose(updates['model']['head']['kernel'],
                             -schedule(3) * (1 + 0.5), rtol=1e-5)
  # The backbone's moments saw the 10s: its step is not Adam's first.
  assert not np.allclose(updates['model']['backbone']['kernel'],
                         -schedule(3) * (1 + 0.5), rtol=1e-2)


def test_layer_decay_and_patch_embed_multiplier_scale_each_update():
  # DINOv2's param_groups.py on a 2-block ViT (L = 2), ld 0.9, patch
  # embedding x 0.2: layer 0 (embedding, tokens) 0.9^3, block j 0.9^(2-j),
  # final norm and the heads 1; the patch embedding 0.2 x 0.9^3.
  c = _config(name='adamw', lr=0.1, lr_scaling='none', weight_decay=0.5,
              layer_decay=0.9, patch_embed_lr_mult=0.2)
  c.backbone = config_lib.backbone_config('vit', dim=8, depth=2, heads=2)
  leaf = lambda: jnp.ones((2, 2))
  model = {'backbone': {'patch_embed': {'kernel': leaf(), 'bias': leaf()},
                        'cls': leaf(), 'mask_token': leaf(),
                        'block0': {'w': leaf()}, 'block1': {'w': leaf()},
                        'norm': {'scale': leaf()}},
           'dino_head': {'mlp0': {'kernel': leaf()}}}
  factors = optim.lr_multipliers(c, model)
  expected = {'backbone': {'patch_embed': {'kernel': 0.2 * 0.729,
                                           'bias': 0.2 * 0.729},
                           'cls': 0.729, 'mask_token': 0.729,
                           'block0': {'w': 0.81}, 'block1': {'w': 0.9},
                           'norm': {'scale': 1.0}},
              'dino_head': {'mlp0': {'kernel': 1.0}}}
  jax.tree.map(lambda f, e: np.testing.assert_allclose(f, e, rtol=1e-12),
               factors, expected)
  # The whole AdamW update (Adam step and decay) scales, as a torch param
  # group's lr; the probe's does not.
  params = {'model': model, 'probe': {'w': leaf()}}
  grads = jax.tree.map(lambda p: 0.3 * p, params)
  update = lambda config: optim.make(config, 100, 0)[0].update(
      grads, optim.make(config, 100, 0)[0].init(params), params)[0]
  plain = update(_config(name='adamw', lr=0.1, lr_scaling='none',
                         weight_decay=0.5))
  scaled = update(c)
  assert np.abs(plain['model']['backbone']['cls']).min() > 0.01
  jax.tree.map(lambda s, p, f: np.testing.assert_allclose(s, p * f,
                                                          rtol=1e-6),
               scaled['model'], plain['model'], factors)
  np.testing.assert_allclose(scaled['probe']['w'], plain['probe']['w'])
  assert optim.lr_multipliers(_config(), model) is None
