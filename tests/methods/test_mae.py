"""MAE: masked outputs, no leak from removed patches, objective, embed, jit ==
pmap. Cheap: the smoke config's one-block ViT on 4x4 patches of 7 px."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax.models import patches

from conftest import REPO
import method_harness as harness

BATCH = 16


def _config(**method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'mae_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.method.update(**method)
  config.lock()
  return config


def test_outputs_objective_no_leak_and_embed():
  config = _config()
  method = methods.get('mae')(config)
  assert method.num_views == 1 and method.grid == (4, 4)
  x = jax.random.normal(jax.random.PRNGKey(0), (BATCH, 28, 28, 1))
  ids = jnp.arange(BATCH)

  @jax.jit
  def run(x):
    variables = method.init(jax.random.PRNGKey(0), [x])
    outputs, _ = method.forward(variables.params, {}, {}, [x],
                                jax.random.PRNGKey(1), example_ids=ids)
    return variables.params, outputs

  params, outputs = run(x)
  assert set(params) == {'backbone', 'decoder'}
  assert outputs['pred'].shape == outputs['target'].shape == (BATCH, 16, 49)
  np.testing.assert_array_equal(outputs['target'], patches.patchify(x, 7))
  np.testing.assert_array_equal(outputs['mask'].sum(1), 12)  # 75% of 16.
  assert outputs['features'].shape == (BATCH, 16)
  loss, metrics, _ = method.objective(outputs, {}, 0)
  np.testing.assert_allclose(loss, losses.mae(
      outputs['pred'], outputs['target'], outputs['mask']), rtol=1e-6)
  assert metrics['mae'] == loss

  # Removed patches never reach the network: changing their pixels leaves
  # every prediction unchanged (same rng -> same masks); changing a visible
  # patch changes them.
  removed = patches.unpatchify(
      jnp.repeat(outputs['mask'][..., None], 49, -1), 7)
  _, moved = run(x + 5.0 * removed)
  np.testing.assert_allclose(moved['pred'], outputs['pred'], rtol=1e-5,
                             atol=1e-5)
  _, moved = run(x + 5.0 * (1 - removed))
  assert not np.allclose(moved['pred'], outputs['pred'], atol=1e-3)

  # Evaluation: the encoder's CLS on the full image.
  features = method.embed(params, {}, {}, x)
  tokens = method.backbone.apply({'params': params['backbone']}, x,
                                 return_tokens=True)
  assert tokens.shape == (BATCH, 17, 16)
  np.testing.assert_allclose(features, tokens[:, 0], rtol=1e-6)


def test_bad_configs():
  with pytest.raises(config_lib.ConfigError, match='mask_ratio'):
    methods.get('mae')(_config(mask_ratio=0.99))
  config = _config()
  with config.unlocked():
    config.backbone = config_lib.backbone_config('resnet')
  with pytest.raises(config_lib.ConfigError, match='ViT'):
    methods.get('mae')(config)


def test_jit_equals_pmap():
  _, history = harness.assert_same_training(_config(), steps=2)
  assert all(np.isfinite(h['mae']) for h in history)
