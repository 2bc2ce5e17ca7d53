"""The per-image device augmentation that ssl_jax used before the batched,
planar one of ssl_jax/data/augment.py: one image [H, W, C] at a time (vmap
over the batch), ops chosen with lax.switch, HSV sectors with jnp.choose.
Written straight from torchvision's definitions; the tests hold the new
implementation to it, draw for draw.
"""

import jax
import jax.numpy as jnp
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def gray(x):
  if x.shape[-1] == 1:
    return x
  return jnp.sum(x * _LUMA, axis=-1, keepdims=True)


def _blend(a, b, factor):
  return jnp.clip(factor * a + (1 - factor) * b, 0.0, 1.0)


def brightness(x, factor):
  return jnp.clip(x * factor, 0.0, 1.0)


def contrast(x, factor):
  return _blend(x, jnp.mean(gray(x)), factor)


def saturation(x, factor):
  return _blend(x, gray(x), factor)


def rgb_to_hsv(rgb):
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


def hsv_to_rgb(hsv):
  h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
  i = jnp.floor(h * 6.0)
  f = h * 6.0 - i
  p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
  i = i.astype(jnp.int32) % 6
  r = jnp.choose(i, [v, q, p, p, t, v], mode='clip')
  g = jnp.choose(i, [t, v, v, q, p, p], mode='clip')
  b = jnp.choose(i, [p, p, t, v, v, q], mode='clip')
  return jnp.stack([r, g, b], -1)


def hue(x, shift):
  hsv = rgb_to_hsv(x)
  hsv = hsv.at[..., 0].set((hsv[..., 0] + shift) % 1.0)
  return hsv_to_rgb(hsv)


def jitter_with(x, order, u, strengths):
  """ColorJitter with a given op order and uniform draws u in [-1, 1]."""
  b, c, s, h = strengths
  ops = [lambda y: brightness(y, 1 + b * u[0]),
         lambda y: contrast(y, 1 + c * u[1])]
  if x.shape[-1] == 3:
    ops += [lambda y: saturation(y, 1 + s * u[2]),
            lambda y: hue(y, h * u[3])]
  for position in range(len(ops)):
    x = jax.lax.switch(order[position], ops, x)
  return x


def gaussian_blur(x, sigma, kernel_size: int):
  radius = kernel_size // 2
  offsets = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  kernel = jnp.exp(-0.5 * (offsets / sigma) ** 2)
  kernel = kernel / jnp.sum(kernel)
  padded = jnp.pad(x, ((radius, radius), (radius, radius), (0, 0)),
                   mode='reflect')
  height, width = x.shape[:2]
  rows = sum(kernel[i] * padded[i:i + height] for i in range(kernel_size))
  return sum(kernel[i] * rows[:, i:i + width] for i in range(kernel_size))


def augment_one(image, key, spec):
  """One uint8 crop -> float32 in [0, 1], drawing as ssl_jax always has."""
  x = image.astype(jnp.float32) / 255.0
  keys = jax.random.split(key, 8)
  coin = lambda k, p: jax.random.uniform(k) < p
  if spec.flip_p > 0:
    x = jnp.where(coin(keys[0], spec.flip_p), x[:, ::-1], x)
  if spec.jitter_p > 0 and any(spec.jitter):
    k_order, k_factors = jax.random.split(keys[2])
    u = jax.random.uniform(k_factors, (4,), minval=-1.0, maxval=1.0)
    order = jax.random.permutation(k_order, 4 if x.shape[-1] == 3 else 2)
    x = jnp.where(coin(keys[1], spec.jitter_p),
                  jitter_with(x, order, u, spec.jitter), x)
  if spec.gray_p > 0 and x.shape[-1] == 3:
    x = jnp.where(coin(keys[3], spec.gray_p),
                  jnp.broadcast_to(gray(x), x.shape), x)
  if spec.blur_p > 0:
    sigma = jax.random.uniform(keys[4], minval=spec.blur_sigma[0],
                               maxval=spec.blur_sigma[1])
    size = max(3, 2 * (x.shape[0] // 20) + 1)
    x = jnp.where(coin(keys[5], spec.blur_p),
                  gaussian_blur(x, sigma, size), x)
  if spec.solarize_p > 0:
    x = jnp.where(coin(keys[6], spec.solarize_p),
                  jnp.where(x >= 0.5, 1.0 - x, x), x)
  return x
