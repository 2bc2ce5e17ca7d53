"""Pixel baselines: the same protocols on the evaluation view's pixels.

An SSL feature is worth something only if it beats what the same
classifier does on the pixels themselves, so evaluate.py runs, next to the
protocols on features:

  knn_raw_pixels             the weighted kNN on the flattened pixels / 255;
  knn_standardised_pixels    the same kNN on pixels standardised per channel
                             with config.data.mean and std: exactly the
                             input the network sees (augment.eval_preprocess).
                             Cosine kNN is scale-invariant, so raw pixels in
                             [0, 1] or [0, 255] score the same, but centring
                             changes the angles; on Fashion-MNIST it is the
                             stronger of the two;
  linear_standardised_pixels the linear probe (evals/linear.py) on those
                             standardised pixels, with the features' probe
                             settings (it standardises each input dimension
                             again, as it does features).

Each returns {'top1', 'top5'}; evaluate.py stores them flat, under the
prefixes of eval_results.PIXEL_BASELINES, and eval_results.with_baselines
sums them up.
"""

import jax.numpy as jnp
import numpy as np

from ssl_jax import eval_results
from ssl_jax.data import augment
from ssl_jax.evals import knn
from ssl_jax.evals import linear


def raw(images: np.ndarray) -> np.ndarray:
  """uint8 [N, H, W, C] -> float32 [N, H*W*C] in [0, 1]."""
  return images.reshape(len(images), -1).astype(np.float32) / 255.0


def standardised(images: np.ndarray, mean, std) -> np.ndarray:
  """uint8 [N, H, W, C] -> float32 [N, H*W*C], (x / 255 - mean) / std per
  channel: the network's evaluation input, flattened."""
  if len(mean) != images.shape[-1] or len(std) != images.shape[-1]:
    raise ValueError(f'mean {tuple(mean)} and std {tuple(std)} need one '
                     f'value per channel; the images have {images.shape[-1]}.')
  x = augment.eval_preprocess(jnp.asarray(images), mean, std)
  return np.asarray(x).reshape(len(images), -1)


def knn_baselines(train, test, *, mean, std, k: int, temperature: float,
                  num_classes: int) -> dict:
  """kNN on raw and on standardised pixels.

  Args:
    train: (uint8 images [N, H, W, C], labels [N]) of the train split.
    test: the same for the evaluation split.
    mean, std: per-channel normalisation (config.data.mean, .std).
    k, temperature, num_classes: the features' kNN settings.
  """
  run = lambda f: knn.evaluate(f(train[0]), train[1], f(test[0]), test[1],
                               k=k, temperature=temperature,
                               num_classes=num_classes)
  scaled = lambda images: standardised(images, mean, std)
  return {name: _top(run(f)) for name, f in (
      ('knn_raw_pixels', raw), ('knn_standardised_pixels', scaled))}


def linear_baseline(train, test, *, mean, std, num_classes: int,
                    **probe_settings) -> dict:
  """The linear probe on standardised pixels (`probe_settings`: the
  features' epochs, batch_size, lr, weight_decay, seed)."""
  r = linear.evaluate(standardised(train[0], mean, std), train[1],
                      standardised(test[0], mean, std), test[1],
                      num_classes=num_classes, **probe_settings)
  return {'linear_standardised_pixels': _top(r)}


def flat(baselines: dict) -> dict:
  """{'knn_raw_pixels': {'top1': a, ...}} -> {'raw_pixel_knn_top1': a, ...}."""
  return {f'{eval_results.PIXEL_BASELINES[name][1]}{k}': v for name, r in baselines.items()
          for k, v in r.items()}


def _top(r: dict) -> dict:
  return {'top1': r['top1'], 'top5': r['top5']}
