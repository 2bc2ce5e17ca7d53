"""Weighted k-NN: docs/methods.md#weighted-knn example and constructed sets."""

import numpy as np

from ssl_jax.evals import knn


def test_methods_card_example():
  train = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], np.float32)
  labels = np.array([0, 1, 1, 0])
  query = np.array([[0.6, 0.8]], np.float32)
  scores = knn.knn_scores(train, labels, query, k=3, temperature=0.07,
                          num_classes=2)
  np.testing.assert_allclose(scores[0, 0], np.exp(0.6 / 0.07), rtol=1e-4)
  np.testing.assert_allclose(scores[0, 1],
                             np.exp(0.96 / 0.07) + np.exp(0.8 / 0.07),
                             rtol=1e-4)
  assert scores[0].argmax() == 1


def test_clustered_features_are_classified_and_shuffled_are_not():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(5, 16)) * 5
  labels = rng.integers(0, 5, 2000)
  feats = centres[labels] + rng.normal(size=(2000, 16))
  result = knn.evaluate(feats[:1500], labels[:1500], feats[1500:],
                        labels[1500:], k=20, num_classes=5)
  assert result['top1'] > 0.98
  shuffled = knn.evaluate(feats[:1500], rng.permutation(labels[:1500]),
                          feats[1500:], labels[1500:], k=20, num_classes=5)
  assert shuffled['top1'] < 0.35


def test_k_larger_than_bank_is_clamped():
  feats = np.eye(3, dtype=np.float32)
  result = knn.evaluate(feats, np.arange(3), feats, np.arange(3), k=200,
                        num_classes=3)
  assert result['k'] == 3 and result['top1'] == 1.0
