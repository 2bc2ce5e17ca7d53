"""Linear probe: separable features -> ~100%, shuffled labels -> chance."""

import numpy as np

from ssl_jax.evals import linear


def _data(seed=0, n=3000, d=20, classes=4):
  rng = np.random.default_rng(seed)
  w = rng.normal(size=(d, classes))
  x = rng.normal(size=(n, d)).astype(np.float32)
  return x, np.argmax(x @ w, axis=1)


def test_linearly_separable_features_are_learned():
  x, y = _data()
  result = linear.evaluate(x[:2000], y[:2000], x[2000:], y[2000:],
                           num_classes=4, epochs=40, batch_size=256, lr=1e-2)
  assert result['top1'] > 0.95


def test_shuffled_labels_give_chance():
  x, y = _data(seed=1)
  rng = np.random.default_rng(2)
  result = linear.evaluate(x[:2000], rng.permutation(y[:2000]), x[2000:],
                           y[2000:], num_classes=4, epochs=20,
                           batch_size=256, lr=1e-2)
  assert result['top1'] < 0.4
