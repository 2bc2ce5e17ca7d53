"""Frozen-feature extraction: one jitted forward over the mesh per batch."""

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from ssl_jax import parallel
from ssl_jax.data import pipeline


def extract(embed_fn, state, builder, split: str, *, mesh,
            batch_size: int, image_size: int, arrays=None):
  """Returns (features [N, F] float32, labels [N] int32) for a whole split.

  Args:
    embed_fn: `(state, images uint8) -> features` (step.make_embed_fn).
    state: the TrainState (replicated or sharded over the mesh).
    builder: prepared tfds builder.
    split: split name.
    mesh: the device mesh; batches are split over its data axes.
    batch_size: global batch (multiple of the device count).
    image_size: evaluation side.
    arrays: optional in-memory (images, labels) of the split.
  """
  shard = pipeline.Shard(jax.process_index(), jax.process_count())
  batch_sharding = NamedSharding(mesh, P(parallel.DATA_AXES))
  jitted = jax.jit(embed_fn, out_shardings=NamedSharding(mesh, P()))
  local_batch = batch_size // jax.process_count()
  total = len(arrays[0]) if arrays is not None else (
      builder.info.splits[split].num_examples)
  # Every process runs as many batches as the largest shard needs.
  num_batches = -(-(-(-total // jax.process_count())) // local_batch)
  features, labels = [], []
  for images, batch_labels, valid in pipeline.eval_batches(
      builder, split, batch_size=local_batch, image_size=image_size,
      shard=shard, arrays=arrays, num_batches=num_batches):
    images = jax.make_array_from_process_local_data(batch_sharding, images)
    out = np.asarray(jitted(state, images))
    if jax.process_count() > 1:  # Rows of every process, in process order.
      valid = multihost_utils.process_allgather(valid, tiled=True)
      batch_labels = multihost_utils.process_allgather(batch_labels,
                                                       tiled=True)
    features.append(out[valid])
    labels.append(batch_labels[valid])
  return np.concatenate(features), np.concatenate(labels).astype(np.int32)


def eval_view_images(builder, split: str, *, image_size: int, arrays=None):
  """uint8 evaluation views [N, S, S, C] and labels of a whole split, in
  memory (pixel baselines, fine-tuning)."""
  images, labels = [], []
  for batch, batch_labels, valid in pipeline.eval_batches(
      builder, split, batch_size=4096, image_size=image_size, arrays=arrays):
    images.append(batch[valid])
    labels.append(batch_labels[valid])
  return np.concatenate(images), np.concatenate(labels).astype(np.int32)

