"""Image files as a training source: `config.data.name='folder'` or `'packed'`.

What train.py needs from a dataset that is not a tfds one: its SplitInfo
(size, channels, classes), the training stream (image_stream.py), a
fingerprint for the workdir (data_record.py) and, for evaluation, the
images centre-cropped in memory. A folder (folder.py) reads each file by
its path; a packed set (pack.py) reads the same bytes from TFRecord shards
by offset, so both give the same stream.
"""

import numpy as np
import tensorflow as tf
from absl import logging

from ssl_jax.data import crops
from ssl_jax.data import folder
from ssl_jax.data import image_stream
from ssl_jax.data import pipeline
from ssl_jax.data import sources

NAMES = ('folder', 'packed')


def is_image_source(data_config) -> bool:
  return data_config.get('name') in NAMES


class ImageSource:
  """Examples 0..N-1, each encoded image bytes and an optional label."""
  name = 'folder'

  def __init__(self, index: folder.FolderIndex):
    self.index = index
    self._paths = index.paths()

  # What every source defines; the packed one (pack.py) reads shards.
  @property
  def num_examples(self) -> int:
    return len(self._paths)

  @property
  def labels(self) -> np.ndarray | None:
    labels = self.index.labels
    return None if labels is None else np.asarray(labels, np.int32)

  @property
  def num_classes(self) -> int:
    return self.index.num_classes

  @property
  def class_names(self):
    return list(self.index.class_names)

  @property
  def fingerprint(self) -> str:
    return self.index.fingerprint

  def describe(self, i: int) -> str:
    return self._paths[i]

  def summary(self) -> str:
    return self.index.summary()

  def load_fn(self):
    paths = tf.constant(self._paths)
    return lambda i: tf.io.read_file(tf.gather(paths, i))

  # Shared by every source.
  def split_info(self, channels: int) -> sources.SplitInfo:
    return sources.SplitInfo(
        name=self.name, split='train', num_examples=self.num_examples,
        image_shape=(None, None, channels), num_classes=self.num_classes)

  def train(self, views, *, channels, global_batch, seed, start_step,
            total_steps, shard=pipeline.Shard(), prefetch=2):
    labels = self.labels
    if labels is None:  # The batch keeps its structure; the probe is off.
      labels = np.zeros(self.num_examples, np.int32)
    return image_stream.train(
        self.load_fn(), self.num_examples, labels, views, channels=channels,
        global_batch=global_batch, seed=seed, start_step=start_step,
        total_steps=total_steps, shard=shard, prefetch=prefetch)

  def bad_files(self, batches, max_fraction: float) -> image_stream.BadFiles:
    return image_stream.BadFiles(batches, self.describe, self.num_examples,
                                 max_fraction)

  def eval_arrays(self, image_size: int, channels: int, indices=None):
    """(images uint8 [n, S, S, C], labels int32 [n]) of the examples
    `indices` (default all), centre-cropped; unreadable ones left out
    (logged). Labels are -1 for an unlabelled source."""
    indices = np.arange(self.num_examples) if indices is None else indices
    labels = self.labels
    labels = (np.full(self.num_examples, -1, np.int32) if labels is None
              else labels)
    load = self.load_fn()

    def one(i):
      image = image_stream.decode(load(i), channels)
      return (crops.center_crop_resize(image[None], image_size)[0],
              tf.gather(labels, i))

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64))
    ds = ds.map(one, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True).ignore_errors().batch(256)
    images, kept = [], []
    for x, y in ds.as_numpy_iterator():
      images.append(x)
      kept.append(y)
    if not images:
      raise folder.DatasetError(f'None of the {len(indices)} images of '
                                 f'{self.summary()} could be decoded.')
    images, kept = np.concatenate(images), np.concatenate(kept)
    if len(kept) < len(indices):
      logging.warning('%d of %d images could not be decoded and are left '
                      'out of evaluation.', len(indices) - len(kept),
                      len(indices))
    return images, kept


def open_source(data_config, key: str = 'data'):
  """The folder or packed set `config.<key>` names (DatasetError if it
  cannot be read: missing path, no images, bad labels)."""
  if data_config.name == 'packed':
    from ssl_jax.data import pack  # pylint: disable=g-import-not-at-top
    return pack.PackedSource.open(data_config.path, key)
  index = folder.index(data_config.get('path'), data_config.get('labels',
                                                                'none'),
                       data_config.get('labels_csv'), key)
  return ImageSource(index)
