"""Host random resized crops: torchvision semantics, determinism."""

import numpy as np
import tensorflow as tf

from ssl_jax.data import crops

SEED = tf.constant([3, 4], tf.int64)


def _images(n=6, size=28):
  rng = np.random.default_rng(0)
  return rng.integers(0, 256, (n, size, size, 1)).astype(np.uint8)


def test_boxes_lie_inside_the_image_with_scale_and_ratio():
  top, left, h, w = [t.numpy() for t in crops.sample_boxes(
      SEED, 500, 28, 28, (0.08, 1.0), (3 / 4, 4 / 3))]
  assert np.all(top >= 0) and np.all(left >= 0)
  assert np.all(top + h <= 28) and np.all(left + w <= 28)
  area = h * w / 28**2
  # Rounding to whole pixels moves area and ratio a little at 28 px.
  assert area.min() > 0.05 and area.max() <= 1.0
  ratio = w / h
  assert ratio.min() > 0.6 and ratio.max() < 1.6
  assert len(np.unique(top)) > 5  # Offsets really vary.


def test_fallback_is_a_centred_crop():
  # Ratios far from 1 never fit a square image in 10 tries: centre crop.
  top, left, h, w = [t.numpy() for t in crops.sample_boxes(
      SEED, 20, 28, 28, (0.99, 1.0), (3.0, 4.0))]
  np.testing.assert_array_equal(w, 28)
  np.testing.assert_array_equal(h, np.round(28 / 3.0))
  np.testing.assert_array_equal(top, np.floor((28 - np.round(28 / 3)) / 2))


def test_full_crop_at_native_size_is_identity():
  images = _images()
  out = crops.random_resized_crop(images, SEED, 28, (1.0, 1.0), (1.0, 1.0))
  np.testing.assert_array_equal(out.numpy(), images)


def test_half_pixel_resize_of_a_known_window():
  # A 2x2 window at (1, 1) upsampled to 4x4: output pixel i samples the
  # window at 1 + (i + 0.5) / 2 - 0.5, i.e. 1.25 and 1.75 for i = 1, 2.
  image = np.zeros((1, 4, 4, 1), np.float32)
  image[0, 1:3, 1:3, 0] = [[0, 40], [80, 120]]
  out = crops.crop_and_resize(image, tf.constant([1.]), tf.constant([1.]),
                              tf.constant([2.]), tf.constant([2.]), 4).numpy()
  bilinear = lambda y, x: (  # Inside the window: rows/cols 1 and 2.
      (2 - y) * (2 - x) * 0 + (2 - y) * (x - 1) * 40 +
      (y - 1) * (2 - x) * 80 + (y - 1) * (x - 1) * 120)
  np.testing.assert_allclose(out[0, 1, 1, 0], bilinear(1.25, 1.25), atol=1e-3)
  np.testing.assert_allclose(out[0, 2, 2, 0], bilinear(1.75, 1.75), atol=1e-3)
  np.testing.assert_allclose(out[0, 1, 2, 0], bilinear(1.25, 1.75), atol=1e-3)


def test_same_seed_same_crops_eagerly_and_inside_tf_data():
  images = _images()
  eager = crops.random_resized_crop(images, SEED, 20, (0.2, 1.0),
                                    (3 / 4, 4 / 3)).numpy()
  ds = tf.data.Dataset.from_tensors(images).map(
      lambda x: crops.random_resized_crop(x, SEED, 20, (0.2, 1.0),
                                          (3 / 4, 4 / 3)))
  in_graph = next(iter(ds)).numpy()
  np.testing.assert_array_equal(eager, in_graph)
  assert eager.shape == (6, 20, 20, 1) and eager.dtype == np.uint8
  other = crops.random_resized_crop(images, tf.constant([3, 5], tf.int64),
                                    20, (0.2, 1.0), (3 / 4, 4 / 3)).numpy()
  assert not np.array_equal(eager, other)


def test_center_crop_resize_of_a_wide_image():
  image = np.zeros((1, 10, 20, 3), np.uint8)
  image[:, :, 5:15] = 255  # The centred 10x10 square is all white.
  out = crops.center_crop_resize(image, 5).numpy()
  assert out.shape == (1, 5, 5, 3)
  np.testing.assert_array_equal(out, 255)
