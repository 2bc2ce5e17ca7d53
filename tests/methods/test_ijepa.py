"""I-JEPA: outputs, no leak into the context (padding included), objective
over the real target tokens, EMA target encoder by hand, embed from the
target encoder, jit == pmap. Cheap: the smoke config's one-block ViT on the
4x4 grid."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax import optim
from ssl_jax.models import patches

from conftest import REPO
import method_harness as harness

BATCH = 16


def _config(**method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'ijepa_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.method.update(**method)
  config.lock()
  return config


def test_outputs_objective_and_no_leak_into_the_context():
  # K_c = 9, the whole 3x3 context block: most contexts are padded.
  method = methods.get('ijepa')(_config(num_context_tokens=9),
                                total_steps=10)
  k_t, k_c = method.num_target_tokens, method.num_context_tokens
  assert method.grid == (4, 4) and k_c == 9
  x = jax.random.normal(jax.random.PRNGKey(0), (BATCH, 28, 28, 1))
  ids = jnp.arange(BATCH)

  @jax.jit
  def run(x):
    variables = method.init(jax.random.PRNGKey(0), [x])
    outputs, _ = method.forward(variables.params, {}, variables.extras, [x],
                                jax.random.PRNGKey(1), example_ids=ids)
    masks = method.masks(jax.random.PRNGKey(1), BATCH, ids)
    return variables, outputs, masks

  variables, outputs, masks = run(x)
  assert 3 <= np.min(masks['context_length']) < 9  # Padding is exercised.
  assert set(variables.params) == {'backbone', 'predictor'}
  # The target encoder starts as a copy of the context encoder.
  jax.tree.map(np.testing.assert_array_equal, variables.extras['target'],
               variables.params['backbone'])
  assert outputs['pred'].shape == outputs['target'].shape == (
      BATCH, 4, k_t, 16)
  assert outputs['features'].shape == (BATCH, 16)
  # Targets: the target encoder's tokens of the full image at the blocks.
  tokens = method.backbone.apply({'params': variables.extras['target']}, x,
                                 return_tokens=True)
  np.testing.assert_allclose(
      outputs['target'],
      np.take_along_axis(np.asarray(tokens)[:, None],
                         np.asarray(masks['targets'])[..., None], axis=2),
      rtol=1e-5, atol=1e-6)
  loss, metrics, _ = method.objective(outputs, variables.extras, 5)
  valid = np.asarray(masks['target_valid'])
  h, w = np.asarray(masks['target_hw'])
  np.testing.assert_array_equal(valid.sum(-1), h * w)  # No block is cut.
  np.testing.assert_allclose(
      loss, losses.ijepa(outputs['pred'][valid], outputs['target'][valid]),
      rtol=1e-6)
  np.testing.assert_allclose(metrics['ema_momentum'], 0.998, rtol=1e-6)
  np.testing.assert_allclose(metrics['context_tokens'],
                             np.mean(masks['context_length']), rtol=1e-6)

  # Only the valid context patches reach the real predictions: changing
  # every other patch's pixels (the context's padding included) moves the
  # targets, never those predictions.
  in_context = np.zeros((BATCH, 16, 49), np.float32)
  context_valid = np.asarray(masks['context_valid'])
  for i, context in enumerate(np.asarray(masks['context'])):
    in_context[i, context[context_valid[i]]] = 1.0
  outside = patches.unpatchify(jnp.asarray(1.0 - in_context), 7)
  _, moved, _ = run(x + 3.0 * outside)
  np.testing.assert_allclose(moved['pred'][valid], outputs['pred'][valid],
                             rtol=1e-5, atol=1e-5)
  assert not np.allclose(moved['target'], outputs['target'], atol=1e-3)


def test_ema_update_and_embed_use_the_target_encoder():
  method = methods.get('ijepa')(_config(ema_base=0.9), total_steps=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 28, 28, 1))
  variables = jax.jit(method.init)(jax.random.PRNGKey(0), [x])
  params = jax.tree.map(lambda p: p + 1.0, variables.params)
  # Linear 0.9 -> 1 over 4 steps: m(1) = 0.925.
  new = jax.jit(method.update_extras, static_argnums=3)(
      variables.extras, params, {}, 1)
  jax.tree.map(lambda t, s, t0: np.testing.assert_allclose(
      t, 0.925 * t0 + 0.075 * s, rtol=1e-6, atol=1e-6),
               new['target'], params['backbone'],
               variables.extras['target'])
  assert set(new) == {'target'}  # The predictor has no EMA copy.
  # embed and fine-tuning read the target encoder, not the online one.
  features = jax.jit(method.embed)(params, {}, new, x)
  pooled = jax.jit(method.backbone.apply)
  np.testing.assert_allclose(features, pooled({'params': new['target']}, x),
                             rtol=1e-5, atol=1e-6)
  assert not np.allclose(features, pooled({'params': params['backbone']}, x))
  assert method.backbone_params(params, new) is new['target']


def test_bad_configs():
  config = _config()
  with config.unlocked():
    config.backbone.cls_token = True
    config.backbone.pool = 'cls'
  with pytest.raises(config_lib.ConfigError, match='cls_token'):
    methods.get('ijepa')(config)
  with pytest.raises(config_lib.ConfigError, match='num_context_tokens'):
    methods.get('ijepa')(_config(num_context_tokens=10))  # 3x3 at most.


def test_jit_equals_pmap():
  # atol 1e-4: the attention key bias has a zero gradient in exact
  # arithmetic (softmax ignores a per-query constant), so its gradient is
  # rounding noise that Adam's first step scales up to ~lr 1e-3 x 0.03.
  _, history = harness.assert_same_training(_config(), steps=2,
                                            total_steps=4, atol=1e-4)
  assert [h['ema_momentum'] for h in history] == pytest.approx(
      [float(optim.ema_linear(i, 4, 0.996)) for i in range(2)])
  assert all(np.isfinite(h['ijepa']) for h in history)
