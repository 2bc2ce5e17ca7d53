"""Patch masks for masked image modelling, generated on device.

All three generators run inside the jitted train step, from the step's rng,
with shapes fixed by the config (numbers of kept / target / context tokens
are Python ints computed here from the grid and the ratios). Why on device
and not in tf.data: the masks then need no host work or transfer, are a pure
function of (seed, step, example id) like the device augmentation, and the
step compiles once. Randomness follows the Method contract (methods/base.py):
per-batch draws use the step key (the same on every device), per-example
draws `fold_in(key, example_id)` with the example's position in the global
batch, so jit over the mesh and pmap produce identical masks.

  mae_masks        MAE random masking (`models_mae.py: random_masking`).
  ijepa_masks      I-JEPA multi-block masks (`src/masks/multiblock.py`).
  data2vec_masks   data2vec 2.0 inverse block masks, several per image
                   (fairseq `data_utils.py: compute_block_mask_2d`).

Indices are positions in the raster order of the patch grid (the ViT's token
order); masks are 1 for removed / predicted patches.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

# Block sizes are drawn from a table of this many equally spaced values of
# the official uniform draw r (midpoints), computed exactly in float64.
TABLE_RESOLUTION = 10_000


def _example_keys(rng, example_ids):
  return jax.vmap(jax.random.fold_in, (None, 0))(rng, example_ids)


# ----------------------------------------------------------------------- MAE
def mae_keep_count(num_patches: int, mask_ratio: float) -> int:
  """MAE's `len_keep = int(L * (1 - mask_ratio))` (49 of 196 at 0.75)."""
  return int(num_patches * (1 - mask_ratio))


def random_masking(key, num_patches: int, num_keep: int):
  """One image: keep the `num_keep` patches of lowest uniform noise.

  Returns (keep [num_keep] int32 in shuffle order, mask [L] float32 with
  1 = removed), as `ids_shuffle[:len_keep]` and the unshuffled mask.
  """
  noise = jax.random.uniform(key, (num_patches,))
  keep = jnp.argsort(noise)[:num_keep].astype(jnp.int32)
  mask = jnp.ones((num_patches,), jnp.float32).at[keep].set(0.0)
  return keep, mask


def mae_masks(rng, example_ids, num_patches: int, mask_ratio: float):
  """Per-example random masks: (keep [N, K] int32, mask [N, L] float32)."""
  num_keep = mae_keep_count(num_patches, mask_ratio)
  if not 0 < num_keep <= num_patches:
    raise ValueError(f'mask_ratio {mask_ratio} keeps {num_keep} of '
                     f'{num_patches} patches.')
  keys = _example_keys(rng, example_ids)
  return jax.vmap(random_masking, (0, None, None))(keys, num_patches,
                                                   num_keep)


# -------------------------------------------------------------------- I-JEPA
def block_size(r: float, grid: tuple[int, int], scale, aspect):
  """I-JEPA's `_sample_block_size` for one uniform draw r (float64).

  The same r sets scale and aspect ratio (= h / w):
  n = int(H W (s0 + r (s1 - s0))), ar = a0 + r (a1 - a0),
  h = round(sqrt(n ar)), w = round(sqrt(n / ar)), then h <= H - 1,
  w <= W - 1. Example: 16x16 grid, targets (0.15, 0.2) x (0.75, 1.5),
  r = 0 -> n = 38, (h, w) = (5, 7).
  """
  height, width = grid
  n = int(height * width * (scale[0] + r * (scale[1] - scale[0])))
  ar = aspect[0] + r * (aspect[1] - aspect[0])
  h = int(round(math.sqrt(n * ar)))
  w = int(round(math.sqrt(n / ar)))
  return min(h, height - 1), min(w, width - 1)


@functools.lru_cache(maxsize=32)
def _table(grid, scale, aspect, resolution):
  table = np.array([block_size((i + 0.5) / resolution, grid, scale, aspect)
                    for i in range(resolution)], np.int32)
  table.flags.writeable = False
  return table


def block_size_table(grid, scale, aspect,
                     resolution: int = TABLE_RESOLUTION) -> np.ndarray:
  """[resolution, 2] int32 (h, w) for r at the midpoints of `resolution`
  equal bins of [0, 1): drawing a row uniformly reproduces the official
  size distribution up to the bin width."""
  as_tuple = lambda v: tuple(float(x) for x in v)
  return _table(tuple(int(g) for g in grid), as_tuple(scale), as_tuple(aspect),
                int(resolution))


