"""NT-Xent: hand-computed values (METHODS.md §2) and invariances."""

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
  # at tau = 0.5, each for both samples (METHODS.md).
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
