"""Device augmentation: each op's semantics and batch-split invariance."""

import jax
import numpy as np

from ssl_jax.data import augment
from ssl_jax.data import views

KEY = jax.random.PRNGKey(0)


def _rgb(seed=0, n=None):
  rng = np.random.default_rng(seed)
  shape = (8, 8, 3) if n is None else (n, 8, 8, 3)
  return rng.uniform(size=shape).astype(np.float32)


def test_hsv_round_trip_and_zero_hue_shift():
  x = _rgb()
  np.testing.assert_allclose(augment._hsv_to_rgb(augment._rgb_to_hsv(x)), x,
                             atol=1e-5)
  np.testing.assert_allclose(augment._hue(x, 0.0), x, atol=1e-5)
  # A shift of a third of the circle maps pure red to pure green.
  red = np.zeros((1, 1, 3), np.float32)
  red[..., 0] = 1
  np.testing.assert_allclose(augment._hue(red, 1 / 3)[0, 0], [0, 1, 0],
                             atol=1e-5)


def test_contrast_and_brightness():
  x = _rgb()
  np.testing.assert_allclose(augment._brightness(x, 1.0), x)
  flat = augment._contrast(x, 0.0)  # Factor 0: the grey mean everywhere.
  np.testing.assert_allclose(flat, np.full_like(x, flat[0, 0, 0]), atol=1e-6)
  np.testing.assert_allclose(flat[0, 0, 0], np.mean(x @ [0.299, 0.587, 0.114]),
                             rtol=1e-5)


def test_zero_strength_jitter_is_identity():
  x = _rgb()
  np.testing.assert_allclose(augment._jitter(x, KEY, (0., 0., 0., 0.)), x,
                             atol=1e-5)


def test_blur_keeps_constant_images_and_smooths_noise():
  const = np.full((9, 9, 1), 0.3, np.float32)
  np.testing.assert_allclose(augment._gaussian_blur(const, 1.0, 3), const,
                             atol=1e-6)
  noise = _rgb()
  assert augment._gaussian_blur(noise, 2.0, 3).std() < noise.std()


def test_always_on_ops():
  x = (np.arange(64, dtype=np.float32).reshape(8, 8, 1) * 4).astype(np.uint8)
  spec = views.ViewSpec(crop_size=8, flip_p=1.0, jitter_p=0.0, gray_p=0.0,
                        solarize_p=1.0)
  out = np.asarray(augment.augment_one(x, KEY, spec))
  flipped = x[:, ::-1].astype(np.float32) / 255
  np.testing.assert_allclose(out, np.where(flipped >= 0.5, 1 - flipped,
                                           flipped), atol=1e-6)


def test_grayscale_gives_equal_channels():
  spec = views.ViewSpec(crop_size=8, flip_p=0.0, jitter_p=0.0, gray_p=1.0)
  x = (_rgb() * 255).astype(np.uint8)
  out = np.asarray(augment.augment_one(x, KEY, spec))
  np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
  np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-6)


def test_same_result_whether_the_batch_is_split_or_not():
  spec = views.ViewSpec(crop_size=8, blur_p=0.5, solarize_p=0.3)
  images = (_rgb(n=6) * 255).astype(np.uint8)
  ids = np.arange(6, dtype=np.int32)
  whole = augment.augment_batch(images, ids, KEY, spec, (0.5,) * 3, (0.2,) * 3)
  halves = [augment.augment_batch(images[i:i + 3], ids[i:i + 3], KEY, spec,
                                  (0.5,) * 3, (0.2,) * 3) for i in (0, 3)]
  np.testing.assert_allclose(whole, np.concatenate(halves), atol=1e-6)
  # Different images in one batch get different augmentations.
  same = np.repeat(images[:1], 6, axis=0)
  out = np.asarray(augment.augment_batch(same, ids, KEY, spec, (0.,) * 3,
                                         (1.,) * 3))
  assert len({out[i].tobytes() for i in range(6)}) > 1
