"""Training batches from image files of any size (a folder or a packed set).

The stream is a pure function of (seed, step), as for the in-memory
datasets (pipeline.py): batch `step` holds positions `within * B ...` of a
seeded permutation of the N examples for epoch `step // (N // B)`; each
process reads only its rows of that global batch, and each row's crops are
keyed by its position in the global batch, so any number of processes reads
disjoint parts of the same global batches, and resuming at step s starts the
stream at s with nothing to skip.

Decoding happens here on the host (the images differ in size; the random
resized crop needs the full image); `tf.io.decode_image` handles JPEG, PNG,
WebP, BMP and GIF (first frame), and grayscale, grey+alpha, RGB, RGBA,
palette and 16-bit images are converted to the configured channels.

An unreadable file (truncated, zero bytes, not an image) does not stop the
run or change the stream's shape: the row takes the next candidate of a
fixed list (the examples one, two, ... global batches further on in the same
epoch), so the stream stays a function of (seed, step). The batch carries
`skipped` and `tried` so that `BadFiles` (on the host, outside the jitted
step) can log each failed path once, count them for the metrics, and stop
the run when more than `config.data.max_bad_fraction` of the files fail.
"""

import tensorflow as tf
from absl import logging

from ssl_jax.data import folder
from ssl_jax.data import pipeline

# Candidates per row: the row's own example, then RETRIES - 1 others.
RETRIES = 4
_PERMUTATION, _CROPS = 0, 1  # The same stream ids as pipeline.py's.
# Keys of a batch that BadFiles removes before the step sees it.
BOOKKEEPING = ('skipped', 'tried')


def decode(contents, channels: int):
  """Encoded bytes -> uint8 [H, W, channels]; raises on a bad image."""
  image = tf.io.decode_image(contents, channels=0, dtype=tf.uint8,
                             expand_animations=False)
  native = tf.shape(image)[-1]
  # Grey+alpha (2) and RGBA (4): drop alpha; the colour planes remain.
  image = tf.cond(native % 2 == 0, lambda: image[..., :native - 1],
                  lambda: image)
  if channels == 3:
    return tf.cond(tf.shape(image)[-1] == 1,
                   lambda: tf.image.grayscale_to_rgb(image),
                   lambda: image)
  if channels == 1:
    return tf.cond(
        tf.shape(image)[-1] == 3,
        lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(
            tf.cast(image, tf.float32))), tf.uint8),
        lambda: image)
  raise ValueError(f'channels={channels}: images are read as 1 or 3.')


def train(load, num: int, labels, views, *, channels: int, global_batch: int,
          seed: int, start_step: int, total_steps: int,
          shard: pipeline.Shard = pipeline.Shard(),
          prefetch: int = 2) -> tf.data.Dataset:
  """Training batches of this process, for steps start_step..total_steps-1.

  Args:
    load: example index (int32 scalar tensor) -> encoded image bytes.
    num: number of examples.
    labels: int32 [num] (zeros when the data has none).
  """
  per_epoch = pipeline.steps_per_epoch(num, global_batch)
  local = global_batch // shard.count
  first = shard.index * local
  labels_t = tf.constant(labels, tf.int32)
  base = pipeline._base_seed(seed)  # pylint: disable=protected-access
  fold = pipeline._fold  # pylint: disable=protected-access

  def rows(step):
    epoch, within = step // per_epoch, step % per_epoch
    order = tf.random.experimental.stateless_shuffle(
        tf.range(num), fold(base, _PERMUTATION, epoch))
    positions = tf.range(first, first + local, dtype=tf.int64)
    offsets = (within * global_batch + positions[:, None]
               + global_batch * tf.range(RETRIES, dtype=tf.int64)[None, :])
    tried = tf.gather(order, offsets % num)
    steps = tf.fill([local], step)
    return tf.data.Dataset.from_tensor_slices((steps, positions, tried))

  def first_readable(step, position, tried):
    # The first candidate that decodes; k = how many failed before it.
    candidates = tf.data.Dataset.from_tensor_slices(
        (tf.range(RETRIES), tried))
    decoded = candidates.map(
        lambda k, i: (k, i, decode(load(i), channels))).ignore_errors()
    none = tf.data.Dataset.from_tensors(  # All failed: BadFiles stops.
        (RETRIES, tried[0], tf.zeros([1, 1, channels], tf.uint8)))
    return decoded.concatenate(none).take(1).map(
        lambda k, i, image: (step, position, tried, k, i, image))

  def crop(step, position, tried, k, i, image):
    shape = tf.shape(image)
    out = pipeline.crop_views(
        image[None], shape[0], shape[1],
        fold(base, _CROPS, step, position), views, (0, 1), 1)
    out = {name: v[0] for name, v in out.items()}
    out.update(label=tf.gather(labels_t, i),
               seed_id=tf.cast(position, tf.int32),
               skipped=k, tried=tried)
    return out

  ds = tf.data.Dataset.range(start_step, total_steps).flat_map(rows)
  ds = ds.interleave(first_readable, cycle_length=16, block_length=1,
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(local, drop_remainder=True)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options).prefetch(prefetch)


class BadFiles:
  """Wraps a numpy batch iterator: logs and counts unreadable files.

  Each failed file is logged once, with its path; `count` goes into the
  training metrics (`skipped_images`); more than `max_fraction` of all
  files failing is a DatasetError naming the count and some paths.
  """

  def __init__(self, batches, describe, num: int, max_fraction: float):
    self._batches, self._describe = batches, describe
    self._num, self._max = num, max_fraction
    self.bad = {}  # Example index -> path, in the order found.

  @property
  def count(self) -> int:
    return len(self.bad)

  def __iter__(self):
    return self

  def __next__(self):
    batch = next(self._batches)
    skipped, tried = (batch.pop(k) for k in BOOKKEEPING)
    for row in skipped.nonzero()[0]:
      for i in tried[row, :skipped[row]]:
        if int(i) not in self.bad:
          self.bad[int(i)] = self._describe(int(i))
          logging.warning('Skipped an unreadable image: %s',
                          self.bad[int(i)])
    shown = ', '.join(list(self.bad.values())[:5]) + (
        ', ...' if self.count > 5 else '')
    if (skipped == RETRIES).any():
      raise folder.DatasetError(
          f'{RETRIES} images in a row could not be decoded ({shown}): is '
          'the data readable? Remove or repair the files.')
    if self.count > self._max * self._num:
      raise folder.DatasetError(
          f'{self.count} of {self._num} images could not be decoded, more '
          f'than config.data.max_bad_fraction={self._max} allows: {shown}. '
          'Remove or repair them, or raise config.data.max_bad_fraction.')
    return batch
