"""Fine-tuning with layer-wise lr decay: hand-computed scales and decay mask,
a frozen backbone at decay 0, and a tiny separable problem learned."""

import os
import types

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax import config_lib
from ssl_jax import methods
from ssl_jax.evals import finetune

from conftest import REPO
from conftest import optimised_xla


def _method_and_state(depth=1, name='mae'):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', f'{name}_fashion_mnist.py') + ':smoke')
  if name == 'mae':
    config.backbone.depth = depth
  method = methods.get(name)(config)
  x = jnp.zeros((2, 28, 28, 1))
  variables = jax.jit(method.init)(jax.random.PRNGKey(0), [x])
  state = types.SimpleNamespace(params={'model': variables.params},
                                mutables=variables.mutables,
                                extras=variables.extras)
  return method, state


def _bands(n, seed):
  """Class c: horizontal band c of 7 rows is bright (flip-invariant)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 4, n)
  images = rng.integers(0, 60, (n, 28, 28, 1))
  for i, c in enumerate(labels):
    images[i, 7 * c:7 * c + 7] += 150
  return images.astype(np.uint8), labels.astype(np.int32)


def _levels(n, seed):
  """Class c: brightness level c (visible after global average pooling,
  which hides the bands' positions from a freshly initialised ResNet)."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 4, n)
  images = rng.integers(0, 40, (n, 28, 28, 1)) + 60 * labels[:, None, None,
                                                              None]
  return images.astype(np.uint8), labels.astype(np.int32)


def test_layer_scales_and_decay_mask_by_hand():
  method, state = _method_and_state(depth=2)
  model = finetune.Classifier(method.backbone, 3)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
  params = params['params']
  assert 'norm' not in params['backbone']  # Replaced by fc_norm.
  scales = finetune.layer_scales(params, method.backbone, layer_decay=0.5)
  # ld^(L + 1 - i), L = 2: embeddings 0.5^3, block j 0.5^(2 - j), head 1.
  assert scales['backbone']['patch_embed']['kernel'] == 0.125
  assert scales['backbone']['cls'] == 0.125
  assert scales['backbone']['block0']['Mlp_0']['Dense_0']['kernel'] == 0.25
  assert scales['backbone']['block1']['Attention_0']['qkv']['bias'] == 0.5
  assert scales['head']['kernel'] == scales['fc_norm']['scale'] == 1.0
  mask = finetune.decay_mask(params)
  assert mask['backbone']['patch_embed']['kernel']
  assert mask['head']['kernel']
  assert not mask['backbone']['cls']  # (1, 1, D) but a token: no decay.
  assert not mask['head']['bias'] and not mask['fc_norm']['scale']
  # The pretrained encoder's weights are used, its final norm dropped.
  backbone = finetune.pretrained_backbone(method, state)['params']
  assert set(backbone) == set(params['backbone'])
  np.testing.assert_array_equal(
      backbone['block0']['Attention_0']['qkv']['kernel'],
      state.params['model']['backbone']['block0']['Attention_0']['qkv'][
          'kernel'])


def test_layer_decay_zero_freezes_the_backbone():
  method, state = _method_and_state()
  model = finetune.Classifier(method.backbone, 4)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
  params = dict(params['params'],
                backbone=finetune.pretrained_backbone(method, state)['params'])
  images, labels = _bands(64, 0)
  trained, _, loss = finetune.train_classifier(
      model, params, {}, jnp.asarray(images), jnp.asarray(labels),
      jax.random.PRNGKey(1), epochs=1, batch_size=32, warmup_steps=0,
      lr=1e-2, min_lr=0.0, layer_decay=0.0, weight_decay=0.05,
      label_smoothing=0.1, mean=(0.5,), std=(0.5,), flip=True)
  assert np.isfinite(loss)
  jax.tree.map(np.testing.assert_array_equal, trained['backbone'],
               params['backbone'])
  assert not np.allclose(trained['head']['kernel'], params['head']['kernel'])


def test_separable_problem_is_learned():
  method, state = _method_and_state()
  train_x, train_y = _bands(512, 1)
  test_x, test_y = _bands(256, 2)
  result = finetune.evaluate(method, state, train_x, train_y, test_x,
                             test_y, num_classes=4, epochs=8, batch_size=64,
                             lr=3e-3, layer_decay=0.75, warmup_epochs=0.5)
  assert result['top1'] > 0.9, result
  assert result["layer_decay"] == 0.75 and result["epochs"] == 8


def test_resnet_fine_tunes_with_batch_norm_and_no_layer_decay():
  method, state = _method_and_state(name='simclr')
  stats = finetune.pretrained_backbone(method, state)['batch_stats']
  train_x, train_y = _levels(512, 1)
  test_x, test_y = _levels(128, 2)
  with optimised_xla():  # 24 ResNet steps.
    result = finetune.evaluate(method, state, train_x, train_y, test_x,
                               test_y, num_classes=4, epochs=3, batch_size=64,
                               lr=1e-2, warmup_epochs=0.5)
  assert result['top1'] > 0.9, result
  assert result['layer_decay'] is None and result['pool'] == 'ResNet'
  assert result['batch_norm']
  # The checkpoint's running statistics are the starting point.
  assert stats is state.mutables['batch_stats']['backbone']