@dataclasses.dataclass(frozen=True)
class MultiBlock:
  """I-JEPA's mask collator settings (official names in brackets).

  Defaults are the ViT-H/14 config `in1k_vith14_ep300.yaml`.
  num_context_tokens replaces the official per-batch truncation to the
  shortest context (static shapes; see `ijepa_masks`).
  """
  grid: tuple[int, int]
  num_context_tokens: int
  num_targets: int = 4  # [npred]
  target_scale: tuple[float, float] = (0.15, 0.2)  # [pred_mask_scale]
  target_aspect: tuple[float, float] = (0.75, 1.5)  # [aspect_ratio]
  context_scale: tuple[float, float] = (0.85, 1.0)  # [enc_mask_scale]
  min_keep: int = 10  # A context must keep more than this.
  allow_overlap: bool = False
  # None: the smallest target block the scale/aspect ranges allow.
  num_target_tokens: int | None = None

  def tables(self):
    """(target sizes, context sizes) tables; the context is square."""
    return (block_size_table(self.grid, self.target_scale,
                             self.target_aspect),
            block_size_table(self.grid, self.context_scale, (1.0, 1.0)))

  def counts(self) -> tuple[int, int]:
    """(target tokens per block, context tokens), validated."""
    targets, contexts = self.tables()
    smallest_target = int(targets.prod(1).min())
    smallest_context = int(contexts.prod(1).min())
    k_t = self.num_target_tokens or smallest_target
    if not 1 <= k_t <= smallest_target:
      raise ValueError(f'num_target_tokens={k_t}: target blocks can be as '
                       f'small as {smallest_target} patches.')
    if not 1 <= self.num_context_tokens <= smallest_context:
      raise ValueError(
          f'num_context_tokens={self.num_context_tokens} must be in 1..'
          f'{smallest_context} (the smallest context block).')
    return k_t, self.num_context_tokens


def _block(key, grid, h, w):
  """[H, W] bool block of h x w patches; top ~ randint(0, H - h) (exclusive
  upper bound, as `torch.randint`), left likewise."""
  height, width = grid
  k_top, k_left = jax.random.split(key)
  top = jax.random.randint(k_top, (), 0, height - h)
  left = jax.random.randint(k_left, (), 0, width - w)
  rows = jnp.arange(height)[:, None]
  cols = jnp.arange(width)[None, :]
  return ((rows >= top) & (rows < top + h) & (cols >= left) &
          (cols < left + w))


def _first_in_raster_order(selected, count: int):
  """Indices of the first `count` True entries of a flat mask (raster order),
  then the others: `torch.nonzero(mask)[:count]` when enough are True."""
  return jnp.argsort(jnp.logical_not(selected).astype(jnp.int32),
                     stable=True)[:count].astype(jnp.int32)


def ijepa_masks(rng, example_ids, spec: MultiBlock):
  """I-JEPA multi-block masks with static token counts.

  As the official collator: one uniform draw per batch sets the size of all
  target blocks and another the context block size (here from the step key,
  the same on every device); each image places `num_targets` target blocks
  and one context block uniformly; the context is its block minus all target
  blocks, valid when it keeps more than `min_keep` patches.

  Differences, all from static shapes:
  - Target blocks keep their first K_t patches in raster order, K_t = the
    smallest block the ranges allow (35 of 35..54 at 16x16): the official
    blocks of one batch all have h*w patches and are never cut.
  - The context keeps its first `num_context_tokens` patches in raster order
    (the official keeps the batch's shortest context length, which varies
    per batch). An image with fewer clean context patches fills up with
    patches of its context block that lie under target blocks
    (`context_filled` counts them; 0.45% of images at 16x16 with 64 tokens).
  - An invalid context drops target constraints from the last one, as the
    official does after 20 failed tries; the official first re-draws the
    context position up to 20 times. At 16x16 (and 7x7) the context block is
    15x15 (6x6) and has one possible position, so this is the same.
  - Block sizes come from a 10,000-bin table of r (`block_size_table`).

  Args:
    rng: the step key for masks.
    example_ids: [N] positions in the global batch.
    spec: the collator settings.

  Returns:
    dict with 'context' [N, K_c] int32, 'targets' [N, M, K_t] int32,
    'context_filled' [N] int32 and this batch's block sizes 'target_hw',
    'context_hw' ([2] int32 (h, w) each).
  """
  height, width = spec.grid
  num_patches = height * width
  k_t, k_c = spec.counts()
  target_table, context_table = (jnp.asarray(t) for t in spec.tables())
  k_size_t, k_size_c, k_examples = jax.random.split(rng, 3)
  th, tw = target_table[jax.random.randint(k_size_t, (), 0,
                                           len(target_table))]
  ch, cw = context_table[jax.random.randint(k_size_c, (), 0,
                                            len(context_table))]
  m = spec.num_targets

  def one(key):
    keys = jax.random.split(key, m + 1)
    blocks = jax.vmap(_block, (0, None, None, None))(
        keys[:m], spec.grid, th, tw).reshape(m, num_patches)
    targets = jax.vmap(_first_in_raster_order, (0, None))(blocks, k_t)
    context_block = _block(keys[m], spec.grid, ch, cw).reshape(num_patches)
    if spec.allow_overlap:
      allowed = context_block
    else:
      # outside[j] = outside the first j target blocks, j = 0..M.
      outside = jnp.concatenate(
          [jnp.ones((1, num_patches), bool),
           jnp.cumprod(jnp.logical_not(blocks).astype(jnp.int32),
                       axis=0).astype(bool)])
      counts = jnp.sum(context_block & outside, axis=1)
      valid = counts > spec.min_keep
      # Most constraints that leave a valid context (official relaxation).
      j = jnp.maximum(jnp.max(jnp.where(valid, jnp.arange(m + 1), -1)), 0)
      allowed = context_block & outside[j]
    priority = 2 * allowed.astype(jnp.int32) + context_block.astype(jnp.int32)
    context = jnp.argsort(-priority, stable=True)[:k_c].astype(jnp.int32)
    filled = jnp.maximum(k_c - jnp.sum(allowed), 0).astype(jnp.int32)
    return context, targets, filled

  context, targets, filled = jax.vmap(one)(_example_keys(k_examples,
                                                         example_ids))
  return {'context': context, 'targets': targets, 'context_filled': filled,
          'target_hw': jnp.stack([th, tw]), 'context_hw': jnp.stack([ch, cw])}


