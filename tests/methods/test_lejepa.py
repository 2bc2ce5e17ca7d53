"""LeJEPA: outputs, the objective is losses.lejepa on this step's shared
directions, the recipe's number of global views, jit == pmap. Cheap: the
smoke config's one-block ViT, 2 global + 2 local crops."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods

from conftest import REPO
import method_harness as harness

BATCH = 16


def _config(**method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'lejepa_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.method.update(**method)
  return config


def test_outputs_and_objective():
  config = _config()
  method = methods.get('lejepa')(config)
  assert [v.crop_size for v in method.views] == [28, 28, 14, 14]
  batch = harness.synthetic_batch(method.views, 1, BATCH, seed=0)
  views = [jnp.asarray(batch[f'view{i}'], jnp.float32) / 255
           for i in range(4)]

  @jax.jit
  def init_and_forward(views):
    variables = method.init(jax.random.PRNGKey(0), views)
    return method.forward(variables.params, variables.mutables,
                          variables.extras, views, jax.random.PRNGKey(1))

  outputs, mutables = init_and_forward(views)
  m = config.method
  assert outputs['projections'].shape == (BATCH, 4, m.proj_dim)
  assert outputs['features'].shape == (BATCH, method.backbone.feature_dim)
  np.testing.assert_array_equal(outputs['embedding'],
                                outputs['projections'][:, 0])
  assert set(mutables) == {'batch_stats'}  # The projector's BatchNorm.

  # The objective: losses.lejepa on [C, N, P] with the directions of
  # fold_in(PRNGKey(seed), step), shared by every device.
  z = np.swapaxes(outputs['projections'], 0, 1)
  for step in (0, 7):
    loss, metrics, _ = method.objective(outputs, {}, step)
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), step)
    directions = losses.sigreg_directions(key, m.proj_dim, m.num_slices)
    expected, logs = losses.lejepa(z, 2, directions, m.lamb)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(metrics['sigreg'], logs['sigreg'], rtol=1e-6)
  # Fresh directions each step; the prediction term does not depend on them.
  assert not np.allclose(method.directions(0), method.directions(1))
  assert method.objective(outputs, {}, 0)[1]['prediction'] == (
      method.objective(outputs, {}, 1)[1]['prediction'])


def test_global_views_come_from_the_recipe():
  # MINIMAL.md's 4 global views, no local crops (configs/lejepa_cifar10.py).
  config = _config(global_views=4)
  config.aug.local_crops = 0
  method = methods.get('lejepa')(config)
  assert method.num_views == 4 and len(method.views) == 4


@pytest.mark.parametrize('key, value', [
    ('knots', 16), ('global_views', 0), ('num_slices', 0)])
def test_bad_values_are_refused_naming_the_key(key, value):
  config = _config()
  config.method[key] = value
  with pytest.raises(config_lib.ConfigError, match=f'config.method.{key}'):
    config_checks.validate_method(config)


def test_jit_and_pmap_agree_and_the_loss_moves():
  # SGD: the biases that only feed the projector's BatchNorm (the ViT's
  # last norm, the Dense 512, the first projector layer: linear up to it)
  # have a zero gradient up to float rounding, which Adam's normalisation
  # would blow up to +-lr in either mode, differently.
  config = _config()
  config.optim.update(name='sgd', lr=0.5, lr_scaling='none')
  _, history = harness.assert_same_training(config, steps=2)
  assert history[-1]['update_norm'] > 0
