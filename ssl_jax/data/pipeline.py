"""tf.data input pipelines: training views and evaluation batches.

Training batches are dicts of host arrays for this process's rows of the
global batch:
  `view{i}`: uint8 [b, S_i, S_i, C] random resized crops (host),
  `label`: int32 [b], `seed_id`: int32 [b] position in the global batch
  (keys the device augmentation, see augment.py).

The stream is a pure function of (seed, step): batch `step` of epoch
`step // steps_per_epoch` holds the examples of a seeded per-epoch permutation
(in-memory datasets) or of a seeded shuffled stream (streamed datasets). A run
that resumes at step s rebuilds the stream from s, so no example is repeated or
skipped. In memory, the global batch and its crops are drawn before the
per-process slice, so any number of processes sees the same global batch.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from ssl_jax.data import crops
from ssl_jax.data import sources

# Stream ids for stateless seeds, so permutations and crops never share one.
_PERMUTATION, _CROPS = 0, 1


@dataclasses.dataclass(frozen=True)
class Shard:
  """Which rows of the global batch this process reads."""
  index: int = 0
  count: int = 1


def _fold(seed, *values):
  for v in values:
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(v, tf.int64))
  return seed


def _base_seed(seed: int):
  return tf.constant([seed, 0], tf.int64)


def steps_per_epoch(num_examples: int, global_batch: int) -> int:
  if num_examples < global_batch:
    raise sources.DatasetError(
        f'The split has {num_examples} examples, fewer than one global batch '
        f'({global_batch}).')
  return num_examples // global_batch


def crop_views(images, heights, widths, seed, views, rows, total):
  """Crops every view; boxes are drawn for `total` rows, `rows` kept."""
  out = {}
  for v, view in enumerate(views):
    top, left, h, w = crops.sample_boxes(
        _fold(seed, v), total, heights, widths, view.crop_scale,
        view.crop_ratio)
    box = [t[rows[0]:rows[1]] for t in (top, left, h, w)]
    resized = crops.crop_and_resize(images, *box, view.crop_size,
                                    view.interpolation)
    out[f'view{v}'] = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255),
                              tf.uint8)
  return out


def in_memory_train(images: np.ndarray, labels: np.ndarray, views, *,
                    global_batch: int, seed: int, start_step: int,
                    total_steps: int, shard: Shard = Shard(),
                    prefetch: int = 2) -> tf.data.Dataset:
  """Training batches from arrays held in RAM (small datasets)."""
  num = len(images)
  per_epoch = steps_per_epoch(num, global_batch)
  local = global_batch // shard.count
  rows = (shard.index * local, (shard.index + 1) * local)
  images_t, labels_t = tf.constant(images), tf.constant(labels)
  height, width = images.shape[1], images.shape[2]
  base = _base_seed(seed)

  def make_batch(step):
    epoch, within = step // per_epoch, step % per_epoch
    order = tf.random.experimental.stateless_shuffle(
        tf.range(num), _fold(base, _PERMUTATION, epoch))
    start = within * global_batch
    index = order[start + rows[0]:start + rows[1]]
    batch = crop_views(tf.gather(images_t, index), height, width,
                        _fold(base, _CROPS, step), views, rows,
                        global_batch)
    batch['label'] = tf.gather(labels_t, index)
    batch['seed_id'] = tf.range(rows[0], rows[1], dtype=tf.int32)
    return batch

  ds = tf.data.Dataset.range(start_step, total_steps)
  ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  return ds.prefetch(prefetch)


def streamed_train(builder, split: str, views, *, global_batch: int,
                   seed: int, start_step: int, shuffle_buffer: int,
                   shard: Shard = Shard(),
                   prefetch: int = 2) -> tf.data.Dataset:
  """Training batches streamed from a prepared tfds dataset (ImageNet)."""
  local = global_batch // shard.count
  local_split = tfds.even_splits(split, n=shard.count)[shard.index]
  read_config = tfds.ReadConfig(shuffle_seed=seed, shuffle_reshuffle_each_iteration=True)
  ds = builder.as_dataset(split=local_split, shuffle_files=True,
                          read_config=read_config,
                          decoders={'image': tfds.decode.SkipDecoding()})
  ds = ds.repeat().shuffle(shuffle_buffer, seed=seed,
                           reshuffle_each_iteration=True)
  # Skip before decoding: resuming costs reading, not decoding, the records.
  ds = ds.skip(start_step * local).enumerate(start_step * local)
  image_feature = builder.info.features['image']
  base = _fold(_base_seed(seed), _CROPS, shard.index)

  def make_example(position, example):
    image = image_feature.decode_example(example['image'])
    shape = tf.shape(image)
    out = crop_views(image[None], shape[0], shape[1],
                      _fold(base, position), views, (0, 1), 1)
    out = {k: v[0] for k, v in out.items()}
    out['label'] = tf.cast(example['label'], tf.int32)
    return out

  ds = ds.map(make_example, num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  ds = ds.batch(local, drop_remainder=True)
  seed_ids = tf.range(shard.index * local, (shard.index + 1) * local,
                      dtype=tf.int32)
  ds = ds.map(lambda b: {**b, 'seed_id': seed_ids})
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options).prefetch(prefetch)


def eval_batches(builder, split: str, *, batch_size: int, image_size: int,
                 shard: Shard = Shard(), arrays=None,
                 num_batches: int | None = None):
  """Yields (images uint8 [batch, S, S, C], labels, valid mask) numpy batches.

  The split is read in order; the last batch is padded (mask False) so every
  batch has the same shape and the feature extractor compiles once.

  Args:
    builder: a prepared tfds builder (used when `arrays` is None).
    split: split name.
    batch_size: examples per batch for this process.
    image_size: evaluation side (largest centred square, resized).
    shard: this process's part of the split.
    arrays: optional (images, labels) already in memory.
    num_batches: pad the stream with empty (all-masked) batches up to this
      count, so that every process runs the same number of steps even when
      the split does not divide evenly (collectives would hang otherwise).
  """
  if arrays is not None:
    images, labels = arrays
    local = np.array_split(np.arange(len(images)), shard.count)[shard.index]
    ds = tf.data.Dataset.from_tensor_slices(
        {'image': images[local], 'label': labels[local]})
  else:
    local_split = tfds.even_splits(split, n=shard.count)[shard.index]
    ds = builder.as_dataset(split=local_split, shuffle_files=False)
  resize = lambda b: {'image': crops.center_crop_resize(b['image'],
                                                        image_size),
                      'label': tf.cast(b['label'], tf.int32)}
  if arrays is not None or None not in builder.info.features['image'].shape:
    ds = ds.batch(batch_size).map(resize)
  else:  # Images of varying size: resize one at a time, then batch.
    ds = ds.map(lambda e: {k: v[0] for k, v in resize(
        {'image': e['image'][None], 'label': e['label'][None]}).items()})
    ds = ds.batch(batch_size)
  count, shape = 0, None
  for batch in tfds.as_numpy(ds.prefetch(2)):
    n = len(batch['label'])
    pad = batch_size - n
    images = np.pad(batch['image'], ((0, pad), (0, 0), (0, 0), (0, 0)))
    labels = np.pad(batch['label'], (0, pad))
    shape, count = images.shape, count + 1
    yield images, labels, np.arange(batch_size) < n
  while num_batches is not None and count < num_batches and shape:
    count += 1
    yield (np.zeros(shape, np.uint8), np.zeros(batch_size, np.int32),
           np.zeros(batch_size, bool))
