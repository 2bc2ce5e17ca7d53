"""Device-side augmentation (in the jitted step, from the step's rng).

Everything after the crop: flip, colour jitter in random order, grayscale,
Gaussian blur, solarize, then normalisation. Each image gets its own key,
`fold_in(rng, seed_id)`, where `seed_id` is the image's position in the global
batch (shipped with the batch), so the result is the same whether the batch is
one array under jit or split over devices under pmap. Semantics follow
torchvision on values in [0, 1] (docs/methods.md#augmentation).

How it is computed, and why (docs/tpu.md, "Augmentation"):
every random choice of an image is drawn first from its key (`draw`, the
same draws as a per-image implementation), then the whole batch is
transformed at once with the draws broadcast per image. Images are held as
separate channel planes [N, H, W] rather than [N, H, W, C]: every op is then
elementwise on arrays whose minor dimension is the image width, which XLA
fuses and lays out well on TPU, where a minor dimension of 3 was costly. A
per-image choice between ops is an elementwise select (never a gather: the
hexcone sector of the HSV conversion as `jnp.choose` lowered to a gather that
XLA TPU estimated at 88 ms of a 200 ms ResNet-50 step). The Gaussian blur is
two matrix products per image with a banded matrix that holds the kernel and
the reflect padding, work for the matrix unit instead of 23 shifted passes
over memory.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax.data import views as views_lib

# numpy constants: a jnp one would start a JAX backend at import time,
# before the CLI can set the device count.
_LUMA = (0.299, 0.587, 0.114)
# Colour jitter ops, in the order of their strengths in ViewSpec.jitter.
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
_EXACT = jax.lax.Precision.HIGHEST  # The blur's products, in full f32.


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Draws:
  """An image's random choices ([N] leading axis for a batch).

  `order` lists the jitter ops by position (a permutation of
  range(num_jitter_ops)); `factors` are the uniform draws in [-1, 1] that
  scale each op's strength.
  """
  flip: jax.Array
  jitter: jax.Array
  factors: jax.Array
  order: jax.Array
  gray: jax.Array
  sigma: jax.Array
  blur: jax.Array
  solarize: jax.Array


def num_jitter_ops(channels: int) -> int:
  """Brightness and contrast; saturation and hue only for colour images
  (their grayscale analogue is the identity)."""
  return 4 if channels == 3 else 2


def draw(key, spec: views_lib.ViewSpec, channels: int) -> Draws:
  """One image's random choices from its key."""
  keys = jax.random.split(key, 8)
  coin = lambda k, p: jax.random.uniform(k) < p
  k_order, k_factors = jax.random.split(keys[2])
  return Draws(
      flip=coin(keys[0], spec.flip_p), jitter=coin(keys[1], spec.jitter_p),
      factors=jax.random.uniform(k_factors, (4,), minval=-1.0, maxval=1.0),
      order=jax.random.permutation(k_order, num_jitter_ops(channels)),
      gray=coin(keys[3], spec.gray_p),
      sigma=jax.random.uniform(keys[4], minval=spec.blur_sigma[0],
                               maxval=spec.blur_sigma[1]),
      blur=coin(keys[5], spec.blur_p),
      solarize=coin(keys[6], spec.solarize_p))


# ----------------------------------------------------------- planar ops
# `planes` is a list of C arrays [N, H, W] in [0, 1]; per-image values are
# [N] arrays, broadcast by `_per_image`.


def _per_image(v):
  return jnp.asarray(v)[:, None, None]


def _clip(x):
  return jnp.clip(x, 0.0, 1.0)


def gray(planes):
  """Luma as torchvision's rgb_to_grayscale, [N, H, W]."""
  if len(planes) == 1:
    return planes[0]
  r, g, b = planes
  return r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2]


def _blend(x, other, factor):
  return _clip(factor * x + (1 - factor) * other)


def brightness(planes, factor):
  return [_clip(x * _per_image(factor)) for x in planes]


def contrast(planes, factor):
  mean = jnp.mean(gray(planes), axis=(1, 2), keepdims=True)
  return [_blend(x, mean, _per_image(factor)) for x in planes]


def saturation(planes, factor):
  g = gray(planes)
  return [_blend(x, g, _per_image(factor)) for x in planes]


def rgb_to_hsv(r, g, b):
  maxc = jnp.maximum(jnp.maximum(r, g), b)
  minc = jnp.minimum(jnp.minimum(r, g), b)
  delta = maxc - minc
  safe = jnp.where(delta > 0, delta, 1.0)
  hr = jnp.where(maxc == r, (g - b) / safe, 0.0)
  hg = jnp.where((maxc == g) & (maxc != r), 2.0 + (b - r) / safe, 0.0)
  hb = jnp.where((maxc == b) & (maxc != g) & (maxc != r),
                 4.0 + (r - g) / safe, 0.0)
  h = jnp.where(delta > 0, ((hr + hg + hb) / 6.0) % 1.0, 0.0)
  s = jnp.where(maxc > 0, delta / jnp.where(maxc > 0, maxc, 1.0), 0.0)
  return h, s, maxc


def hsv_to_rgb(h, s, v):
  i = jnp.floor(h * 6.0)
  f = h * 6.0 - i
  p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
  sector = i.astype(jnp.int32) % 6
  pick = lambda *cases: jax.lax.select_n(sector, *cases)
  return pick(v, q, p, p, t, v), pick(t, v, v, q, p, p), pick(p, p, t, v, v, q)


