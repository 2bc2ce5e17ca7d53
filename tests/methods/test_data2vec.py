"""data2vec 2.0: clones and their masks, teacher targets once per image,
objective, no leak from masked patches, EMA (linear then flat) by hand,
embed, jit == pmap. Cheap: the smoke config's one-block ViT on 4x4 patches
of 7 px, 2 clones."""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax.models import d2v_decoder
from ssl_jax.models import patches

from conftest import REPO
import method_harness as harness

BATCH = 16


def _config(**method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'data2vec_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.method.update(**method)
  config.lock()
  return config


def _norm(x, axis):
  return (x - x.mean(axis, keepdims=True)) / np.sqrt(
      x.var(axis, keepdims=True) + 1e-5)


def test_outputs_targets_objective_and_no_leak():
  method = methods.get('data2vec')(_config(), total_steps=10)
  x = jax.random.normal(jax.random.PRNGKey(0), (BATCH, 28, 28, 1))
  ids = jnp.arange(BATCH)

  @jax.jit
  def run(x):
    variables = method.init(jax.random.PRNGKey(0), [x])
    # A teacher that differs from the student, as after some EMA steps.
    extras = {'teacher': jax.tree.map(lambda t: 1.1 * t,
                                      variables.extras['teacher'])}
    outputs, _ = method.forward(variables.params, {}, extras, [x],
                                jax.random.PRNGKey(1), example_ids=ids)
    return variables.params, extras, outputs

  params, extras, outputs = run(x)
  assert set(params) == {'backbone', 'decoder'}
  assert outputs['pred'].shape == (BATCH, 2, 16, 16)  # N, clones, L, D.
  assert outputs['mask'].shape == (BATCH, 2, 16)
  assert outputs['target'].shape == (BATCH, 16, 16)  # Once per image.
  assert outputs['cls'].shape == (BATCH, 2, 16)
  np.testing.assert_array_equal(outputs['mask'].sum(-1), 13)  # 16 - 3 kept.
  assert not np.array_equal(outputs['mask'][:, 0], outputs['mask'][:, 1])

  # Targets: the teacher's FFN outputs (patch tokens) of the full image,
  # instance-normed over tokens, averaged over the top K = 1, layer-normed.
  _, ffn = method.backbone.apply({'params': extras['teacher']}, x,
                                 return_ffn=True)
  a = np.asarray(ffn[-1][:, 1:], np.float64)
  np.testing.assert_allclose(outputs['target'], _norm(_norm(a, 1), -1),
                             rtol=1e-4, atol=1e-4)

  # Objective: masked regression with the targets repeated per clone, plus
  # the CLS term on the row mean (cls_weight / rows).
  loss, metrics, _ = method.objective(outputs, extras, 0)
  pred = np.asarray(outputs['pred']).reshape(32, 16, 16)
  mask = np.asarray(outputs['mask']).reshape(32, 16)
  target = np.repeat(np.asarray(outputs['target']), 2, axis=0)
  d2v = (((pred - target) ** 2).sum(-1) * mask).sum() / 4.0 / mask.sum()
  cls = 2.56 / 32 * ((np.asarray(outputs['cls']).reshape(32, 16) -
                      target.mean(1)) ** 2).sum() / 4.0
  np.testing.assert_allclose(metrics['d2v'], d2v, rtol=1e-5)
  np.testing.assert_allclose(metrics['cls'], cls, rtol=1e-5)
  np.testing.assert_allclose(loss, d2v + cls, rtol=1e-5)
  np.testing.assert_allclose(
      metrics['d2v'], losses.data2vec_regression(pred, target, mask),
      rtol=1e-6)

  # The student never sees masked patches: changing the pixels of the
  # patches clone 0 masks leaves clone 0's predictions (and CLS) unchanged,
  # moves the other clone's and the teacher's targets.
  masked0 = patches.unpatchify(
      jnp.repeat(outputs['mask'][:, 0, :, None], 49, -1), 7)
  _, _, moved = run(x + 3.0 * masked0)
  np.testing.assert_allclose(moved['pred'][:, 0], outputs['pred'][:, 0],
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(moved['cls'][:, 0], outputs['cls'][:, 0],
                             rtol=1e-5, atol=1e-5)
  assert not np.allclose(moved['pred'][:, 1], outputs['pred'][:, 1],
                         atol=1e-3)
  assert not np.allclose(moved['target'], outputs['target'], atol=1e-3)


def test_ema_linear_then_flat_and_embed():
  method = methods.get('data2vec')(
      _config(ema_base=0.5, ema_final=0.9, ema_anneal_steps=4),
      total_steps=100)
  assert [float(method.momentum(s)) for s in (0, 2, 4, 50)] == pytest.approx(
      [0.5, 0.7, 0.9, 0.9])
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 28, 28, 1))
  variables = jax.jit(method.init)(jax.random.PRNGKey(0), [x])
  # The teacher starts as the student ViT; the decoder has no EMA copy.
  jax.tree.map(np.testing.assert_array_equal, variables.extras['teacher'],
               variables.params['backbone'])
  params = jax.tree.map(lambda p: p + 1.0, variables.params)
  new = jax.jit(method.update_extras, static_argnums=3)(
      variables.extras, params, {}, 2)
  assert set(new) == {'teacher'}
  jax.tree.map(lambda t, s, t0: np.testing.assert_allclose(
      t, 0.7 * t0 + 0.3 * s, rtol=1e-6, atol=1e-6),
               new['teacher'], params['backbone'],
               variables.extras['teacher'])
  # Evaluation: the student ViT on the full image, mean-pooled.
  features = jax.jit(method.embed)(params, {}, new, x)
  tokens = jax.jit(lambda p, x: method.backbone.apply(
      {'params': p}, x, return_tokens=True))(params['backbone'], x)
  np.testing.assert_allclose(features, tokens[:, 1:].mean(1), rtol=1e-5,
                             atol=1e-6)


def test_bad_configs():
  for method, match in ((dict(top_k=2), 'top_k'),
                        (dict(decoder_groups=3), 'decoder_groups'),
                        (dict(mask_prob=0.99), 'mask_prob')):
    with pytest.raises(config_lib.ConfigError, match=match):
      methods.get('data2vec')(_config(**method))
  config = _config()
  with config.unlocked():
    config.backbone.cls_token = False
  with pytest.raises(config_lib.ConfigError, match='cls_weight'):
    methods.get('data2vec')(config)


def test_jit_equals_pmap():
  # atol 1e-4: the attention key bias gets rounding-noise gradients (see
  # test_ijepa.py).
  _, history = harness.assert_same_training(_config(), steps=2, atol=1e-4)
  assert all(np.isfinite(h['d2v']) and np.isfinite(h['cls'])
             for h in history)


def test_grouped_conv_equals_flax_grouped_conv():
  # The CPU path (block-diagonal dense kernel) is the grouped convolution.
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 32))
  conv = d2v_decoder.GroupedConv(48, 3, 4)
  params = conv.init(jax.random.PRNGKey(1), x)
  reference = nn.Conv(48, (3, 3), padding='SAME', feature_group_count=4)
  np.testing.assert_allclose(conv.apply(params, x),
                             reference.apply(params, x), rtol=1e-5,
                             atol=1e-5)
  dense = d2v_decoder.block_diagonal(params['params']['kernel'], 4)
  assert dense.shape == (3, 3, 32, 48)
  assert not np.any(dense[:, :, :8, 12:])  # Group 0 feeds outputs 0-11.
