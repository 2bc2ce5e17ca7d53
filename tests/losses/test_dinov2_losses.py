"""DINOv2's loss terms: Sinkhorn-Knopp, iBOT patch loss and KoLeo against
float64 transcriptions of facebookresearch/dinov2 `dinov2/loss/` and hand
values."""

import jax
import numpy as np
import pytest

from ssl_jax import losses
from ssl_jax.losses import dinov2

T = np.array([[0.1, 0.2, -0.1], [0.0, 0.05, 0.02], [0.3, -0.1, 0.0],
              [-0.05, 0.1, 0.0]])
X = np.array([[2., 0.], [0., 3.], [1., 1.], [-1., 1.]])


def _sinkhorn_reference(t, temp, n_iterations=3):
  """`sinkhorn_knopp_teacher` in float64, in its K x B layout, one process."""
  q = np.exp(t / temp).T
  k, b = q.shape
  q = q / q.sum()
  for _ in range(n_iterations):
    q = q / q.sum(1, keepdims=True) / k
    q = q / q.sum(0, keepdims=True) / b
  return (q * b).T


def test_sinkhorn_knopp_matches_the_official():
  expected = [[0.2174772807, 0.6752901129, 0.1072326064],
              [0.1363633143, 0.2568187953, 0.6068178905],
              [0.8317293489, 0.0174014771, 0.150869174],
              [0.0824651261, 0.4221765101, 0.4953583638]]
  np.testing.assert_allclose(_sinkhorn_reference(T, 0.1), expected,
                             rtol=1e-9)
  q = jax.jit(losses.sinkhorn_knopp)(T, 0.1)
  np.testing.assert_allclose(q, expected, rtol=1e-5)
  # Each row is an assignment; the prototypes share the batch evenly
  # (exactly after the row step, nearly after the last column step).
  np.testing.assert_allclose(q.sum(1), np.ones(4), rtol=1e-6)
  np.testing.assert_allclose(q.sum(0), np.full(3, 4 / 3), rtol=0.05)


def test_sinkhorn_knopp_ignores_rows_that_are_not_valid():
  # iBOT's masked patches: the other rows do not count, B is their number.
  padded = np.concatenate([T[:3], [[9., -9., 0.]]])
  q = losses.sinkhorn_knopp(padded, 0.1, valid=np.array([1, 1, 1, 0], bool))
  np.testing.assert_allclose(q[:3], _sinkhorn_reference(T[:3], 0.1),
                             rtol=1e-5)
  np.testing.assert_array_equal(q[3], np.zeros(3))


def test_ibot_patch_hand_values():
  # Image 0 masks patches 0 and 2; image 1 masks none (counts as 0).
  # Patch 0: s/tau = [10, 0], P_t = [0.25, 0.75]: 7.5 + log(1 + e^-10);
  # patch 2: s = 0, P_t = [0.5, 0.5]: log 2. Loss: their mean, halved.
  s = np.zeros((2, 3, 2))
  s[0, 0] = [1.0, 0.0]
  t = np.full((2, 3, 2), 0.5)
  t[0, 0] = [0.25, 0.75]
  masks = np.array([[1, 0, 1], [0, 0, 0]], bool)
  expected = (7.5 + np.log1p(np.exp(-10)) + np.log(2)) / 2 / 2
  np.testing.assert_allclose(expected, 2.0482981449, rtol=1e-9)
  np.testing.assert_allclose(dinov2.ibot_patch(s, t, masks, 0.1), expected,
                             rtol=1e-6)


def test_koleo_hand_values():
  # Unit rows (1, 0), (0, 1), (1, 1)/sqrt2, (-1, 1)/sqrt2: every nearest
  # neighbour is 45 degrees away, distance sqrt(2 - sqrt2).
  np.testing.assert_allclose(jax.jit(dinov2.koleo)(X),
                             -np.log(np.sqrt(2 - np.sqrt(2))), rtol=1e-6)
  # Per GPU (2 groups of 2): each pair is 90 degrees apart: -log(sqrt2).
  np.testing.assert_allclose(dinov2.koleo(X, groups=2), -np.log(2) / 2,
                             rtol=1e-6)
  with pytest.raises(ValueError, match='groups'):
    dinov2.koleo(X, groups=3)


def test_koleo_spread_points_score_lower():
  # Scale-invariant (rows are normalised); crowding raises it.
  np.testing.assert_allclose(dinov2.koleo(5 * X), dinov2.koleo(X), rtol=1e-6)
  crowded = X + np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [2.9, 0.0]])
  assert dinov2.koleo(crowded) > dinov2.koleo(X)
