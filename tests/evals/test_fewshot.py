"""Few-shot ridge: closed form vs np.linalg.solve, clusters, shuffles, draws."""

import numpy as np
import pytest

from ssl_jax.evals import fewshot


def _reference_weights(x, y, num_classes, reg, form):
  """docs/methods.md#few-shot-ridge-regression with np.linalg.solve."""
  mean, std = x.mean(0), np.sqrt(np.mean((x - x.mean(0)) ** 2, 0)) + 1e-5
  a = np.hstack([(x - mean) / std, np.full((len(x), 1), 100.0)])
  t = 2.0 * (y[:, None] == np.arange(num_classes)) - 1.0
  if form == 'primal':
    w = np.linalg.solve(a.T @ a + reg * np.eye(a.shape[1]), a.T @ t)
  else:
    w = a.T @ np.linalg.solve(a @ a.T + reg * np.eye(len(a)), t)
  return w, mean, std


@pytest.mark.parametrize('n,d', [(60, 12), (12, 60)])  # N ≥ D+1; N < D+1.
@pytest.mark.parametrize('reg', [1024.0, 3.0])
def test_ridge_matches_primal_and_dual_solve(n, d, reg):
  rng = np.random.default_rng(0)
  # Off-centre, unevenly scaled features, so whitening is not a no-op.
  x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + 5.0
  y = np.arange(n) % 4
  model = fewshot.fit(x, y, 4, reg)
  for form in ('primal', 'dual'):
    w, mean, std = _reference_weights(x, y, 4, reg, form)
    np.testing.assert_allclose(model.weights, w, rtol=1e-7, atol=1e-10)
  np.testing.assert_allclose(model.mean, mean, rtol=1e-12)
  np.testing.assert_allclose(model.std, std, rtol=1e-12)

  # Test features are whitened with the *train* statistics.
  test_x = rng.normal(size=(200, d)) * 7.0 - 3.0
  a = np.hstack([(test_x - mean) / std, np.full((200, 1), 100.0)])
  np.testing.assert_allclose(fewshot.scores(model, test_x), a @ w,
                             rtol=1e-6, atol=1e-9)
  np.testing.assert_array_equal(
      fewshot.fit_predict(x, y, test_x, 4, reg), np.argmax(a @ w, axis=1))


def _clusters(seed, classes=10, per_class=60, per_class_test=100, d=32):
  """Train and test sets from the same well separated Gaussian clusters."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(classes, d)) * 4
  sets = []
  for per in (per_class, per_class_test):
    y = np.repeat(np.arange(classes), per)
    sets += [(centres[y] + rng.normal(size=(len(y), d))).astype(np.float32), y]
  return sets


def test_separable_clusters_are_classified():
  x, y, tx, ty = _clusters(seed=0)
  result = fewshot.evaluate(x, y, tx, ty, num_classes=10, shots=(1, 5),
                            seeds=(0, 1))
  assert result['fewshot_1shot_top1_mean'] > 0.9
  assert result['fewshot_5shot_top1_mean'] > 0.98


def test_shuffled_labels_give_chance():
  x, y, tx, ty = _clusters(seed=1, per_class_test=200)
  shuffled = np.random.default_rng(3).permutation(y)
  result = fewshot.evaluate(x, shuffled, tx, ty, num_classes=10, shots=(10,),
                            seeds=(0, 1, 2))
  assert result['fewshot_10shot_top1_mean'] < 0.2


def test_evaluate_averages_the_seeds():
  x, y, _, _ = _clusters(seed=2, d=8)
  rng = np.random.default_rng(4)
  x = x + rng.normal(size=x.shape) * 4  # Overlap, so draws differ.
  tx, ty = x[::3], y[::3]
  result = fewshot.evaluate(x, y, tx, ty, num_classes=10, shots=(1, 5),
                            seeds=(0, 1, 2))
  for k in (1, 5):
    accs = [np.mean(fewshot.fit_predict(
        x[i], y[i], tx, 10) == ty) for i in (
            fewshot.sample_shots(y, k, s) for s in (0, 1, 2))]
    assert result[f'fewshot_{k}shot_top1_mean'] == pytest.approx(
        np.mean(accs))
    assert result[f'fewshot_{k}shot_top1_std'] == pytest.approx(np.std(accs))
  assert result['fewshot_1shot_top1_std'] > 0
  assert result['fewshot_shots'] == [1, 5]
  assert result['fewshot_seeds'] == [0, 1, 2]
  assert result['fewshot_reg'] == 1024.0


def test_sample_shots_exact_deterministic_nested():
  y = np.random.default_rng(0).integers(0, 7, 500)
  idx = fewshot.sample_shots(y, 5, seed=3)
  assert len(idx) == 35 and len(set(idx.tolist())) == 35
  np.testing.assert_array_equal(np.bincount(y[idx], minlength=7), [5] * 7)
  np.testing.assert_array_equal(idx, fewshot.sample_shots(y, 5, seed=3))
  assert not np.array_equal(idx, fewshot.sample_shots(y, 5, seed=4))
  # As in big_vision, a seed's smaller draw is a prefix of its larger one.
  more = fewshot.sample_shots(y, 10, seed=3).reshape(7, 10)
  np.testing.assert_array_equal(idx.reshape(7, 5), more[:, :5])


def test_sample_shots_rejects_small_or_missing_classes():
  y = np.array([0] * 10 + [1] * 3 + [2] * 10)
  with pytest.raises(ValueError, match='Class 1 has 3 examples'):
    fewshot.sample_shots(y, 5, seed=0)
  with pytest.raises(ValueError, match='Class 3 has 0 examples'):
    fewshot.sample_shots(y, 2, seed=0, num_classes=4)
  with pytest.raises(ValueError, match='Class 1'):
    fewshot.evaluate(np.zeros((23, 2)), y, np.zeros((1, 2)), [0],
                     num_classes=3, shots=(5,))
