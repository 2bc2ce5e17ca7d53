"""Pixel baselines against numpy on hand-made images; results.json's
`baselines` and margin; the table's rows."""

import numpy as np
import pytest

from ssl_jax import eval_results
from ssl_jax import eval_table
from ssl_jax.evals import linear
from ssl_jax.evals import pixels


def _numpy_knn_top1(train, train_y, test, test_y, *, k, temperature,
                    num_classes):
  """DINO's weighted kNN written out (docs/methods.md#weighted-knn)."""
  unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
  sims = unit(test) @ unit(train).T
  scores = np.zeros((len(test), num_classes))
  for i, row in enumerate(sims):
    for j in np.argsort(-row)[:k]:
      scores[i, train_y[j]] += np.exp(row[j] / temperature)
  return float(np.mean(scores.argmax(1) == test_y))


def _images(rng, n):
  return (rng.integers(0, 256, (n, 2, 2, 3)).astype(np.uint8),
          rng.integers(0, 3, n).astype(np.int32))


MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def test_knn_baselines_equal_numpy():
  rng = np.random.default_rng(0)
  train, test = _images(rng, 60), _images(rng, 30)
  got = pixels.knn_baselines(train, test, mean=MEAN, std=STD, k=7,
                             temperature=0.1, num_classes=3)
  flat = lambda x: x.reshape(len(x), -1).astype(np.float64)
  # Per channel: the last axis of [N, H, W, C], as the network sees it.
  standard = lambda x: flat((x / 255.0 - np.array(MEAN)) / np.array(STD))
  for name, prepare in (('knn_raw_pixels', flat),
                        ('knn_standardised_pixels', standard)):
    want = _numpy_knn_top1(prepare(train[0]), train[1], prepare(test[0]),
                           test[1], k=7, temperature=0.1, num_classes=3)
    assert got[name]['top1'] == pytest.approx(want), name


def test_standardising_changes_the_neighbours():
  # Cosine kNN ignores scale, not offset: raw, the query (198, 206) points
  # nearer the class-1 item (100, 104) than the class-0 one (200, 210);
  # centred on 150 it sits beside the class-0 one.
  image = lambda a, b: np.array([[[[a], [b]]]], np.uint8)
  train = (np.concatenate([image(200, 210), image(100, 104)]),
           np.array([0, 1], np.int32))
  test = (image(198, 206), np.array([0], np.int32))
  got = pixels.knn_baselines(train, test, mean=(150 / 255,), std=(0.1,), k=1,
                             temperature=0.07, num_classes=2)
  assert got['knn_raw_pixels']['top1'] == 0.0
  assert got['knn_standardised_pixels']['top1'] == 1.0


def test_linear_baseline_is_the_probe_on_standardised_pixels():
  rng = np.random.default_rng(1)
  train, test = _images(rng, 200), _images(rng, 50)
  settings = dict(epochs=3, batch_size=64, lr=1e-2, weight_decay=0.0,
                  seed=0)
  got = pixels.linear_baseline(train, test, mean=MEAN, std=STD,
                               num_classes=3, **settings)
  standard = lambda x: ((x / 255.0 - np.array(MEAN)) / np.array(STD)).reshape(
      len(x), -1).astype(np.float32)
  want = linear.evaluate(standard(train[0]), train[1], standard(test[0]),
                         test[1], num_classes=3, **settings)
  assert got == {'linear_standardised_pixels': {'top1': want['top1'],
                                                'top5': want['top5']}}


def test_a_mean_per_channel_is_required():
  with pytest.raises(ValueError, match='one value per channel'):
    pixels.standardised(np.zeros((2, 2, 2, 3), np.uint8), (0.5,), (0.2,))


def _results(**extra):
  base = {'step': 5, 'method': 'simclr', 'dataset': 'd', 'eval_split': 'test',
          'feature_dim': 8, 'knn_top1': 0.80, 'knn_top5': 0.99,
          'knn_settings': {'k': 20, 'temperature': 0.07},
          'linear_top1': 0.86, 'linear_top5': 0.99,
          'linear_settings': {'epochs': 30, 'optimizer': 'adamw+cosine',
                              'lr': 0.001}}
  return base | pixels.flat({
      'knn_raw_pixels': {'top1': 0.79, 'top5': 0.99},
      'knn_standardised_pixels': {'top1': 0.82, 'top5': 0.99},
      'linear_standardised_pixels': {'top1': 0.84, 'top5': 0.99}}) | extra


def test_margin_is_over_the_best_baseline_of_any_protocol():
  got = eval_results.with_baselines(_results())
  assert set(got['baselines']) == set(eval_results.PIXEL_BASELINES)
  assert got['baselines']['knn_raw_pixels'] == {
      'top1': 0.79, 'top5': 0.99, 'protocol': 'knn',
      'label': 'kNN (raw pixels)'}
  assert got['margin_over_best_pixel_baseline'] == {
      'best_baseline': 'linear_standardised_pixels',
      'best_baseline_top1': 0.84, 'units': 'percentage points',
      'knn_top1': -4.0, 'linear_top1': 2.0}
  table = eval_table.format_table(got)
  for row in ('kNN (SSL features)', 'kNN (raw pixels)  ',
              'kNN (standardised pixels)', 'linear probe (SSL features)',
              'linear probe (standardised pixels)'):
    assert row in table, row
  assert ('best pixel baseline, linear probe (standardised pixels) 0.8400: '
          'kNN -4.00 points, linear +2.00 points (top-1; they do not beat '
          'it).') in table


def test_no_labels_no_baselines_and_merges_recompute_them():
  unlabelled = {'step': 1, 'diagnostics': {'rankme': 3.0}}
  assert eval_results.with_baselines(unlabelled) == unlabelled
  # A later kNN-only evaluation replaces the kNN keys; the linear baseline
  # is kept and the margin is derived again from the merged keys.
  old = eval_results.with_baselines(_results())
  new = {k: v for k, v in _results(knn_top1=0.90).items()
         if eval_results.protocol_of(k) != 'linear'}
  new['protocols'] = {'knn': {'step': 5}}
  merged = eval_results.with_baselines(eval_results.merge(old, new))
  assert merged['margin_over_best_pixel_baseline']['knn_top1'] == 6.0
  assert merged['baselines']['linear_standardised_pixels']['top1'] == 0.84
