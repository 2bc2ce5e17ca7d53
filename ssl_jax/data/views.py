"""View policies: what each augmented view of an image is made of.

A method declares its views as a tuple of `ViewSpec`. The input pipeline reads
the crop fields (host, tf.data); the device augmentation reads the rest (in the
jitted step, from the step's rng). Why the split: crops change the array shape
and need the full-resolution image, which only the host has; everything after
is a cheap elementwise or small-stencil op on the final-size crop, which the
accelerator does for free and deterministically from the step's rng (BYOL's
design). Names and defaults: docs/methods.md#view-policies.
"""

import dataclasses

# How a crop window is resized (data/crops.py, docs/methods.md#crops):
# 'bilinear' without antialiasing (tf.image.crop_and_resize), PIL's
# antialiased BILINEAR (torchvision's RandomResizedCrop default on PIL
# images), TF's tf.image.resize BICUBIC (no antialiasing; SimCLR, BYOL), and
# PIL's antialiased BICUBIC (interpolation=3 / Image.BICUBIC).
INTERPOLATIONS = ('bilinear', 'bilinear_antialias', 'bicubic',
                  'bicubic_antialias')


@dataclasses.dataclass(frozen=True)
class ViewSpec:
  """One augmented view. Probabilities are per image."""
  crop_size: int
  crop_scale: tuple[float, float] = (0.08, 1.0)
  crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
  flip_p: float = 0.5
  # Colour jitter strengths (brightness, contrast, saturation, hue), applied
  # in random order with probability jitter_p; saturation and hue are skipped
  # for single-channel images (their grayscale analogue is the identity).
  jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
  jitter_p: float = 0.8
  gray_p: float = 0.2
  blur_p: float = 0.0
  blur_sigma: tuple[float, float] = (0.1, 2.0)
  solarize_p: float = 0.0
  interpolation: str = 'bilinear'  # One of INTERPOLATIONS.


def _per_view(value, index: int, num_views: int, key: str):
  """A config value given once for all views, or once per view."""
  if isinstance(value, (tuple, list)):
    if len(value) == 1:
      return value[0]
    if len(value) != num_views:
      raise ValueError(f'config.aug.{key}={tuple(value)} gives '
                       f'{len(value)} values for {num_views} views.')
    return value[index]
  return value


def views_from_config(aug, num_views: int) -> tuple[ViewSpec, ...]:
  """`num_views` global views, then `aug.local_crops` local ones (DINO).

  Global views take `aug.crop_*` and the per-view (or shared) probabilities;
  local views take `aug.local_crop_size`, `aug.local_crop_scale`,
  `aug.local_blur_p` and `aug.local_solarize_p`, and the global views'
  flip / jitter / grayscale settings (DINO's multi-crop recipe).
  """
  per_view_keys = ('flip_p', 'jitter_p', 'gray_p', 'blur_p', 'solarize_p')
  common = dict(crop_ratio=tuple(float(v) for v in aug.crop_ratio),
                jitter=tuple(float(v) for v in aug.jitter),
                interpolation=aug.get('interpolation', 'bilinear'))
  specs = []
  for i in range(num_views):
    kwargs = {k: float(_per_view(aug[k], i, num_views, k))
              for k in per_view_keys}
    specs.append(ViewSpec(
        crop_size=int(aug.crop_size),
        crop_scale=tuple(float(v) for v in aug.crop_scale), **common,
        **kwargs))
  for _ in range(aug.get('local_crops', 0)):
    specs.append(ViewSpec(
        crop_size=int(aug.local_crop_size),
        crop_scale=tuple(float(v) for v in aug.local_crop_scale), **common,
        flip_p=float(_per_view(aug.flip_p, 0, num_views, 'flip_p')),
        jitter_p=float(_per_view(aug.jitter_p, 0, num_views, 'jitter_p')),
        gray_p=float(_per_view(aug.gray_p, 0, num_views, 'gray_p')),
        blur_p=float(aug.local_blur_p),
        solarize_p=float(aug.local_solarize_p)))
  return tuple(specs)

