"""NT-Xent: hand-computed values (docs/methods.md#simclr) and invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import losses

A = np.array([[2., 0.], [0., 3.]])
BM = np.array([[3., 4.], [4., 3.]])


def _reference(z1, z2, tau):
  """Independent float64 NumPy transcription of the paper's formula."""
  z = np.concatenate([z1, z2]).astype(np.float64)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  s = z @ z.T / tau
  n = len(z1)
  total = 0.0
  for i in range(2 * n):
    pos = (i + n) % (2 * n)
    others = [k for k in range(2 * n) if k != i]
    total += -s[i, pos] + np.log(np.sum(np.exp(s[i, others])))
  return total / (2 * n)


@pytest.mark.parametrize('tau,expected', [(0.5, 1.2707137571),
                                          (0.1, 2.9668017297)])
def test_hand_computed_values(tau, expected):
  loss = jax.jit(losses.nt_xent, static_argnums=2)(A, BM, tau)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_hand_form_matches_written_terms():
  # l_a = log(e^1.2 + e^1.6 + e^0) - 1.2, l_b = log(e^1.2+e^1.6+e^1.92) - 1.2
  # at tau = 0.5, each for both samples (docs/methods.md#simclr).
  la = np.log(np.exp(1.2) + np.exp(1.6) + 1) - 1.2
  lb = np.log(np.exp(1.2) + np.exp(1.6) + np.exp(1.92)) - 1.2
  np.testing.assert_allclose(losses.nt_xent(A, BM, 0.5), (la + lb) / 2,
                             rtol=1e-5)


def test_matches_reference_on_random_inputs():
  rng = np.random.default_rng(0)
  z1, z2 = rng.normal(size=(2, 7, 5))
  np.testing.assert_allclose(losses.nt_xent(z1, z2, 0.2),
                             _reference(z1, z2, 0.2), rtol=1e-5)


def test_invariances():
  rng = np.random.default_rng(1)
  z1, z2 = rng.normal(size=(2, 6, 4)).astype(np.float32)
  base = losses.nt_xent(z1, z2, 0.3)
  # Scale (embeddings are normalised), view swap, and batch permutation.
  np.testing.assert_allclose(losses.nt_xent(3 * z1, 0.5 * z2, 0.3), base,
                             rtol=1e-5)
  np.testing.assert_allclose(losses.nt_xent(z2, z1, 0.3), base, rtol=1e-5)
  perm = rng.permutation(6)
  np.testing.assert_allclose(losses.nt_xent(z1[perm], z2[perm], 0.3), base,
                             rtol=1e-5)
  # Breaking the pairing changes it: the loss sees positives.
  assert abs(float(losses.nt_xent(z1, z2[perm], 0.3)) - float(base)) > 1e-3


def test_gradient_is_finite_with_identical_views():
  z = jnp.ones((4, 3))
  grad = jax.grad(lambda x: losses.nt_xent(x, x, 0.1))(z)
  assert np.all(np.isfinite(grad))


def test_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match='nt_xent'):
    losses.nt_xent(np.ones((3, 2)), np.ones((4, 2)), 0.1)


# MoCo v3 (docs/methods.md#moco-v3): q1 = A, q2 = Bm, k1 = Cm, k2 = Dm.
CM = np.array([[1., 1.], [-1., 1.]])
DM = np.array([[1., 0.], [1., 2.]])


def _moco_reference(q1, q2, k1, k2, tau):
  """Independent float64 NumPy transcription: sum of two scaled InfoNCEs."""

  def ctr(q, k):
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    k = k / np.linalg.norm(k, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(q)):
      logits = np.array([q[i] @ k[j] for j in range(len(k))]) / tau
      total += np.log(np.sum(np.exp(logits))) - logits[i]
    return 2 * tau * total / len(q)

  args = [np.asarray(a, np.float64) for a in (q1, q2, k1, k2)]
  return ctr(args[0], args[3]) + ctr(args[1], args[2])


