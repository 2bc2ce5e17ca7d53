"""LeJEPA's SIGReg and prediction term: hand values (docs/methods.md#lejepa)
against an independent float64 transcription, the Gaussian expectation,
invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import losses

Z1 = np.array([[1., 2.], [3., 1.], [0., 0.], [2., 5.]])
Z2 = np.array([[2., 1.], [1., 1.], [0., 3.], [1., 0.]])
Z3 = np.array([[0., 1.], [1., 0.], [1., 1.], [0., 0.]])
A = np.array([[1., 0.6], [0., 0.8]])  # Two unit directions (columns).


def _epps_pulley_reference(x, t_max=3.0, knots=17):
  """float64, in the paper's form (Algorithm 1's `(1j * x_t).exp().mean(0)`
  and `torch.trapz`): N * trapz of |ecf - phi|^2 exp(-t^2/2) on the
  symmetric grid of 2K - 1 knots over [-t_max, t_max], the integral the
  official half grid with doubled weights computes. x [N, S] -> [S]."""
  t = np.linspace(-t_max, t_max, 2 * knots - 1)
  ecf = np.exp(1j * x[..., None] * t).mean(-3)
  err = np.abs(ecf - np.exp(-t**2 / 2)) ** 2 * np.exp(-t**2 / 2)
  return np.trapezoid(err, t, axis=-1) * x.shape[-2]


def test_epps_pulley_hand_values():
  # A point mass at 0, N = 2: ecf = 1, T = 2 sum_k w_k (1 - phi_k)^2.
  point = np.zeros((2, 1))
  np.testing.assert_allclose(_epps_pulley_reference(point), [0.804095159463],
                             rtol=1e-11)
  np.testing.assert_allclose(jax.jit(losses.epps_pulley)(point),
                             [0.804095159463], rtol=1e-6)
  # The columns of Z1 (N = 4).
  expected = [2.945344668526, 2.382087118296]
  np.testing.assert_allclose(_epps_pulley_reference(Z1), expected,
                             rtol=1e-11)
  np.testing.assert_allclose(losses.epps_pulley(Z1), expected, rtol=1e-6)


def test_lejepa_hand_values():
  # z = [Z1, Z2, Z3] / 2: two global views and one local; lambda 0.05.
  # Prediction: centre (Z1 + Z2) / 4; squared deviations 2.5625 (view 1),
  # 2.5625 (view 2), 3.5625 (view 3) -> 8.6875 / 24 values.
  z = np.stack([Z1, Z2, Z3]) / 2
  loss, logs = jax.jit(losses.lejepa, static_argnums=1)(z, 2, A, 0.05)
  np.testing.assert_allclose(logs['prediction'], 8.6875 / 24, rtol=1e-6)
  sig = np.mean(_epps_pulley_reference(z @ A))  # Per view, then the mean.
  np.testing.assert_allclose(sig, 2.054147801566, rtol=1e-11)
  np.testing.assert_allclose(logs['sigreg'], sig, rtol=1e-6)
  np.testing.assert_allclose(loss, 0.95 * 8.6875 / 24 + 0.05 * sig,
                             rtol=1e-6)
  # One test per view, not on the 12 rows pooled (a different statistic).
  pooled = np.mean(_epps_pulley_reference((z @ A).reshape(12, 2)))
  assert abs(pooled - sig) > 0.1


def test_gaussian_sample_scores_its_expectation(n=64):
  # For N iid N(0, 1) samples E|ecf(t) - phi(t)|^2 = (1 - phi(t)^2) / N, so
  # E T = sum_k w_k (1 - phi_k^2) = 1.05246 whatever N (the factor N
  # undoes the 1/N). 2048 axis directions: independent slices.
  t = np.linspace(0, 3, 17)
  phi = np.exp(-t**2 / 2)
  w = np.full(17, 2 * 3 / 16) * phi
  w[[0, -1]] /= 2
  expected = np.sum(w * (1 - phi**2))
  np.testing.assert_allclose(expected, 1.0524641548, rtol=1e-9)
  z = jax.random.normal(jax.random.PRNGKey(n), (1, n, 2048))
  stat = losses.sigreg(z, jnp.eye(2048))
  np.testing.assert_allclose(stat, expected, rtol=0.06)
  # Collapsed or mis-scaled embeddings score far higher (~N: their
  # |ecf - phi| does not shrink with N).
  assert losses.sigreg(jnp.full_like(z, 0.3), jnp.eye(2048)) > 10 * expected
  assert losses.sigreg(3 * z, jnp.eye(2048)) > 10 * expected


def test_invariances():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(4, 8, 3))  # 2 global + 2 local views.
  d = losses.sigreg_directions(jax.random.PRNGKey(0), 3, 5)
  base, logs = losses.lejepa(z, 2, d)
  perm = rng.permutation(8)  # The same examples, in another order.
  np.testing.assert_allclose(losses.lejepa(z[:, perm], 2, d)[0], base,
                             rtol=1e-5)
  # Swapping the two global views, or the two local ones.
  np.testing.assert_allclose(losses.lejepa(z[[1, 0, 3, 2]], 2, d)[0], base,
                             rtol=1e-5)
  # |ecf(-t)| = |ecf(t)|: opposite directions give the same statistic.
  np.testing.assert_allclose(losses.sigreg(z, -d), logs['sigreg'], rtol=1e-5)
  # Pairing views of different examples raises the prediction term.
  shuffled = z.copy()
  shuffled[2] = z[2, perm]
  assert losses.lejepa(shuffled, 2, d)[1]['prediction'] > logs['prediction']


def test_directions_are_unit_and_follow_the_key():
  a = losses.sigreg_directions(jax.random.PRNGKey(3), 16, 32)
  np.testing.assert_allclose(jnp.linalg.norm(a, axis=0), np.ones(32),
                             rtol=1e-6)
  np.testing.assert_array_equal(
      a, losses.sigreg_directions(jax.random.PRNGKey(3), 16, 32))
  assert not np.allclose(
      a, losses.sigreg_directions(jax.random.PRNGKey(4), 16, 32))


def test_bad_arguments_name_the_rule():
  with pytest.raises(ValueError, match='odd'):
    losses.epps_pulley(Z1, knots=16)
  with pytest.raises(ValueError, match='num_global'):
    losses.lejepa(np.stack([Z1, Z2]), 3, A)
  with pytest.raises(ValueError, match=r'\[D, S\]'):
    losses.sigreg(np.stack([Z1]), np.ones((3, 2)))
