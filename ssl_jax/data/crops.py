"""Host-side random resized crops (tf.data), batched and stateless.

`random_resized_crop` reproduces torchvision's RandomResizedCrop: up to 10
attempts of (area ~ U(scale) * H * W, log-ratio ~ U(log ratio)), first fit
wins, else a centre crop clamped to the ratio range; then a resize with
half-pixel centres: bilinear without antialiasing by default, or, as the
official recipes resize (`ViewSpec.interpolation`, docs/methods.md#crops),
PIL's antialiased bilinear or bicubic, or TF's bicubic. All attempts are
drawn at once for the whole batch from a stateless seed, so the same seed
gives the same crops eagerly and inside tf.data, and a batch's crops do not
depend on how it is split over processes.
"""

import math

import tensorflow as tf

from ssl_jax.data import views as views_lib

_ATTEMPTS = 10

# interpolation -> (tf.image.resize method, as PIL). PIL's filters are
# tf.image.resize's with antialias (scale_and_translate: the kernel stretched
# by the downscale factor, weights renormalised at the border; 'triangle',
# and Keys' cubic a = -0.5 for BICUBIC), applied as PIL applies them: a
# horizontal pass rounded to uint8, then a vertical pass (Pillow before 13,
# what the official runs used; Pillow 13 may run the vertical pass first).
# 'bicubic' is one tf.image.resize BICUBIC call without antialias (Keys'
# cubic on the half-pixel grid), what SimCLR's and BYOL's TF code call.
_RESIZE = {'bilinear_antialias': ('bilinear', True),
           'bicubic': ('bicubic', False),
           'bicubic_antialias': ('bicubic', True)}


def sample_boxes(seed, batch: int, height, width, scale, ratio):
  """Samples torchvision-style crop windows for `batch` images.

  Args:
    seed: stateless seed, shape [2] int.
    batch: number of boxes.
    height, width: image size; scalars or [batch] tensors.
    scale: (min, max) fraction of the image area.
    ratio: (min, max) aspect ratio width / height.

  Returns:
    (top, left, h, w), each a float32 [batch] tensor of whole pixels.
  """
  height = tf.broadcast_to(tf.cast(height, tf.float32), [batch])
  width = tf.broadcast_to(tf.cast(width, tf.float32), [batch])
  u = tf.random.stateless_uniform([batch, _ATTEMPTS, 4], seed)
  area = (height * width)[:, None] * (scale[0] + u[..., 0] *
                                      (scale[1] - scale[0]))
  log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
  aspect = tf.exp(log_lo + u[..., 1] * (log_hi - log_lo))
  w = tf.round(tf.sqrt(area * aspect))
  h = tf.round(tf.sqrt(area / aspect))
  fits = ((w > 0) & (h > 0) & (w <= width[:, None]) & (h <= height[:, None]))
  first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
  any_fit = tf.reduce_any(fits, axis=1)
  pick = lambda t: tf.gather(t, first, axis=1, batch_dims=1)
  h, w = pick(h), pick(w)
  u_top, u_left = pick(u[..., 2]), pick(u[..., 3])
  # torch.randint(0, H - h + 1): uniform over the valid offsets.
  top = tf.floor(u_top * (height - h + 1))
  left = tf.floor(u_left * (width - w + 1))

  # Fallback (no attempt fit): the largest centred crop within the ratios.
  in_ratio = width / height
  fb_w = tf.where(in_ratio < ratio[0], width,
                  tf.where(in_ratio > ratio[1],
                           tf.round(height * ratio[1]), width))
  fb_h = tf.where(in_ratio < ratio[0], tf.round(width / ratio[0]),
                  height)
  fb_top = tf.floor((height - fb_h) / 2)
  fb_left = tf.floor((width - fb_w) / 2)
  choose = lambda a, b: tf.where(any_fit, a, b)
  return (choose(top, fb_top), choose(left, fb_left), choose(h, fb_h),
          choose(w, fb_w))