@pytest.mark.parametrize('tau,expected', [(0.2, 1.1494206088),
                                          (1.0, 2.5645111839)])
def test_moco_v3_hand_computed_values(tau, expected):
  # Temperature traced (not static): a schedule could pass an array.
  loss = jax.jit(losses.moco_v3)(A, BM, CM, DM, tau)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(_moco_reference(A, BM, CM, DM, tau), expected,
                             rtol=1e-9)


def test_moco_v3_matches_reference_on_random_inputs():
  rng = np.random.default_rng(2)
  q1, q2, k1, k2 = rng.normal(size=(4, 6, 5))
  for tau in (0.2, 1.0):
    np.testing.assert_allclose(losses.moco_v3(q1, q2, k1, k2, tau),
                               _moco_reference(q1, q2, k1, k2, tau),
                               rtol=1e-5)


def test_moco_v3_invariances():
  rng = np.random.default_rng(3)
  q1, q2, k1, k2 = rng.normal(size=(4, 5, 3)).astype(np.float32)
  base = losses.moco_v3(q1, q2, k1, k2, 0.2)
  # Per-row positive scale of every input (normalised inside the loss).
  s = rng.uniform(0.1, 10., size=(4, 5, 1)).astype(np.float32)
  np.testing.assert_allclose(
      losses.moco_v3(s[0] * q1, s[1] * q2, s[2] * k1, s[3] * k2, 0.2), base,
      rtol=1e-5)
  # View swap: ctr(q2, k1) + ctr(q1, k2) is the same sum.
  np.testing.assert_allclose(losses.moco_v3(q2, q1, k2, k1, 0.2), base,
                             rtol=1e-5)
  perm = rng.permutation(5)
  np.testing.assert_allclose(
      losses.moco_v3(q1[perm], q2[perm], k1[perm], k2[perm], 0.2), base,
      rtol=1e-5)
  # Pairing matters: k2 is the positive of q1, not k1.
  assert abs(float(losses.moco_v3(q1, q2, k2, k1, 0.2)) - float(base)) > 1e-3
  assert abs(float(losses.moco_v3(q1, q2, k1, k2[perm], 0.2))
             - float(base)) > 1e-3


def test_moco_v3_gradients_are_finite_and_reach_keys():
  rng = np.random.default_rng(4)
  q1, q2, k1, k2 = rng.normal(size=(4, 4, 3)).astype(np.float32)
  grads = jax.grad(losses.moco_v3, argnums=(0, 1, 2, 3))(q1, q2, k1, k2, 0.2)
  for g in grads:
    assert np.all(np.isfinite(g))
  # Keys are used as given: the stop_gradient is the method's job.
  assert np.abs(grads[2]).sum() > 0 and np.abs(grads[3]).sum() > 0
  same = jax.grad(lambda x: losses.moco_v3(x, x, x, x, 0.05))(q1)
  assert np.all(np.isfinite(same))


def test_moco_v3_bfloat16_inputs_compute_in_float32():
  rng = np.random.default_rng(5)
  args = [jnp.asarray(a, jnp.bfloat16) for a in rng.normal(size=(4, 8, 16))]
  loss = losses.moco_v3(*args, 0.2)
  assert loss.dtype == jnp.float32
  exact = _moco_reference(*[np.asarray(a, np.float64) for a in args], 0.2)
  np.testing.assert_allclose(loss, exact, rtol=1e-5)


def test_moco_v3_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match='moco_v3'):
    losses.moco_v3(A, BM, CM, np.ones((3, 2)), 0.2)


def test_l2_normalize_has_finite_gradients_at_a_zero_row():
  x = jnp.array([[0., 0.], [3., 4.]])
  np.testing.assert_allclose(losses.l2_normalize(x), [[0, 0], [0.6, 0.8]])
  grad = jax.grad(lambda v: losses.byol(v, v + 1, v + 2, v + 3))(x)
  assert np.all(np.isfinite(grad))
