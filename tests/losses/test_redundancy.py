"""Barlow Twins and VICReg: hand values (docs/methods.md) and invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import losses

Z1 = np.array([[1., 2.], [3., 1.], [0., 0.], [2., 5.]])
Z2 = np.array([[2., 1.], [1., 1.], [0., 3.], [1., 0.]])
# docs/methods.md#barlow-twins: the cross-correlation matrix of (Z1, Z2),
# eps 1e-5.
C = np.array([[0.31622334, -0.71817895], [0.37796015, -0.85839023]])


def _barlow_reference(z1, z2, lam, eps=1e-5):
  """float64 transcription with explicit loops over C's entries."""
  z1, z2 = np.asarray(z1, np.float64), np.asarray(z2, np.float64)
  std = lambda z: (z - z.mean(0)) / np.sqrt(z.var(0) + eps)  # Biased var.
  c = std(z1).T @ std(z2) / len(z1)
  total = 0.0
  for i in range(c.shape[0]):
    for j in range(c.shape[1]):
      total += (1 - c[i, j]) ** 2 if i == j else lam * c[i, j] ** 2
  return total


def _vicreg_reference(x, y, sim=25., std=25., cov=1.):
  """float64 transcription; returns (loss, s, var, cov)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  n, d = x.shape
  s = np.mean((x - y) ** 2)

  def v(z):
    sd = np.sqrt(z.var(0, ddof=1) + 1e-4)
    return np.mean(np.maximum(0.0, 1.0 - sd))

  def c(z):
    zc = z - z.mean(0)
    m = zc.T @ zc / (n - 1)
    return sum(m[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d

  var = (v(x) + v(y)) / 2
  covariance = c(x) + c(y)
  return sim * s + std * var + cov * covariance, s, var, covariance


def test_barlow_twins_hand_computed_values():
  loss = jax.jit(losses.barlow_twins)(Z1, Z2, 0.0051)
  np.testing.assert_allclose(loss, 3.9245238247, rtol=1e-5)
  # The two terms, from the C given in docs/methods.md#barlow-twins.
  on = (1 - C[0, 0]) ** 2 + (1 - C[1, 1]) ** 2
  off = C[0, 1] ** 2 + C[1, 0] ** 2
  np.testing.assert_allclose(losses.barlow_twins(Z1, Z2, 0.), on, rtol=1e-5)
  np.testing.assert_allclose(losses.barlow_twins(Z1, Z2, 1.), on + off,
                             rtol=1e-5)
  np.testing.assert_allclose(_barlow_reference(Z1, Z2, 0.0051), 3.9245238247,
                             rtol=1e-9)
  # eps -> 0 (docs/methods.md#barlow-twins): the reference really uses eps 1e-5.
  np.testing.assert_allclose(_barlow_reference(Z1, Z2, 0.0051, eps=0.),
                             3.9245358215, rtol=1e-9)


def test_barlow_twins_matches_reference_and_invariances():
  rng = np.random.default_rng(0)
  z1, z2 = rng.normal(size=(2, 16, 6)).astype(np.float32)
  base = losses.barlow_twins(z1, z2, 0.0051)
  np.testing.assert_allclose(base, _barlow_reference(z1, z2, 0.0051),
                             rtol=1e-5)
  # Per-dimension shift (exact) and positive scale (up to eps) of each view.
  shift = rng.normal(size=(2, 1, 6)).astype(np.float32)
  scale = rng.uniform(0.5, 2., size=(2, 1, 6)).astype(np.float32)
  np.testing.assert_allclose(
      losses.barlow_twins(scale[0] * z1 + shift[0], scale[1] * z2 + shift[1],
                          0.0051), base, rtol=1e-4)
  # View swap (C -> C^T), batch and feature permutations of both views.
  np.testing.assert_allclose(losses.barlow_twins(z2, z1, 0.0051), base,
                             rtol=1e-5)
  perm = rng.permutation(16)
  np.testing.assert_allclose(losses.barlow_twins(z1[perm], z2[perm], 0.0051),
                             base, rtol=1e-5)
  feat = rng.permutation(6)
  np.testing.assert_allclose(
      losses.barlow_twins(z1[:, feat], z2[:, feat], 0.0051), base, rtol=1e-5)
  # Pairing across the batch matters.
  assert abs(float(losses.barlow_twins(z1, z2[perm], 0.0051))
             - float(base)) > 1e-3
  # Identical whitened views make C = I (up to eps): the loss is ~0. The
  # columns of Q span centred columns, so they are zero-mean and orthonormal.
  g = rng.normal(size=(16, 4))
  q, _ = np.linalg.qr(g - g.mean(0))
  white = q * 4  # Biased variance 1 per dimension.
  np.testing.assert_allclose(losses.barlow_twins(white, white, 1.0), 0.0,
                             atol=1e-6)


@pytest.mark.parametrize('scale,terms,expected', [
    (1.0, (5.125, 0.0458605460, 1.4444444444), 130.7159580952),
    (0.2, (0.205, 0.7234943691, 0.0023111111), 23.2146703393),
])
def test_vicreg_hand_computed_values(scale, terms, expected):
  loss, logs = jax.jit(losses.vicreg)(scale * Z1, scale * Z2)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  got = (logs['invariance'], logs['variance'], logs['covariance'])
  np.testing.assert_allclose(got, terms, rtol=1e-5)
  np.testing.assert_allclose(_vicreg_reference(scale * Z1, scale * Z2),
                             (expected, *terms), rtol=1e-7)  # 10 decimals.


def test_vicreg_keeps_the_half_on_the_variance_term():
  # solo-learn drops the 1/2, which adds one more 25 * var
  # (docs/methods.md#vicreg).
  loss, logs = losses.vicreg(Z1, Z2)
  np.testing.assert_allclose(loss + 25 * logs['variance'], 131.8624717460,
                             rtol=1e-5)


def test_vicreg_coefficients_and_reference_on_random_inputs():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(2, 12, 5)).astype(np.float32) * 0.5
  loss, logs = losses.vicreg(x, y, sim_coeff=2.0, std_coeff=3.0,
                             cov_coeff=0.5)
  ref = _vicreg_reference(x, y, 2.0, 3.0, 0.5)
  np.testing.assert_allclose(
      (loss, logs['invariance'], logs['variance'], logs['covariance']), ref,
      rtol=1e-5)
  np.testing.assert_allclose(
      loss, 2.0 * logs['invariance'] + 3.0 * logs['variance']
      + 0.5 * logs['covariance'], rtol=1e-6)


def test_vicreg_invariances():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(2, 10, 4)).astype(np.float32) * 0.7
  base, _ = losses.vicreg(x, y)
  # A common shift leaves every term unchanged; so do view swap and
  # batch permutation.
  shift = rng.normal(size=(1, 4)).astype(np.float32)
  np.testing.assert_allclose(losses.vicreg(x + shift, y + shift)[0], base,
                             rtol=1e-5)
  np.testing.assert_allclose(losses.vicreg(y, x)[0], base, rtol=1e-5)
  perm = rng.permutation(10)
  np.testing.assert_allclose(losses.vicreg(x[perm], y[perm])[0], base,
                             rtol=1e-5)
  assert abs(float(losses.vicreg(x, y[perm])[0]) - float(base)) > 1e-3


@pytest.mark.parametrize('fn', [
    lambda a, b: losses.barlow_twins(a, b, 0.0051),
    lambda a, b: losses.vicreg(a, b)[0],
])
def test_gradients_finite_even_when_collapsed(fn):
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(2, 8, 4)).astype(np.float32)
  collapsed = np.ones((8, 4), np.float32)  # Zero variance in every dim.
  for a, b in [(x, y), (collapsed, collapsed), (x, collapsed)]:
    for g in jax.grad(fn, argnums=(0, 1))(a, b):
      assert np.all(np.isfinite(g))


@pytest.mark.parametrize('fn', [
    lambda a, b: losses.barlow_twins(a, b, 0.0051),
    lambda a, b: losses.vicreg(a, b)[0],
])
def test_bfloat16_inputs_compute_in_float32(fn):
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(2, 32, 8))
  x16, y16 = jnp.asarray(x, jnp.bfloat16), jnp.asarray(y, jnp.bfloat16)
  loss = fn(x16, y16)
  assert loss.dtype == jnp.float32
  np.testing.assert_allclose(
      loss, fn(np.asarray(x16, np.float32), np.asarray(y16, np.float32)),
      rtol=1e-5)


def test_rejects_bad_shapes():
  with pytest.raises(ValueError, match='barlow_twins'):
    losses.barlow_twins(Z1, Z2[:3], 0.0051)
  with pytest.raises(ValueError, match='vicreg'):
    losses.vicreg(Z1[:1], Z2[:1])  # Unbiased variance needs N >= 2.


def _cross_terms_dense(a, b, divisor):
  """C = a^T b / divisor formed: (diag C, off-diagonal sum of squares)."""
  c = a.T @ b / divisor
  diag = jnp.sum(c * jnp.eye(c.shape[0]), axis=1)
  return diag, jnp.sum(c * c) - jnp.sum(diag * diag)


@pytest.mark.parametrize('n,d', [(6, 40), (40, 6)])  # Gram form, D x D form.
def test_cross_terms_equal_the_formed_matrix_in_values_and_gradients(n, d):
  rng = np.random.default_rng(5)
  a, b = rng.normal(size=(2, n, d)).astype(np.float32)
  got = losses.redundancy.cross_terms(a, b, n)
  want = _cross_terms_dense(a, b, n)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
  # Gradients of a weighted sum of both outputs (the losses' use).
  weights = rng.normal(size=d).astype(np.float32)
  scalar = lambda f: lambda a, b: (jnp.sum(weights * f(a, b, n)[0])
                                   + 0.3 * f(a, b, n)[1])
  got = jax.grad(scalar(losses.redundancy.cross_terms), (0, 1))(a, b)
  want = jax.grad(scalar(_cross_terms_dense), (0, 1))(a, b)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_both_losses_match_the_references_with_fewer_rows_than_dimensions():
  # N < D: the papers' 8192-wide projectors at a batch below 8192 (the
  # losses then never form the D x D matrix).
  rng = np.random.default_rng(6)
  z1, z2 = rng.normal(size=(2, 12, 48)).astype(np.float32)
  np.testing.assert_allclose(losses.barlow_twins(z1, z2, 0.0051),
                             _barlow_reference(z1, z2, 0.0051), rtol=1e-5)
  loss, logs = losses.vicreg(z1, z2)
  np.testing.assert_allclose(
      (loss, logs['invariance'], logs['variance'], logs['covariance']),
      _vicreg_reference(z1, z2), rtol=1e-5)
