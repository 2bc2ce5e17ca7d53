"""SimCLR: the objective is NT-Xent of the outputs; jit == pmap."""

import jax
import numpy as np

from ssl_jax import losses
from ssl_jax import methods

from conftest import load_config
import method_harness as harness


def _config():
  config = load_config('smoke')
  config.batch_size = 16
  return config


def test_jit_and_pmap_agree_and_the_loss_moves():
  # (test_parallel.py does the same with the ResNet through train.run.)
  config = harness.tiny_vit(_config())
  _, history = harness.assert_same_training(config, steps=3)
  assert history[-1]['update_norm'] > 0


def test_outputs_and_objective():
  config = harness.tiny_vit(_config())
  method = methods.get('simclr')(config)
  batch = harness.synthetic_batch(method.views, 1, 16, seed=0)
  views = [np.asarray(batch[f'view{i}'], np.float32) / 255 for i in range(2)]
  variables = method.init(jax.random.PRNGKey(0), views)
  outputs, mutables = method.forward(variables.params, variables.mutables,
                                     variables.extras, views,
                                     jax.random.PRNGKey(1))
  assert outputs['z1'].shape == (16, config.method.proj_dim)
  assert outputs['features'].shape == (16, method.backbone.feature_dim)
  assert set(mutables) == {'batch_stats'}
  loss, metrics, _ = method.objective(outputs, {}, 0)
  paper = losses.nt_xent(outputs['z1'], outputs['z2'],
                         config.method.temperature)
  np.testing.assert_allclose(loss, 2 * paper, rtol=1e-6)
  np.testing.assert_allclose(metrics['nt_xent'], paper, rtol=1e-6)


def _official_tf_loss(z1, z2, tau):
  """google-research/simclr `objective.py: add_contrastive_loss` in float64
  NumPy (one replica): softmax cross-entropy of [logits_ab, logits_aa]
  (self-similarity masked) for view a, the same for view b, then
  reduce_mean(loss_a + loss_b)."""
  n1 = z1 / np.linalg.norm(z1, axis=1, keepdims=True)
  n2 = z2 / np.linalg.norm(z2, axis=1, keepdims=True)
  masks = np.eye(len(z1)) * 1e9

  def ce(logits):  # Label i: column i of the first block.
    logits = logits - logits.max(1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -np.diagonal(log_p[:, :len(z1)])

  loss_a = ce(np.concatenate([n1 @ n2.T, n1 @ n1.T - masks], 1) / tau)
  loss_b = ce(np.concatenate([n2 @ n1.T, n2 @ n2.T - masks], 1) / tau)
  return np.mean(loss_a + loss_b)


def test_objective_is_the_official_scale():
  # Fixtures A, Bm at tau 0.5 (docs/methods.md#simclr): the paper's mean
  # over the 2N anchors is 1.2707137571; the official TF loss, the sum of
  # the two views' means, twice that.
  config = harness.tiny_vit(_config())
  config.method.temperature = 0.5
  method = methods.get('simclr')(config)
  z1 = np.array([[2., 0.], [0., 3.]])
  z2 = np.array([[3., 4.], [4., 3.]])
  loss, metrics, _ = method.objective({'z1': z1, 'z2': z2}, {}, 0)
  np.testing.assert_allclose(loss, 2.5414275142, rtol=1e-6)
  np.testing.assert_allclose(_official_tf_loss(z1, z2, 0.5), 2.5414275142,
                             rtol=1e-9)
  np.testing.assert_allclose(metrics['nt_xent'], 1.2707137571, rtol=1e-6)
