"""BYOL, SimSiam, DINO: hand values (docs/methods.md) and invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import losses

# Shared fixtures: p1 = A, p2 = Bm, z1 = Cm, z2 = Dm.
A = np.array([[2., 0.], [0., 3.]])
BM = np.array([[3., 4.], [4., 3.]])
CM = np.array([[1., 1.], [-1., 1.]])
DM = np.array([[1., 0.], [1., 2.]])

# DINO (docs/methods.md#dino): 2 global crops (teacher) and 2 global + 1 local
# (student).
TEACHER = np.array([[[0.1, 0.2, -0.1], [0.0, 0.05, 0.02]],
                    [[0.3, -0.1, 0.0], [-0.05, 0.1, 0.0]]])
STUDENT = np.array([[[0.2, 0.1, 0.0], [0.1, -0.2, 0.3]],
                    [[0.0, 0.3, -0.1], [0.2, 0.2, 0.1]],
                    [[0.5, -0.5, 0.0], [0.0, 0.0, 0.1]]])
CENTER = np.array([0.1, -0.2, 0.0])


def _unit(x):
  x = np.asarray(x, np.float64)
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def _byol_reference(p1, p2, z1, z2):
  """float64: ||n(p) - n(z)||^2 per sample, both directions, batch mean."""
  d1 = np.sum((_unit(p1) - _unit(z2)) ** 2, axis=1)
  d2 = np.sum((_unit(p2) - _unit(z1)) ** 2, axis=1)
  return np.mean(d1 + d2)


def _simsiam_reference(p1, p2, z1, z2):
  c1 = np.sum(_unit(p1) * _unit(z2), axis=1)
  c2 = np.sum(_unit(p2) * _unit(z1), axis=1)
  return -(np.mean(c1) + np.mean(c2)) / 2


def _log_softmax(x):
  x = x - np.max(x, axis=-1, keepdims=True)
  return x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))


def _dino_reference(student, teacher, center, tau_s, tau_t):
  """float64 loops over (teacher crop, student crop) pairs, i != j."""
  student = np.asarray(student, np.float64)
  teacher = np.asarray(teacher, np.float64)
  terms = []
  for i, t in enumerate(teacher):
    p = np.exp(_log_softmax((t - center) / tau_t))
    for j, s in enumerate(student):
      if i != j:
        terms.append(np.mean(-np.sum(p * _log_softmax(s / tau_s), axis=-1)))
  return np.mean(terms)


@pytest.mark.parametrize('fn,reference,expected', [
    (losses.byol, _byol_reference, 1.2570446716),
    (losses.simsiam, _simsiam_reference, -0.6857388321),
])
def test_hand_computed_values(fn, reference, expected):
  np.testing.assert_allclose(jax.jit(fn)(A, BM, CM, DM), expected, rtol=1e-5)
  np.testing.assert_allclose(reference(A, BM, CM, DM), expected, rtol=1e-9)


def test_byol_is_affine_in_simsiam():
  # mean(4 - 2 cos - 2 cos) = 4 + 4 * simsiam, on any inputs.
  rng = np.random.default_rng(0)
  args = rng.normal(size=(4, 5, 3))
  np.testing.assert_allclose(losses.byol(*args),
                             4 + 4 * losses.simsiam(*args), rtol=1e-5)


@pytest.mark.parametrize('fn,reference', [
    (losses.byol, _byol_reference), (losses.simsiam, _simsiam_reference)])
def test_matches_reference_and_invariances(fn, reference):
  rng = np.random.default_rng(1)
  p1, p2, z1, z2 = rng.normal(size=(4, 6, 5)).astype(np.float32)
  base = fn(p1, p2, z1, z2)
  np.testing.assert_allclose(base, reference(p1, p2, z1, z2), rtol=1e-5)
  # Per-row positive scale of every input (only directions matter).
  s = rng.uniform(0.1, 10., size=(4, 6, 1)).astype(np.float32)
  np.testing.assert_allclose(fn(s[0] * p1, s[1] * p2, s[2] * z1, s[3] * z2),
                             base, rtol=1e-5)
  # View swap and batch permutation.
  np.testing.assert_allclose(fn(p2, p1, z2, z1), base, rtol=1e-5)
  perm = rng.permutation(6)
  np.testing.assert_allclose(fn(p1[perm], p2[perm], z1[perm], z2[perm]), base,
                             rtol=1e-5)
  # Cross pairing: p1 is compared with z2, not z1.
  assert abs(float(fn(p1, p2, z2, z1)) - float(base)) > 1e-3


def test_ranges():
  x = np.random.default_rng(2).normal(size=(3, 4))
  np.testing.assert_allclose(losses.byol(x, x, x, x), 0.0, atol=1e-6)
  np.testing.assert_allclose(losses.byol(x, x, -x, -x), 8.0, rtol=1e-6)
  np.testing.assert_allclose(losses.simsiam(x, x, x, x), -1.0, rtol=1e-6)
  np.testing.assert_allclose(losses.simsiam(x, x, -x, -x), 1.0, rtol=1e-6)


@pytest.mark.parametrize('fn', [losses.byol, losses.simsiam])
def test_gradients_finite_and_bfloat16(fn):
  rng = np.random.default_rng(3)
  args = rng.normal(size=(4, 4, 3)).astype(np.float32)
  for g in jax.grad(fn, argnums=(0, 1, 2, 3))(*args):
    assert np.all(np.isfinite(g))
  same = jax.grad(lambda x: fn(x, x, x, x))(args[0])
  assert np.all(np.isfinite(same))
  bf16 = [jnp.asarray(a, jnp.bfloat16) for a in args]
  loss = fn(*bf16)
  assert loss.dtype == jnp.float32
  np.testing.assert_allclose(loss, fn(*[np.asarray(a, np.float32)
                                        for a in bf16]), rtol=1e-5)


def test_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match='byol'):
    losses.byol(A, BM, CM, np.ones((2, 3)))
  with pytest.raises(ValueError, match='simsiam'):
    losses.simsiam(A, BM, CM, np.ones((3,)))


@pytest.mark.parametrize('center,tau_t,expected', [
    (CENTER, 0.04, 2.5567071633),
    (CENTER, 0.07, 2.7271472808),
    (np.zeros(3), 0.04, 2.3185725072),
])
def test_dino_hand_computed_values(center, tau_t, expected):
  # Both temperatures traced: tau_t follows a per-epoch schedule.
  loss = jax.jit(losses.dino)(STUDENT, TEACHER, center, 0.1, tau_t)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(
      _dino_reference(STUDENT, TEACHER, center, 0.1, tau_t), expected,
      rtol=1e-9)


def test_dino_center_hand_value():
  new = jax.jit(losses.dino_center)(TEACHER, CENTER, 0.9)
  np.testing.assert_allclose(new, [0.09875, -0.17375, -0.002], rtol=1e-5)
  np.testing.assert_allclose(losses.dino_center(TEACHER, CENTER, 1.0), CENTER,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.dino_center(TEACHER, CENTER, 0.0),
                             TEACHER.reshape(-1, 3).mean(0), rtol=1e-6)
  grad = jax.grad(lambda t: losses.dino_center(t, CENTER, 0.9).sum())(TEACHER)
  np.testing.assert_array_equal(grad, 0.0)


def test_dino_matches_reference_on_random_inputs():
  rng = np.random.default_rng(4)
  student = rng.normal(size=(6, 3, 7))
  teacher = rng.normal(size=(2, 3, 7))
  center = rng.normal(size=7)
  np.testing.assert_allclose(
      losses.dino(student, teacher, center, 0.1, 0.05),
      _dino_reference(student, teacher, center, 0.1, 0.05), rtol=1e-5)


def test_dino_skips_only_diagonal_pairs():
  rng = np.random.default_rng(5)
  student = rng.normal(size=(4, 3, 5)).astype(np.float32)
  teacher = rng.normal(size=(2, 3, 5)).astype(np.float32)
  center = np.zeros(5, np.float32)
  loss = lambda s, t: losses.dino(s, t, center, 0.1, 0.04)
  # Pair (0, 0) only: student crop 0's gradient ignores teacher crop 0 ...
  grad_s = jax.grad(loss)
  other = teacher.copy()
  other[0] = rng.normal(size=(3, 5))
  np.testing.assert_allclose(grad_s(student, teacher)[0],
                             grad_s(student, other)[0], atol=1e-7)
  # ... but student crop 2 (a local crop) sees both teacher crops.
  assert np.abs(grad_s(student, teacher)[2]
                - grad_s(student, other)[2]).max() > 1e-4
  # With one teacher crop, student crop 0 is in no pair at all.
  one = teacher[:1]
  changed = student.copy()
  changed[0] = 10 * rng.normal(size=(3, 5))
  np.testing.assert_allclose(loss(changed, one), loss(student, one),
                             rtol=1e-6)
  np.testing.assert_array_equal(grad_s(student, one)[0], 0.0)
  changed = student.copy()
  changed[1] = 10 * rng.normal(size=(3, 5))
  assert abs(float(loss(changed, one)) - float(loss(student, one))) > 1e-3
  # 2 teacher x 4 student crops -> 6 pairs, weighted equally.
  np.testing.assert_allclose(
      loss(student, teacher),
      _dino_reference(student, teacher, center, 0.1, 0.04), rtol=1e-5)


def test_dino_invariances():
  rng = np.random.default_rng(6)
  student = rng.normal(size=(5, 3, 4)).astype(np.float32)
  teacher = rng.normal(size=(2, 3, 4)).astype(np.float32)
  center = rng.normal(size=4).astype(np.float32)
  loss = lambda s, t, c: losses.dino(s, t, c, 0.1, 0.04)
  base = loss(student, teacher, center)
  # Softmax ignores per-row shifts; centre and teacher move together.
  shift = rng.normal(size=(1, 3, 1)).astype(np.float32)
  v = rng.normal(size=4).astype(np.float32)
  np.testing.assert_allclose(loss(student + shift, teacher - shift, center),
                             base, rtol=1e-5)
  np.testing.assert_allclose(loss(student, teacher + v, center + v), base,
                             rtol=1e-5)
  # Swapping the two global crops in both networks, or reordering local crops.
  np.testing.assert_allclose(
      loss(student[[1, 0, 2, 3, 4]], teacher[[1, 0]], center), base, rtol=1e-5)
  np.testing.assert_allclose(
      loss(student[[0, 1, 4, 2, 3]], teacher, center), base, rtol=1e-5)
  # Swapping the teacher crops alone pairs each with itself: a different loss.
  assert abs(float(loss(student, teacher[[1, 0]], center))
             - float(base)) > 1e-4


def test_dino_gradients_finite_and_bfloat16():
  rng = np.random.default_rng(7)
  student = 50 * rng.normal(size=(3, 4, 6)).astype(np.float32)
  teacher = 50 * rng.normal(size=(2, 4, 6)).astype(np.float32)
  center = np.zeros(6, np.float32)
  grads = jax.grad(losses.dino, argnums=(0, 1))(student, teacher, center,
                                                0.1, 0.04)
  for g in grads:
    assert np.all(np.isfinite(g))
  s16 = jnp.asarray(student / 50, jnp.bfloat16)
  t16 = jnp.asarray(teacher / 50, jnp.bfloat16)
  loss = losses.dino(s16, t16, center, 0.1, 0.04)
  assert loss.dtype == jnp.float32
  np.testing.assert_allclose(
      loss, _dino_reference(np.asarray(s16, np.float64),
                            np.asarray(t16, np.float64), center, 0.1, 0.04),
      rtol=1e-5)


def test_dino_rejects_bad_shapes():
  with pytest.raises(ValueError, match='dino'):
    losses.dino(STUDENT[:1], TEACHER, CENTER, 0.1, 0.04)  # More teachers.
  with pytest.raises(ValueError, match='dino'):
    losses.dino(STUDENT, TEACHER, np.zeros(4), 0.1, 0.04)
  with pytest.raises(ValueError, match='dino'):
    losses.dino(STUDENT[:1], TEACHER[:1], CENTER, 0.1, 0.04)  # No pairs.