def crop_and_resize(images, top, left, h, w, size: int,
                    interpolation: str = 'bilinear'):
  """Crops pixel windows and resizes them to size x size.

  'bilinear' uses the half-pixel-centre grid of PIL/torchvision without
  antialias: output pixel i samples the image at
  top + (i + 0.5) * h / size - 0.5; samples within half a pixel of the
  window's edge blend with the pixel just outside it (torchvision, which
  crops first, repeats the edge pixel instead). The other interpolations
  crop first and resize each window with tf.image.resize (`_RESIZE`), as
  torchvision's `resized_crop` and SimCLR's `crop_and_resize` do.

  Args:
    images: [N, H, W, C] uint8 or float.
    top, left, h, w: [N] float windows in whole pixels.
    size: output side.
    interpolation: one of views.INTERPOLATIONS.

  Returns:
    [N, size, size, C] float32 in the input's value range (bicubic can
    overshoot it; the callers round and clip to uint8).
  """
  if interpolation != 'bilinear':
    return _crop_then_resize(images, top, left, h, w, size, interpolation)
  shape = tf.shape(images)
  hm1 = tf.cast(tf.maximum(shape[1] - 1, 1), tf.float32)
  wm1 = tf.cast(tf.maximum(shape[2] - 1, 1), tf.float32)
  step_y, step_x = h / size, w / size
  y1 = top + 0.5 * step_y - 0.5
  y2 = top + h - 0.5 * step_y - 0.5
  x1 = left + 0.5 * step_x - 0.5
  x2 = left + w - 0.5 * step_x - 0.5
  boxes = tf.stack([y1 / hm1, x1 / wm1, y2 / hm1, x2 / wm1], axis=1)
  return tf.image.crop_and_resize(
      tf.cast(images, tf.float32), boxes, tf.range(tf.shape(images)[0]),
      [size, size], method='bilinear', extrapolation_value=0)


def _crop_then_resize(images, top, left, h, w, size: int,
                      interpolation: str):
  """Each window cut out, then tf.image.resize'd (windows differ in size,
  so one image at a time)."""
  if interpolation not in _RESIZE:
    raise ValueError(f'interpolation {interpolation!r} not in '
                     f'{views_lib.INTERPOLATIONS}.')
  method, as_pil = _RESIZE[interpolation]
  as_int = lambda t: tf.cast(t, tf.int32)

  def one(args):
    image, t, l, hh, ww = args
    window = image[t:t + hh, l:l + ww]
    if not as_pil:
      return tf.image.resize(window, [size, size], method=method)
    # PIL's two 8-bit passes: bicubic overshoots are clipped in between.
    wide = tf.image.resize(window, [hh, size], method=method, antialias=True)
    wide = tf.clip_by_value(tf.floor(wide + 0.5), 0.0, 255.0)
    return tf.image.resize(wide, [size, size], method=method, antialias=True)

  return tf.map_fn(
      one, (tf.cast(images, tf.float32), as_int(top), as_int(left),
            as_int(h), as_int(w)), fn_output_signature=tf.float32)


def random_resized_crop(images, seed, size: int, scale, ratio,
                        interpolation: str = 'bilinear'):
  """Random resized crops of a batch of equal-size images -> uint8."""
  shape = tf.shape(images)
  top, left, h, w = sample_boxes(seed, shape[0], shape[1], shape[2], scale,
                                 ratio)
  crops = crop_and_resize(images, top, left, h, w, size, interpolation)
  return tf.cast(tf.clip_by_value(tf.round(crops), 0, 255), tf.uint8)


def center_crop_resize(images, size: int):
  """Evaluation view: the largest centred square, resized to size."""
  shape = tf.shape(images)
  height = tf.cast(shape[1], tf.float32)
  width = tf.cast(shape[2], tf.float32)
  side = tf.minimum(height, width)
  n = shape[0]
  ones = tf.ones([n], tf.float32)
  top = ones * tf.floor((height - side) / 2)
  left = ones * tf.floor((width - side) / 2)
  crops = crop_and_resize(images, top, left, ones * side, ones * side, size)
  return tf.cast(tf.clip_by_value(tf.round(crops), 0, 255), tf.uint8)
