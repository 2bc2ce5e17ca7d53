"""Prepares small random stand-ins for registered tfds datasets (tests only).

`prepare_fake('cifar10', data_dir)` subclasses tfds's own builder for that
name and replaces only its example generator, so the result is laid out and
read exactly like the real prepared dataset (same name, version, features,
file format); only the pixels are random. This lets the CIFAR-10 and ImageNet
configs run their smoke steps through the real tfds reading path offline.
"""

import numpy as np
import tensorflow_datasets as tfds


def _random_value(feature, rng, image_sizes):
  if isinstance(feature, tfds.features.Image):
    h, w, c = feature.shape
    if h is None:
      h, w = image_sizes[rng.integers(len(image_sizes))]
    return rng.integers(0, 256, (h, w, c)).astype(np.uint8)
  if isinstance(feature, tfds.features.ClassLabel):
    return int(rng.integers(feature.num_classes))
  if isinstance(feature, tfds.features.Text):
    return f'fake_{rng.integers(1 << 30)}'
  raise NotImplementedError(f'No fake value for {type(feature).__name__}.')


def prepare_fake(name: str, data_dir: str, splits: dict[str, int],
                 image_sizes=((40, 56), (64, 48)), seed: int = 0) -> None:
  """Writes a prepared `name` with `splits[split]` random examples each."""
  base = tfds.builder_cls(name)

  class Fake(base, skip_registration=True):  # pylint: disable=missing-class-docstring

    def _split_generators(self, dl_manager):
      del dl_manager
      return {split: self._fake_examples(split, n)
              for split, n in splits.items()}

    def _fake_examples(self, split, n):
      rng = np.random.default_rng([seed, len(split)])
      features = self.info.features
      for i in range(n):
        yield f'{split}_{i}', {key: _random_value(f, rng, image_sizes)
                               for key, f in features.items()}

  Fake.name = base.name
  Fake(data_dir=data_dir).download_and_prepare()
