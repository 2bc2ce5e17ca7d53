"""Device augmentation: each op's semantics, equality with the per-image
reference implementation (tests/data/reference_augment.py) for every op and
every jitter order, and batch-split invariance."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax.data import augment
from ssl_jax.data import views

import reference_augment as reference

KEY = jax.random.PRNGKey(0)
STRENGTHS = (0.8, 0.8, 0.8, 0.2)  # SimCLR's strength 1.0.


def _images(n, size=16, channels=3, seed=0):
  rng = np.random.default_rng(seed)
  return rng.uniform(size=(n, size, size, channels)).astype(np.float32)


def _planes(x):
  return [jnp.asarray(x[..., c]) for c in range(x.shape[-1])]


def _stack(planes):
  return np.stack([np.asarray(p) for p in planes], axis=-1)


TOL = 1e-5  # Values in [0, 1], float32.


def _error(new, ref) -> float:
  """Largest absolute difference; the shapes must agree."""
  new, ref = np.asarray(new), np.asarray(ref, np.float32)
  assert new.shape == ref.shape, (new.shape, ref.shape)
  return float(np.max(np.abs(new - ref)))


@pytest.mark.parametrize('channels', [3, 1])
def test_jitter_equals_the_reference_for_every_order(channels):
  num_ops = augment.num_jitter_ops(channels)
  orders = np.array(list(itertools.permutations(range(num_ops))), np.int32)
  x = _images(len(orders), channels=channels)
  u = np.random.default_rng(1).uniform(-1, 1, (len(orders), 4)).astype(
      np.float32)
  new = jax.jit(lambda p, o, u: augment.jitter(p, o, u, STRENGTHS))(
      _planes(x), orders, u)
  ref = jax.jit(jax.vmap(
      lambda x, o, u: reference.jitter_with(x, o, u, STRENGTHS)))(x, orders, u)
  assert _error(_stack(new), ref) <= TOL


@pytest.mark.parametrize('op', ['brightness', 'contrast', 'saturation', 'hue'])
def test_each_jitter_op_equals_the_reference(op):
  x = _images(8)
  factor = np.random.default_rng(2).uniform(0.0, 2.0, 8).astype(np.float32)
  if op == 'hue':
    factor = factor / 4 - 0.25  # Shifts in [-0.25, 0.25].
  new = jax.jit(getattr(augment, op))(_planes(x), factor)
  ref = jax.jit(jax.vmap(getattr(reference, op)))(x, factor)
  assert _error(_stack(new), ref) <= TOL


@pytest.mark.parametrize('size', [16, 64, 224])
def test_blur_equals_the_reference_with_reflect_padding(size):
  n = 4 if size < 224 else 2
  x = _images(n, size=size)
  sigma = np.linspace(0.1, 2.0, n).astype(np.float32)
  kernel = augment.blur_kernel_size(size)
  new = jax.jit(augment.gaussian_blur)(_planes(x), sigma)
  ref = jax.jit(jax.vmap(
      lambda x, s: reference.gaussian_blur(x, s, kernel)))(x, sigma)
  assert _error(_stack(new), ref) <= TOL


_SPECS = {
    'simclr': views.ViewSpec(32, jitter=STRENGTHS, jitter_p=0.8, blur_p=0.5),
    'byol_view1': views.ViewSpec(32, jitter=(0.4, 0.4, 0.2, 0.1), blur_p=1.0),
    'byol_view2': views.ViewSpec(32, jitter=(0.4, 0.4, 0.2, 0.1), blur_p=0.1,
                                 solarize_p=0.2),
    'all_always': views.ViewSpec(24, jitter=STRENGTHS, jitter_p=1.0,
                                 gray_p=1.0, blur_p=1.0, solarize_p=1.0,
                                 flip_p=1.0),
    'grayscale_images': views.ViewSpec(28, jitter=(0.4, 0.4, 0.0, 0.0),
                                       solarize_p=0.2),
}


@pytest.mark.parametrize('name', sorted(_SPECS))
def test_whole_augmentation_equals_the_reference_draw_for_draw(name):
  spec = _SPECS[name]
  channels = 1 if name == 'grayscale_images' else 3
  images = (_images(16, spec.crop_size, channels, seed=3) * 255).astype(
      np.uint8)
  keys = jax.random.split(jax.random.PRNGKey(7), 16)
  ref = jax.jit(jax.vmap(lambda i, k: reference.augment_one(i, k, spec)))(
      images, keys)
  batched = jax.jit(lambda i, k: augment.augment_keys(i, k, spec))(
      images, keys)
  one_by_one = jax.jit(jax.vmap(
      lambda i, k: augment.augment_one(i, k, spec)))(images, keys)
  assert _error(batched, ref) <= TOL
  assert _error(one_by_one, ref) <= TOL
  # The draws differ between images: not every image got the same ops.
  assert len({np.asarray(ref[i]).tobytes() for i in range(16)}) == 16


def test_hsv_round_trip_and_zero_hue_shift():
  x = _images(2)
  planes = _planes(x)
  round_trip = augment.hsv_to_rgb(*augment.rgb_to_hsv(*planes))
  assert _error(_stack(round_trip), x) <= TOL
  unshifted = augment.hue(planes, np.zeros(2, np.float32))
  assert _error(_stack(unshifted), x) <= TOL
  # A shift of a third of the circle maps pure red to pure green.
  red = np.zeros((1, 1, 1, 3), np.float32)
  red[..., 0] = 1
  green = _stack(augment.hue(_planes(red), np.float32([1 / 3])))[0, 0, 0]
  assert _error(green, [0, 1, 0]) <= TOL


def test_contrast_and_brightness():
  x = _images(1)
  same = augment.brightness(_planes(x), np.ones(1))
  assert _error(_stack(same), x) <= TOL
  flat = _stack(augment.contrast(_planes(x), np.zeros(1)))  # The grey mean.
  np.testing.assert_allclose(flat, np.full_like(x, flat[0, 0, 0, 0]),
                             atol=1e-6)
  np.testing.assert_allclose(flat[0, 0, 0, 0],
                             np.mean(x @ [0.299, 0.587, 0.114]), rtol=1e-5)


def test_zero_strength_jitter_is_identity():
  x = _images(24)
  orders = np.array(list(itertools.permutations(range(4))), np.int32)
  u = np.ones((24, 4), np.float32)
  out = augment.jitter(_planes(x), orders, u, (0., 0., 0., 0.))
  assert _error(_stack(out), x) <= TOL


def test_blur_keeps_constant_images_and_smooths_noise():
  const = [jnp.full((1, 9, 9), 0.3, jnp.float32)]
  np.testing.assert_allclose(augment.gaussian_blur(const, np.ones(1))[0],
                             const[0], atol=1e-6)
  noise = _planes(_images(1, size=9))
  blurred = augment.gaussian_blur(noise, np.full(1, 2.0, np.float32))
  assert np.std(blurred[0]) < np.std(noise[0])


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
  x = (_images(1, size=8)[0] * 255).astype(np.uint8)
  out = np.asarray(augment.augment_one(x, KEY, spec))
  np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
  np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-6)


def test_same_result_whether_the_batch_is_split_or_not():
  spec = views.ViewSpec(crop_size=8, blur_p=0.5, solarize_p=0.3)
  images = (_images(6, size=8) * 255).astype(np.uint8)
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