def hue(planes, shift):
  h, s, v = rgb_to_hsv(*planes)
  return list(hsv_to_rgb((h + _per_image(shift)) % 1.0, s, v))


def _jitter_op(op, planes, factor, shift):
  """Applies op[i] (an int per image) to image i: every op is computed
  and one is selected elementwise (a per-image switch under vmap is the
  same select; no op here needs a gather)."""
  candidates = [brightness(planes, factor), contrast(planes, factor)]
  if len(planes) == 3:
    candidates += [saturation(planes, factor), hue(planes, shift)]
  which = jnp.broadcast_to(_per_image(op), planes[0].shape)
  return [jax.lax.select_n(which, *(c[i] for c in candidates))
          for i in range(len(planes))]


def jitter(planes, order, factors, strengths):
  """torchvision's ColorJitter with drawn `order` [N, K] and `factors`
  [N, 4] in [-1, 1]: op k's factor is 1 + strength_k * factor_k (hue:
  a shift of strength * factor)."""
  scales = 1.0 + jnp.asarray(factors) * jnp.asarray(strengths, jnp.float32)
  shift = jnp.asarray(factors)[:, HUE] * strengths[HUE]
  for position in range(order.shape[1]):
    op = order[:, position]
    factor = jnp.take_along_axis(scales, op[:, None], axis=1)[:, 0]
    planes = _jitter_op(op, planes, factor, shift)
  return planes


def blur_kernel_size(image_size: int) -> int:
  """SimCLR/BYOL: 10% of the side, odd (23 px at 224, 3 px at 32)."""
  return max(3, 2 * (image_size // 20) + 1)


def _blur_matrices(sigma, size: int):
  """[N, size, size] banded matrices: row i holds the Gaussian weights of
  output pixel i over the input pixels, reflect padding folded in (input
  pixel -k for k, size - 1 + k for size - 1 - k, as torchvision's)."""
  radius = blur_kernel_size(size) // 2
  offsets = np.arange(-radius, radius + 1)
  weights = jnp.exp(-0.5 * (offsets.astype(np.float32) /
                            jnp.asarray(sigma)[:, None]) ** 2)
  weights = weights / jnp.sum(weights, axis=1, keepdims=True)  # [N, taps]
  source = np.arange(size)[:, None] + offsets[None]
  source = np.abs(source)
  source = np.where(source >= size, 2 * (size - 1) - source, source)
  taps = (source[:, :, None] == np.arange(size)).astype(np.float32)
  return jnp.einsum('nt,itj->nij', weights, taps, precision=_EXACT)


def gaussian_blur(planes, sigma):
  """Separable Gaussian blur, kernel size blur_kernel_size(H), per-image
  sigma [N]; square images."""
  matrices = _blur_matrices(sigma, planes[0].shape[1])
  out = []
  for x in planes:
    x = jnp.einsum('nij,njw->niw', matrices, x, precision=_EXACT)
    out.append(jnp.einsum('nhj,nij->nhi', x, matrices, precision=_EXACT))
  return out


def apply(images, d: Draws, spec: views_lib.ViewSpec):
  """uint8 [N, H, W, C] crops and their draws -> float32 [N, H, W, C] in
  [0, 1]."""
  channels = images.shape[-1]
  if spec.flip_p > 0:  # On the uint8 crops: a quarter of the bytes.
    images = jnp.where(d.flip[:, None, None, None], images[:, :, ::-1],
                       images)
  planes = [images[..., c].astype(jnp.float32) / 255.0
            for c in range(channels)]
  where = lambda coin, new, old: [jnp.where(_per_image(coin), n, o)
                                  for n, o in zip(new, old)]
  if spec.jitter_p > 0 and any(spec.jitter):
    planes = where(d.jitter, jitter(planes, d.order, d.factors,
                                    spec.jitter), planes)
  if spec.gray_p > 0 and channels == 3:
    planes = where(d.gray, [gray(planes)] * 3, planes)
  if spec.blur_p > 0:
    planes = where(d.blur, gaussian_blur(planes, d.sigma), planes)
  if spec.solarize_p > 0:
    planes = where(d.solarize,
                   [jnp.where(x >= 0.5, 1.0 - x, x) for x in planes], planes)
  return jnp.stack(planes, axis=-1)


def augment_keys(images, keys, spec: views_lib.ViewSpec):
  """uint8 [N, H, W, C] crops, one key each -> float32 in [0, 1]."""
  draws = jax.vmap(lambda k: draw(k, spec, images.shape[-1]))(keys)
  return apply(images, draws, spec)


def augment_one(image, key, spec: views_lib.ViewSpec):
  """Augments one uint8 [H, W, C] crop -> float32 in [0, 1]."""
  return augment_keys(image[None], key[None], spec)[0]


def normalize(x, mean, std):
  return (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)


def augment_batch(images, seed_ids, rng, spec: views_lib.ViewSpec, mean,
                  std):
  """Augments a uint8 [N, H, W, C] batch; returns normalised float32."""
  keys = jax.vmap(jax.random.fold_in, (None, 0))(rng, seed_ids)
  return normalize(augment_keys(images, keys, spec), mean, std)


def eval_preprocess(images, mean, std):
  """Evaluation: no augmentation, only scaling and normalisation."""
  return normalize(images.astype(jnp.float32) / 255.0, mean, std)