# ------------------------------------------------------------ data2vec 2.0
def inverse_block_counts(num_patches: int, mask_prob: float,
                         mask_prob_adjust: float,
                         mask_length: int) -> tuple[int, int]:
  """(kept patches, block centres) of an inverse block mask, as fairseq:
  keep p = 1 - mask_prob, centres int(L (p + adjust) / length^2), kept
  int(L p). ViT-B/16 at 224 (L 196, 0.8, 0.07, 3): 39 kept, 5 centres."""
  keep_prob = 1 - mask_prob
  num_centres = int(num_patches * ((keep_prob + mask_prob_adjust) /
                                   mask_length**2))
  return int(num_patches * keep_prob), num_centres


def inverse_block_keep(key, grid: tuple[int, int], num_keep: int,
                       num_centres: int, mask_length: int):
  """One inverse block mask: union of `num_centres` mask_length^2 blocks
  around centres drawn uniformly with replacement (clamped to the grid),
  then exactly `num_keep` kept: a uniform subset of the blocks if they hold
  more, else all of them plus uniform other patches (fairseq's multinomial
  un-keeping / keeping, same distribution).

  Returns (keep [num_keep] int32, mask [L] float32 with 1 = masked).
  """
  height, width = grid
  num_patches = height * width
  k_centres, k_noise = jax.random.split(key)
  centres = jax.random.randint(k_centres, (num_centres,), 0, num_patches)
  lo = -(mask_length // 2)
  hi = lo + mask_length - 1
  rows = jnp.arange(num_patches) // width
  cols = jnp.arange(num_patches) % width
  d_row = rows[None] - (centres // width)[:, None]
  d_col = cols[None] - (centres % width)[:, None]
  in_blocks = jnp.any((d_row >= lo) & (d_row <= hi) & (d_col >= lo) &
                      (d_col <= hi), axis=0)
  score = in_blocks + jax.random.uniform(k_noise, (num_patches,))
  keep = jax.lax.top_k(score, num_keep)[1].astype(jnp.int32)
  mask = jnp.ones((num_patches,), jnp.float32).at[keep].set(0.0)
  return keep, mask


def data2vec_masks(rng, example_ids, grid: tuple[int, int], *, clones: int,
                   mask_prob: float = 0.8, mask_prob_adjust: float = 0.07,
                   mask_length: int = 3):
  """`clones` independent inverse block masks per image.

  Returns (keep [N, C, K] int32, mask [N, C, L] float32, 1 = masked);
  clone c of example i uses fold_in(fold_in(rng, id_i), c).
  """
  num_patches = grid[0] * grid[1]
  num_keep, num_centres = inverse_block_counts(num_patches, mask_prob,
                                               mask_prob_adjust, mask_length)
  if not 0 < num_keep < num_patches:
    raise ValueError(f'mask_prob {mask_prob} keeps {num_keep} of '
                     f'{num_patches} patches.')

  def per_image(key):
    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(clones))
    return jax.vmap(inverse_block_keep, (0, None, None, None, None))(
        keys, grid, num_keep, num_centres, mask_length)

  return jax.vmap(per_image)(_example_keys(rng, example_ids))
