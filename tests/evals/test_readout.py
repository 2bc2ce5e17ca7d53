"""config.eval.readout: what the evaluation protocols read.

'map' must read the same weights as the method's own features ('pooled'):
the backbone the paper evaluates (DINO's teacher, I-JEPA's target
encoder) with its running BatchNorm statistics, only before the global
pool. So the mean of the map over its positions is the pooled feature.
"""

import os

import jax
import numpy as np
import pytest

import conftest
import method_harness
from ssl_jax import config_lib
from ssl_jax import eval_results
from ssl_jax import eval_table
from ssl_jax import methods
from ssl_jax import step as step_lib
from ssl_jax.models import convnext


def _smoke(name, arg='smoke', **backbone):
  config = config_lib.load_file(
      os.path.join(conftest.REPO, 'configs', f'{name}_fashion_mnist.py')
      + f':{arg}')
  config.backbone.update(backbone)
  return config


@pytest.mark.parametrize('name,arg,backbone', [
    # A ResNet, evaluated as its EMA teacher with BatchNorm statistics.
    ('dino', 'smoke,backbone=resnet', {}),
    ('ijepa', 'smoke', {'pool': 'mean'}),  # ViT: its target encoder.
])
def test_map_averaged_over_positions_is_the_pooled_feature(name, arg,
                                                           backbone):
  config = _smoke(name, arg, **backbone)
  # Two steps: teachers and running statistics move away from their init.
  state, _ = method_harness.run_steps(config, steps=2)
  method = methods.get(config.method.name)(config, total_steps=10,
                                           steps_per_epoch=5)
  images = np.random.default_rng(0).integers(
      0, 256, (8, 28, 28, 1)).astype(np.uint8)
  pooled = jax.jit(step_lib.make_embed_fn(method))(state, images)
  flat = jax.jit(step_lib.make_embed_fn(method, 'map'))(state, images)
  channels = pooled.shape[1]
  assert flat.shape[1] > channels and flat.shape[1] % channels == 0
  positions = flat.reshape(8, -1, channels)
  np.testing.assert_allclose(positions.mean(axis=1), pooled, rtol=1e-4,
                             atol=1e-5)


def test_convnext_map_is_its_last_stage_per_position():
  model = convnext.ConvNeXt(variant=None, depths=(1, 1, 1, 1),
                            dims=(8, 16, 32, 64), stem_patch=2)
  x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
  variables = model.init(jax.random.PRNGKey(0), x)
  fmap = model.apply(variables, x, method=convnext.ConvNeXt.feature_map)
  assert fmap.shape == (2, 2, 2, 64)
  # The final LayerNorm at each position: zero mean over channels.
  np.testing.assert_allclose(fmap.mean(-1), 0, atol=1e-5)


def test_unknown_readout_is_refused_naming_the_key():
  config = _smoke('simclr')
  config.eval.readout = 'grid'
  with pytest.raises(config_lib.ConfigError,
                     match=r"eval\.readout.*'pooled', 'map'"):
    config_lib.validate(config, jax.device_count())


def test_table_says_which_readout_it_read():
  results = {'method': 'simclr', 'step': 3, 'dataset': 'd',
             'eval_split': 'test', 'feature_dim': 1024, 'readout': 'map'}
  head = eval_table.format_table(results).splitlines()[0]
  assert head.endswith('1024-d features, the last feature map flattened')
  results['readout'] = 'pooled'
  assert eval_table.format_table(results).splitlines()[0].endswith(
      '1024-d features')


def test_results_of_another_readout_replace_the_file_instead_of_merging():
  old = {'step': 5, 'readout': 'map', 'knn_top1': 0.8,
         'fewshot_5shot_top1_mean': 0.6,
         'protocols': {'knn': {'step': 5}, 'fewshot': {'step': 5}}}
  new = {'step': 5, 'readout': 'pooled', 'knn_top1': 0.7,
         'protocols': {'knn': {'step': 5}}}
  other = eval_results.merge(old, new)
  assert set(other['protocols']) == {'knn'}
  assert 'fewshot_5shot_top1_mean' not in other
  same = eval_results.merge(old, dict(new, readout='map'))
  assert set(same['protocols']) == {'knn', 'fewshot'}
  assert same['fewshot_5shot_top1_mean'] == 0.6 and same['knn_top1'] == 0.7
  # The report evaluates again what another readout left.
  assert eval_results.missing(old, ['knn', 'fewshot'], 5, 'map') == []
  assert eval_results.missing(old, ['knn', 'fewshot'], 5) == ['knn',
                                                               'fewshot']
  older = {'step': 5, 'knn_top1': 0.8, 'protocols': {'knn': {'step': 5}}}
  assert eval_results.missing(older, ['knn'], 5) == []  # Files before: pooled.
