"""Host random resized crops: torchvision semantics, determinism, and each
resize interpolation against hand-computed kernel weights."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_jax.data import crops
from ssl_jax.data import pipeline
from ssl_jax.data import views

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


# A 4x4 image whose columns are 0, 80, 160, 240, resized to 2x2 over the
# whole window: output pixel j is centred at input 2j + 1 (pixel centres at
# 0.5, 1.5, ...). Hand values from each kernel:
#   bilinear (no antialias) samples at 0.5: (0 + 80) / 2 = 40.
#   PIL bilinear stretches the triangle by 2: pixels 0, 1, 2 at distances
#     0.5, 0.5, 1.5 weigh 0.75, 0.75, 0.25: (60 + 40) / 1.75 = 57.142857.
#   TF bicubic (Keys a = -0.5, no antialias) at 0.5: taps -1, 0, 1, 2 weigh
#     -0.0625, 0.5625, 0.5625, -0.0625; tap -1 lies outside and is dropped,
#     the rest renormalised: (45 - 10) / 1.0625 = 32.941176.
#   PIL bicubic stretches Keys' cubic by 2: distances 0.5, 0.5, 1.5, 2.5 ->
#     W(0.25) = 0.8671875 (twice), W(0.75) = 0.2265625, W(1.25) =
#     -0.0703125: (69.375 + 36.25 - 16.875) / 1.890625 = 46.942149.
# Output 1 mirrors output 0 (240 - value). PIL's horizontal pass is rounded
# to uint8 before its vertical pass, so along x the PIL values are 57 and
# 47; along y (the last pass) they are not rounded yet.
RESIZED = {'bilinear': (40.0, 40.0), 'bilinear_antialias': (57.0, 57.142857),
           'bicubic': (32.941176, 32.941176),
           'bicubic_antialias': (47.0, 46.942149)}


def test_each_interpolation_by_hand():
  ramp = np.tile(np.array([0, 80, 160, 240], np.uint8)[None, :, None],
                 (4, 1, 1))
  box = [tf.constant([v]) for v in (0.0, 0.0, 4.0, 4.0)]
  for name, (along_x, along_y) in RESIZED.items():
    for image, expected in ((ramp, along_x), (ramp.transpose(1, 0, 2),
                                              along_y)):
      out = crops.crop_and_resize(image[None], *box, 2, name).numpy()[0]
      values = out[0, :, 0] if image is ramp else out[:, 0, 0]
      np.testing.assert_allclose(values, [expected, 240 - expected],
                                 rtol=1e-6, err_msg=name)
  with pytest.raises(ValueError, match='nearest'):
    crops.crop_and_resize(ramp[None], *box, 2, 'nearest')


def test_crop_views_resize_with_the_view_interpolation():
  ramp = np.tile(np.array([0, 80, 160, 240], np.uint8)[None, :, None],
                 (4, 1, 1))[None]
  whole = dict(crop_size=2, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
  specs = [views.ViewSpec(**whole),
           views.ViewSpec(**whole, interpolation='bicubic')]
  out = pipeline.crop_views(ramp, 4, 4, SEED, specs, (0, 1), 1)
  np.testing.assert_array_equal(out['view0'][0, 0, :, 0], [40, 200])
  np.testing.assert_array_equal(out['view1'][0, 0, :, 0], [33, 207])


def test_interpolation_from_config_for_every_view_and_validated():
  from ssl_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.base_config()
  config.total_steps = 10
  config.aug.update(local_crops=2, interpolation='bicubic_antialias')
  specs = views.views_from_config(config.aug, num_views=2)
  assert {s.interpolation for s in specs} == {'bicubic_antialias'}
  config_lib.validate(config, num_devices=1)
  config.aug.interpolation = 'bicubc'
  with pytest.raises(config_lib.ConfigError,
                     match=r"aug\.interpolation.*'bicubic_antialias'"):
    config_lib.validate(config, num_devices=1)
