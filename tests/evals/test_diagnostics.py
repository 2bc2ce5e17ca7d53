"""Collapse diagnostics: docs/methods.md value, constructed embeddings."""

import numpy as np
import pytest

from ssl_jax.evals import diagnostics


def test_rankme_methods_card_value():
  assert diagnostics.rankme(np.diag([3.0, 1.0])) == pytest.approx(
      1.7547652934, abs=1e-10)


@pytest.mark.parametrize('rank', [1, 3, 8])
def test_rankme_of_equal_singular_values_is_the_rank(rank):
  rng = np.random.default_rng(rank)
  u, _ = np.linalg.qr(rng.normal(size=(100, rank)))
  v, _ = np.linalg.qr(rng.normal(size=(16, rank)))
  z = 5.0 * u @ v.T  # [100, 16], rank `rank`, all singular values 5.
  assert diagnostics.rankme(z) == pytest.approx(rank, rel=1e-3)
  # Exactly, eps = 1e-7 is added to all 16 p_k, the 16 − rank zeros too.
  p = np.array([1 / rank] * rank + [0.0] * (16 - rank)) + 1e-7
  assert diagnostics.rankme(z) == pytest.approx(
      np.exp(-np.sum(p * np.log(p))), rel=1e-9)


def test_singular_values_are_centred_and_descending():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(50, 6)) * np.arange(1, 7) + 10.0
  s = diagnostics.singular_values(z)
  assert np.all(np.diff(s) <= 0)
  centred = z - z.mean(0)
  np.testing.assert_allclose(
      s ** 2, np.sort(np.linalg.eigvalsh(centred.T @ centred))[::-1],
      rtol=1e-10)
  # A constant offset is a rank-1 spike in the raw spectrum only.
  assert diagnostics.singular_values(z, center=False)[0] > 2 * s[0]


def test_normalized_std_isotropic_vs_collapsed():
  rng = np.random.default_rng(0)
  assert diagnostics.normalized_std(
      rng.normal(size=(20000, 64))) == pytest.approx(1.0, abs=0.02)
  collapsed = np.tile(rng.normal(size=(1, 64)), (500, 1))
  assert diagnostics.normalized_std(collapsed) == pytest.approx(0.0, abs=1e-7)
  # Hand value, biased std: each dim of [[1, 0], [0, 1]] has std 0.5.
  assert diagnostics.normalized_std(np.eye(2)) == pytest.approx(
      0.5 * np.sqrt(2), rel=1e-12)
  # Scale per row is removed by the normalisation.
  z = rng.normal(size=(2000, 16))
  assert diagnostics.normalized_std(z * rng.uniform(0.1, 10, (2000, 1))) == (
      pytest.approx(diagnostics.normalized_std(z), rel=1e-12))


def test_alignment():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(100, 8))
  assert diagnostics.alignment(z, 3.0 * z) == pytest.approx(0.0, abs=1e-12)
  # Antipodal views: ||n(z) − n(−z)|| = 2, so alpha=2 gives 4.
  assert diagnostics.alignment(z, -z) == pytest.approx(4.0)
  e = np.eye(2)
  assert diagnostics.alignment(e, e[::-1], alpha=1) == pytest.approx(
      np.sqrt(2))


def test_uniformity_hand_value_and_chunking():
  # Three unit vectors: squared distances 2, 2 (orthogonal) and 4 (opposite).
  z = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  expected = np.log((2 * np.exp(-4.0) + np.exp(-8.0)) / 3)
  assert diagnostics.uniformity(z) == pytest.approx(expected, rel=1e-12)
  rng = np.random.default_rng(1)
  z = rng.normal(size=(301, 5))
  n = z / np.linalg.norm(z, axis=1, keepdims=True)
  i, j = np.triu_indices(301, k=1)
  brute = np.log(np.mean(np.exp(-2 * np.sum((n[i] - n[j]) ** 2, axis=1))))
  for chunk in (1, 7, 64, 512):
    assert diagnostics.uniformity(z, chunk=chunk) == pytest.approx(
        brute, rel=1e-10)
  # Large t: exp(−1000) underflows float64, the running log-sum-exp does
  # not; the value is −2t + log((2 + e^{−2t}) / 3).
  three = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  for chunk in (1, 2, 512):
    assert diagnostics.uniformity(three, t=500.0, chunk=chunk) == (
        pytest.approx(-1000.0 + np.log(2 / 3), rel=1e-12))


def test_uniformity_spread_below_clustered():
  rng = np.random.default_rng(0)
  spread = rng.normal(size=(1000, 16))
  clustered = rng.normal(size=(1, 16)) + 0.1 * rng.normal(size=(1000, 16))
  u_spread = diagnostics.uniformity(spread)
  u_clustered = diagnostics.uniformity(clustered)
  assert u_spread < u_clustered - 1.0
  assert u_clustered <= 0.0
  with pytest.raises(ValueError, match='at least 2'):
    diagnostics.uniformity(np.ones((1, 4)))
  # All points equal: every potential is exp(0) = 1.
  assert diagnostics.uniformity(np.ones((10, 4))) == pytest.approx(0.0,
                                                                   abs=1e-12)


def test_evaluate_flags_collapse_and_not_health():
  rng = np.random.default_rng(0)
  healthy = rng.normal(size=(1000, 32))
  result = diagnostics.evaluate(healthy, healthy + 0.1 * rng.normal(
      size=healthy.shape))
  assert not result['collapsed']
  assert result['rankme'] > 25 and result['normalized_std'] > 0.9
  assert 0 < result['alignment'] < 0.1
  assert len(result['singular_values']) == 32
  assert all(isinstance(s, float) for s in result['singular_values'])
  assert result['num_examples'] == 1000 and result['dim'] == 32

  complete = np.tile(rng.normal(size=(1, 32)), (1000, 1))
  result = diagnostics.evaluate(complete)
  assert result['collapsed'] and 'alignment' not in result
  assert result['rankme'] == pytest.approx(1.0, abs=1e-3)

  # Dimensional collapse: spread along a line through the origin, so the
  # normalised std stays high, but RankMe sees one direction.
  line = rng.normal(size=(1000, 1)) * rng.normal(size=(1, 32))
  line = line + 1e-3 * rng.normal(size=(1000, 32))
  result = diagnostics.evaluate(line)
  assert result['normalized_std'] > 0.1 and result['collapsed']
