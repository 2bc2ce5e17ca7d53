"""Training input: two views per image, determinism, sharding, resume."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_jax.data import crops
from ssl_jax.data import pipeline
from ssl_jax.data import sources
from ssl_jax.data import views

VIEWS = (views.ViewSpec(crop_size=20, crop_scale=(0.2, 1.0)),
         views.ViewSpec(crop_size=16, crop_scale=(0.2, 1.0)))


def _arrays(n=64):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (n, 28, 28, 1)).astype(np.uint8)
  return images, np.arange(n, dtype=np.int32) % 10


def _batches(start=0, total=6, shard=pipeline.Shard(), batch=16, seed=0):
  images, labels = _arrays()
  ds = pipeline.in_memory_train(images, labels, VIEWS, global_batch=batch,
                                seed=seed, start_step=start,
                                total_steps=total, shard=shard)
  return list(ds.as_numpy_iterator())


def test_two_different_views_with_shapes_and_dtypes():
  batch = _batches(total=1)[0]
  assert set(batch) == {'view0', 'view1', 'label', 'seed_id'}
  assert batch['view0'].shape == (16, 20, 20, 1)
  assert batch['view1'].shape == (16, 16, 16, 1)
  assert batch['view0'].dtype == np.uint8 and batch['label'].dtype == np.int32
  np.testing.assert_array_equal(batch['seed_id'], np.arange(16))
  # Same image, two independent crops: equal-size views must differ.
  same_size = _batches(total=1)[0]
  np.testing.assert_array_equal(same_size['view0'], batch['view0'])
  crop = lambda seed: crops.random_resized_crop(
      _arrays()[0][:4], tf.constant(seed, tf.int64), 20, (0.2, 1.), (.75, 1.3))
  assert not np.array_equal(crop([0, 1]).numpy(), crop([0, 2]).numpy())


def test_each_epoch_is_a_permutation_and_epochs_differ():
  # 64 examples / 16 = 4 steps per epoch.
  batches = _batches(total=8)
  epoch0 = np.concatenate([b['label'] for b in batches[:4]])
  images, labels = _arrays()
  del images
  # Labels are index % 10, so an epoch holds each label as often as the set.
  np.testing.assert_array_equal(np.bincount(epoch0, minlength=10),
                                np.bincount(labels, minlength=10))
  epoch1 = np.concatenate([b['label'] for b in batches[4:]])
  assert not np.array_equal(epoch0, epoch1)


def test_resuming_at_step_s_gives_the_same_stream():
  full = _batches(total=7)
  resumed = _batches(start=3, total=7)
  for a, b in zip(full[3:], resumed):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def test_process_shards_concatenate_to_the_single_process_batch():
  whole = _batches(total=2)
  parts = [_batches(total=2, shard=pipeline.Shard(i, 2)) for i in range(2)]
  for step in range(2):
    for key in whole[step]:
      np.testing.assert_array_equal(
          whole[step][key],
          np.concatenate([parts[0][step][key], parts[1][step][key]]))


def test_seed_changes_the_stream():
  a, b = _batches(total=1)[0], _batches(total=1, seed=1)[0]
  assert not np.array_equal(a['view0'], b['view0'])


def test_split_smaller_than_a_batch_is_an_error():
  images, labels = _arrays(8)
  with pytest.raises(sources.DatasetError, match='fewer than one global'):
    pipeline.in_memory_train(images, labels, VIEWS, global_batch=16, seed=0,
                             start_step=0, total_steps=1)


def test_eval_batches_are_padded_and_masked():
  images, labels = _arrays(10)
  out = list(pipeline.eval_batches(None, 'test', batch_size=4,
                                   image_size=28, arrays=(images, labels)))
  assert [int(m.sum()) for _, _, m in out] == [4, 4, 2]
  got = np.concatenate([b[m] for b, _, m in out])
  np.testing.assert_array_equal(got, images)


def test_multi_crop_views_from_config():
  from ssl_jax import config_lib  # pylint: disable=g-import-not-at-top
  aug = config_lib.base_config().aug
  aug.update(crop_size=28, local_crops=3, local_crop_size=12,
             blur_p=(1.0, 0.1), solarize_p=(0.0, 0.2), local_blur_p=0.5)
  specs = views.views_from_config(aug, num_views=2)
  assert [s.crop_size for s in specs] == [28, 28, 12, 12, 12]
  assert [s.blur_p for s in specs] == [1.0, 0.1, 0.5, 0.5, 0.5]
  assert [s.solarize_p for s in specs] == [0.0, 0.2, 0.0, 0.0, 0.0]
  assert specs[2].crop_scale == (0.05, 0.4)
  # The pipeline crops each view at its own size, in one batch.
  images, labels = _arrays()
  batch = next(pipeline.in_memory_train(
      images, labels, specs, global_batch=16, seed=0, start_step=0,
      total_steps=1).as_numpy_iterator())
  assert batch['view4'].shape == (16, 12, 12, 1)
  assert batch['view1'].shape == (16, 28, 28, 1)
