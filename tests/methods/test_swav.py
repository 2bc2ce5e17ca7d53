"""SwAV: Sinkhorn-Knopp and the swapped loss against a NumPy transcription
of main_swav.py, the queue (empty before its start, filled after, used in
the assignments once full), prototypes on the unit sphere and frozen for
their first updates, jit == pmap. Cheap: the smoke config's one-block ViT,
2 global + 1 local crop."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import methods
from ssl_jax.methods import swav

from conftest import REPO
import method_harness as harness

BATCH = 16
# The student logits of the DINO fixture (docs/methods.md#dino) as scores:
# K = 3, N = 2, 2 global + 1 local crop.
SCORES = np.array([[[0.2, 0.1, 0.0], [0.1, -0.2, 0.3]],
                   [[0.0, 0.3, -0.1], [0.2, 0.2, 0.1]],
                   [[0.5, -0.5, 0.0], [0.0, 0.0, 0.1]]])


def _sinkhorn_reference(out, eps, iterations):
  """main_swav.py distributed_sinkhorn on one replica, float64, K x B as
  the official: Q = exp(out / eps).T, then rows and columns in turn."""
  q = np.exp(np.asarray(out, np.float64) / eps).T
  k, b = q.shape
  q /= q.sum()
  for _ in range(iterations):
    q /= q.sum(axis=1, keepdims=True)
    q /= k
    q /= q.sum(axis=0, keepdims=True)
    q /= b
  return (q * b).T


def _log_softmax(x):
  x = x - np.max(x, axis=-1, keepdims=True)
  return x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))


def _swav_reference(output, crops_for_assign, temperature, eps=0.05,
                    iterations=3, queue_scores=None):
  """main_swav.py's loss loop, float64; `queue_scores[i]` [L, K] joins the
  Sinkhorn problem of assignment i in front of the batch, as the official
  `torch.cat((queue @ prototypes.T, out))[-bs:]`."""
  output = np.asarray(output, np.float64)
  loss = 0.0
  for i, crop_id in enumerate(crops_for_assign):
    out, bs = output[crop_id], output.shape[1]
    if queue_scores is not None:
      out = np.concatenate([queue_scores[i], out])
    q = _sinkhorn_reference(out, eps, iterations)[-bs:]
    subloss = 0.0
    for v in np.delete(np.arange(len(output)), crop_id):
      subloss -= np.mean(np.sum(q * _log_softmax(output[v] / temperature),
                                axis=1))
    loss += subloss / (len(output) - 1)
  return loss / len(crops_for_assign)


def test_sinkhorn_and_loss_hand_values():
  # Two samples, two prototypes, eps 1, one iteration: exp(S) is already
  # doubly stochastic up to scale, so q = [[e, 1], [1, e]] / (1 + e).
  q = losses.sinkhorn_knopp(jnp.array([[1.0, 0.0], [0.0, 1.0]]), 1.0, 1)
  e = np.e
  np.testing.assert_allclose(q, [[e / (1 + e), 1 / (1 + e)],
                                 [1 / (1 + e), e / (1 + e)]], rtol=1e-6)
  # The official iteration on the fixture: rows sum to 1, and the shift by
  # max(S) inside changes nothing.
  sinkhorn = jax.jit(losses.sinkhorn_knopp, static_argnums=(1, 2))
  for crop in SCORES:
    q = sinkhorn(jnp.asarray(crop, jnp.float32), 0.05, 3)
    np.testing.assert_allclose(q, _sinkhorn_reference(crop, 0.05, 3),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.sum(q, axis=1), 1.0, rtol=1e-6)
  # The docstring's value (docs/methods.md#swav), and both crop orders.
  loss = jax.jit(lambda s, a: losses.swav(s, a, (0, 1), 0.1))
  scores = jnp.asarray(SCORES, jnp.float32)
  assignments = jnp.stack([sinkhorn(scores[c], 0.05, 3) for c in (0, 1)])
  np.testing.assert_allclose(loss(scores, assignments), 2.7708528095,
                             rtol=1e-6)
  np.testing.assert_allclose(loss(scores, assignments),
                             _swav_reference(SCORES, (0, 1), 0.1), rtol=1e-6)
  np.testing.assert_allclose(
      losses.swav(scores, assignments[1:], (1,), 0.1),
      _swav_reference(SCORES, (1,), 0.1), rtol=1e-6)
  with pytest.raises(ValueError, match='crop index'):
    losses.swav(scores, assignments, (0, 3), 0.1)


def _config(**method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'swav_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.aug.local_crops = 1
  # The ResNet demo's LARS (solo-learn's), biases and norms at lr x grad:
  # the biases before a BatchNorm (whose gradient is round-off) then move
  # by round-off, where AdamW would step them by about lr whatever the
  # gradient and jit and pmap would part by more than round-off.
  config.optim.update(name='lars', lr=0.6, weight_decay=1e-6)
  config.method.update(queue_length=BATCH, **method)
  config.lock()
  return config


def _outputs(method, seed=0):
  """Forward-shaped outputs with the forward's geometry: unit embeddings of
  3 crops, unit prototypes, scores their cosines (the training test below
  runs the real forward)."""
  rng = np.random.default_rng(seed)
  m = method.config.method
  unit = lambda x, axis: x / np.linalg.norm(x, axis=axis, keepdims=True)
  z = unit(rng.normal(size=(BATCH, 3, m.proj_dim)), -1).astype(np.float32)
  kernel = unit(rng.normal(size=(m.proj_dim, m.num_prototypes)), 0)
  kernel = kernel.astype(np.float32)
  outputs = {'scores': jnp.asarray(np.einsum('ncd,dk->nck', z, kernel)),
             'assign_embeddings': jnp.asarray(z[:, :2]),
             'features': jnp.zeros((BATCH, 4)), 'embedding': jnp.asarray(
                 z[:, 0])}
  return outputs, kernel


def test_queue_fills_from_its_start_and_joins_the_assignments():
  # 2 steps per epoch, the queue (one batch long) starts at epoch 1.
  config = _config(epoch_queue_starts=1)
  method = methods.get('swav')(config, total_steps=8, steps_per_epoch=2)
  outputs, kernel = _outputs(method)
  extras = {'queue': jnp.zeros((2, BATCH, config.method.proj_dim)),
            'prototypes': jnp.asarray(kernel)}
  scores = np.swapaxes(outputs['scores'], 0, 1)
  loss, metrics, aux = method.objective(outputs, extras, 1)
  np.testing.assert_allclose(loss, _swav_reference(scores, (0, 1), 0.1),
                             rtol=1e-5)
  assert metrics['queue_in_use'] == 0.0
  # Before its start epoch the queue stays empty; from it, this step's
  # embeddings go in, newest first, and the new prototypes are kept.
  moved = {'head': {'prototypes': {'kernel': jnp.asarray(-kernel)}}}
  empty = method.update_extras(extras, moved, aux, step=1)
  np.testing.assert_array_equal(empty['queue'], 0.0)
  full = method.update_extras(extras, moved, aux, step=2)
  np.testing.assert_array_equal(
      full['queue'], np.swapaxes(outputs['assign_embeddings'], 0, 1))
  np.testing.assert_array_equal(full['prototypes'], -kernel)
  # A full queue joins the Sinkhorn problem, scored by the prototypes the
  # forward used; one not yet full (oldest row zero) does not.
  queue = np.asarray(full['queue'])[:, ::-1] * 0.5 + 0.1
  loss, metrics, _ = method.objective(outputs, dict(
      extras, queue=jnp.asarray(queue)), 3)
  expected = _swav_reference(scores, (0, 1), 0.1,
                             queue_scores=np.einsum('ald,dk->alk', queue,
                                                    kernel))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert metrics['queue_in_use'] == 1.0
  assert not np.isclose(loss, _swav_reference(scores, (0, 1), 0.1))
  queue[:, -1] = 0.0
  loss, metrics, _ = method.objective(outputs, dict(
      extras, queue=jnp.asarray(queue)), 3)
  assert metrics['queue_in_use'] == 0.0
  np.testing.assert_allclose(loss, _swav_reference(scores, (0, 1), 0.1),
                             rtol=1e-5)


def test_training_prototypes_queue_and_jit_equals_pmap():
  # total_steps 4, 2 steps per epoch: the prototypes frozen in steps 0-1,
  # the queue (one batch long) filled from step 2 (epoch 1), full and used
  # at step 3.
  config = _config(epoch_queue_starts=1, freeze_prototypes_niters=2)
  seen = []
  record = lambda state: seen.append(jax.tree.map(np.asarray, (
      state.params['model']['head']['prototypes']['kernel'],
      state.extras)))
  _, history = harness.assert_same_training(config, steps=4, total_steps=4,
                                            on_step=record)
  kernels, extras = zip(*seen[:4])  # The jit run's steps.
  for kernel in kernels:
    np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1.0,
                               rtol=1e-5)
  # Frozen in steps 0-1: renormalised (float32 round-off, a few 1e-8) but
  # not trained; trained from step 2 (LARS: lr x 1e-3 x |w| / |g|, about
  # 4e-5 here).
  np.testing.assert_allclose(kernels[1], kernels[0], rtol=0, atol=3e-7)
  assert np.max(np.abs(kernels[2] - kernels[1])) > 1e-5
  for state_extras, kernel in zip(extras, kernels):
    np.testing.assert_array_equal(state_extras['prototypes'], kernel)
  assert not np.any(extras[1]['queue'])  # Empty before epoch 1.
  assert np.all(np.abs(np.linalg.norm(extras[2]['queue'], axis=-1) - 1)
                < 1e-5)  # Filled at step 2 with unit embeddings.
  assert not np.allclose(extras[3]['queue'], extras[2]['queue'])
  assert [h['queue_in_use'] for h in history] == [0.0, 0.0, 0.0, 1.0]
  assert all(np.isfinite(h['swav']) for h in history)


def test_bad_values_name_the_key():
  # The keys with rules of their own (the others: test_config_lib.py).
  for key, value in (('crops_for_assign', (0, 2)),
                     ('crops_for_assign', (1, 1)),
                     ('queue_length', BATCH // 2)):
    config = config_lib.load_file(
        os.path.join(REPO, 'configs', 'swav_fashion_mnist.py') + ':smoke')
    config.method[key] = value
    with pytest.raises(config_lib.ConfigError, match=f'method.{key}'):
      swav.validate_config(config)
