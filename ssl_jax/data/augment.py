"""Device-side augmentation (in the jitted step, from the step's rng).

Everything after the crop: flip, colour jitter in random order, grayscale,
Gaussian blur, solarize, then normalisation. Each image gets its own key,
`fold_in(rng, seed_id)`, where `seed_id` is the image's position in the global
batch (shipped with the batch), so the result is the same whether the batch is
one array under jit or split over devices under pmap. Semantics follow
torchvision (METHODS.md, "Augmentation primitives"), on values in [0, 1].
"""

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax.data import views as views_lib

# A numpy constant: a jnp one would start a JAX backend at import time,
# before the CLI can set the device count.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _gray(x):
  """Luma as in torchvision's rgb_to_grayscale; [H, W, 1]."""
  if x.shape[-1] == 1:
    return x
  return jnp.sum(x * _LUMA, axis=-1, keepdims=True)


def _blend(a, b, factor):
  return jnp.clip(factor * a + (1 - factor) * b, 0.0, 1.0)


def _brightness(x, factor):
  return jnp.clip(x * factor, 0.0, 1.0)


def _contrast(x, factor):
  return _blend(x, jnp.mean(_gray(x)), factor)


def _saturation(x, factor):
  return _blend(x, _gray(x), factor)


def _rgb_to_hsv(rgb):
  r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
  maxc, minc = jnp.max(rgb, -1), jnp.min(rgb, -1)
  delta = maxc - minc
  safe = jnp.where(delta > 0, delta, 1.0)
  hr = jnp.where(maxc == r, (g - b) / safe, 0.0)
  hg = jnp.where((maxc == g) & (maxc != r), 2.0 + (b - r) / safe, 0.0)
  hb = jnp.where((maxc == b) & (maxc != g) & (maxc != r),
                 4.0 + (r - g) / safe, 0.0)
  h = jnp.where(delta > 0, ((hr + hg + hb) / 6.0) % 1.0, 0.0)
  s = jnp.where(maxc > 0, delta / jnp.where(maxc > 0, maxc, 1.0), 0.0)
  return jnp.stack([h, s, maxc], -1)


def _hsv_to_rgb(hsv):
  h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
  i = jnp.floor(h * 6.0)
  f = h * 6.0 - i
  p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
  i = i.astype(jnp.int32) % 6
  r = jnp.choose(i, [v, q, p, p, t, v], mode='clip')
  g = jnp.choose(i, [t, v, v, q, p, p], mode='clip')
  b = jnp.choose(i, [p, p, t, v, v, q], mode='clip')
  return jnp.stack([r, g, b], -1)


def _hue(x, shift):
  hsv = _rgb_to_hsv(x)
  hsv = hsv.at[..., 0].set((hsv[..., 0] + shift) % 1.0)
  return _hsv_to_rgb(hsv)


def _jitter(x, key, strengths):
  """torchvision ColorJitter: factors drawn, ops applied in random order."""
  b, c, s, h = strengths
  k_order, k_factors = jax.random.split(key)
  u = jax.random.uniform(k_factors, (4,), minval=-1.0, maxval=1.0)
  ops = [lambda y: _brightness(y, 1 + b * u[0]),
         lambda y: _contrast(y, 1 + c * u[1])]
  if x.shape[-1] == 3:
    ops += [lambda y: _saturation(y, 1 + s * u[2]),
            lambda y: _hue(y, h * u[3])]
  order = jax.random.permutation(k_order, len(ops))
  for position in range(len(ops)):
    x = jax.lax.switch(order[position], ops, x)
  return x


def _gaussian_blur(x, sigma, kernel_size: int):
  """Separable Gaussian blur with reflect padding (as torchvision)."""
  radius = kernel_size // 2
  offsets = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  kernel = jnp.exp(-0.5 * (offsets / sigma) ** 2)
  kernel = kernel / jnp.sum(kernel)
  padded = jnp.pad(x, ((radius, radius), (radius, radius), (0, 0)),
                   mode='reflect')
  height, width = x.shape[:2]
  rows = sum(kernel[i] * padded[i:i + height] for i in range(kernel_size))
  return sum(kernel[i] * rows[:, i:i + width] for i in range(kernel_size))


def blur_kernel_size(image_size: int) -> int:
  """SimCLR/BYOL: 10% of the side, odd (23 px at 224, 3 px at 32)."""
  return max(3, 2 * (image_size // 20) + 1)


def augment_one(image, key, spec: views_lib.ViewSpec):
  """Augments one uint8 [H, W, C] crop -> float32 in [0, 1]."""
  x = image.astype(jnp.float32) / 255.0
  keys = jax.random.split(key, 8)
  coin = lambda k, p: jax.random.uniform(k) < p
  if spec.flip_p > 0:
    x = jnp.where(coin(keys[0], spec.flip_p), x[:, ::-1], x)
  if spec.jitter_p > 0 and any(spec.jitter):
    x = jnp.where(coin(keys[1], spec.jitter_p),
                  _jitter(x, keys[2], spec.jitter), x)
  if spec.gray_p > 0 and x.shape[-1] == 3:
    x = jnp.where(coin(keys[3], spec.gray_p),
                  jnp.broadcast_to(_gray(x), x.shape), x)
  if spec.blur_p > 0:
    sigma = jax.random.uniform(keys[4], minval=spec.blur_sigma[0],
                               maxval=spec.blur_sigma[1])
    blurred = _gaussian_blur(x, sigma, blur_kernel_size(x.shape[0]))
    x = jnp.where(coin(keys[5], spec.blur_p), blurred, x)
  if spec.solarize_p > 0:
    x = jnp.where(coin(keys[6], spec.solarize_p),
                  jnp.where(x >= 0.5, 1.0 - x, x), x)
  return x


def normalize(x, mean, std):
  return (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)


def augment_batch(images, seed_ids, rng, spec: views_lib.ViewSpec, mean,
                  std):
  """Augments a uint8 [N, H, W, C] batch; returns normalised float32."""
  keys = jax.vmap(jax.random.fold_in, (None, 0))(rng, seed_ids)
  x = jax.vmap(augment_one, (0, 0, None))(images, keys, spec)
  return normalize(x, mean, std)


def eval_preprocess(images, mean, std):
  """Evaluation: no augmentation, only scaling and normalisation."""
  return normalize(images.astype(jnp.float32) / 255.0, mean, std)
