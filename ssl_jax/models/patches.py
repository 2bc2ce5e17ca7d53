"""Images <-> sequences of flattened patches (MAE's `patchify`/`unpatchify`).

Patches are taken in raster order of the patch grid (row-major, the order of
the ViT's tokens and of the masks in ssl_jax/data/masking.py); inside a patch
the values are ordered row p, column q, channel c fastest: MAE's
`nchpwq -> nhwpqc` (`models_mae.py`), written here for NHWC images.
`patch_grid` is the training crop's grid, which the masked methods (MAE,
I-JEPA, data2vec 2.0) draw their masks on.
"""

import jax
import jax.numpy as jnp

from ssl_jax import errors
from ssl_jax import models


def patch_grid(config) -> tuple[int, int]:
  """(rows, columns) of patches of a training crop; checks the backbone.

  Raises:
    errors.ConfigError: the backbone has no token output, or the crop is
      not a multiple of the patch size (the key named).
  """
  if not models.token_output(models.backbone_class(config.backbone.name)):
    raise errors.ConfigError(
        f'config.backbone.name={config.backbone.name!r}: method '
        f'{config.method.name!r} needs a backbone with token output (a ViT, '
        'name=vit; models/__init__.py: token_output).')
  p, size = config.backbone.patch_size, config.aug.crop_size
  if size % p:
    raise errors.ConfigError(
        f'config.aug.crop_size={size} is not a multiple of '
        f'config.backbone.patch_size={p}.')
  return size // p, size // p


def patchify(images: jax.Array, patch_size: int) -> jax.Array:
  """[N, H, W, C] -> [N, (H/p)(W/p), p*p*C].

  Example (docs/methods.md#mae): arange(48) as NCHW [1, 3, 4, 4], p = 2
  -> first patch [0, 16, 32, 1, 17, 33, 4, 20, 36, 5, 21, 37].
  """
  n, h, w, c = images.shape
  p = patch_size
  if h % p or w % p:
    raise ValueError(f'Image {h}x{w} not divisible by patch {p}.')
  x = images.reshape(n, h // p, p, w // p, p, c)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(patches: jax.Array, patch_size: int,
               grid: tuple[int, int] | None = None) -> jax.Array:
  """[N, L, p*p*C] -> [N, H, W, C], the inverse of `patchify`.

  `grid` = (rows, columns) of patches; square (sqrt(L) each) by default.
  """
  n, length, dim = patches.shape
  p = patch_size
  if grid is None:
    side = int(round(length ** 0.5))
    grid = (side, side)
  gh, gw = grid
  if gh * gw != length or dim % (p * p):
    raise ValueError(f'{length} patches of {dim} values do not make a '
                     f'{gh}x{gw} grid of {p}x{p} patches.')
  c = dim // (p * p)
  x = patches.reshape(n, gh, gw, p, p, c)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(n, gh * p, gw * p, c)


def unshuffle(visible: jax.Array, keep: jax.Array, filler: jax.Array,
              num_patches: int) -> jax.Array:
  """Puts encoded visible tokens back at their grid positions.

  MAE's `torch.gather(cat(x, mask_tokens), ids_restore)` as a scatter:
  `visible` [N, K, D] goes to positions `keep` [N, K] of a [N, L, D]
  sequence (L = num_patches) whose other positions hold `filler`
  (broadcastable to [N, L, D]: MAE's shared mask token, data2vec's noise).
  """
  n, _, d = visible.shape
  full = jnp.broadcast_to(filler, (n, num_patches, d)).astype(visible.dtype)
  return full.at[jnp.arange(n)[:, None], keep].set(visible)
