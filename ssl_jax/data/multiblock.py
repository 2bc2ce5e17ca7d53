"""I-JEPA multi-block masks (facebookresearch/ijepa `src/masks/multiblock.py`),
generated on device with static shapes (data/masking.py says why on device).

The official collator, per GPU batch (128 images in the ViT-H/14 recipe):
one uniform draw `r` sets the size (h, w) of every target block, another
the context block's; each image places M target blocks and one context
block; its context is the context block minus all target blocks, valid
when it keeps more than `min_keep` patches (else re-drawn 20 times, then
target constraints dropped from the last one); finally every mask of the
batch is cut to the batch's shortest, in raster order. Target blocks are
never cut (all h * w, one size per batch); contexts are cut to the
shortest clean context of the GPU batch.

Static shapes here (docs/methods.md#i-jepa-multi-block-masks):
  targets  padded to K_t tokens (the largest block the ranges allow: 54 at
           16x16), `target_valid` marks each block's h * w real ones;
  context  padded to K_c = `num_context_tokens` tokens, `context_valid`
           marks the first min(K_c, shortest clean context of the example's
           group) in raster order: a group is `context_group` consecutive
           examples of the global batch (the official per-GPU batch), so
           each example's mask needs every example's clean count. Masks are
           a function of (key, example id), so each call counts the whole
           global batch (`batch_size` examples: a few booleans each) and
           jit, pmap and gradient accumulation give the same masks.
The encoder and predictor ignore invalid tokens (attention key masks) and
the loss averages over valid target tokens only.
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
  """
  grid: tuple[int, int]
  num_context_tokens: int  # K_c, the padded context length.
  batch_size: int  # The global batch: the ids whose contexts are counted.
  context_group: int = 128  # Examples per shortest context (GPU batch).
  num_targets: int = 4  # [npred]
  target_scale: tuple[float, float] = (0.15, 0.2)  # [pred_mask_scale]
  target_aspect: tuple[float, float] = (0.75, 1.5)  # [aspect_ratio]
  context_scale: tuple[float, float] = (0.85, 1.0)  # [enc_mask_scale]
  min_keep: int = 10  # A context must keep more than this.
  allow_overlap: bool = False
  # K_t; None: the largest target block the ranges allow (none is cut).
  num_target_tokens: int | None = None

  def tables(self):
    """(target sizes, context sizes) tables; the context is square."""
    return (block_size_table(self.grid, self.target_scale,
                             self.target_aspect),
            block_size_table(self.grid, self.context_scale, (1.0, 1.0)))

  def counts(self) -> tuple[int, int]:
    """(K_t target tokens per block, K_c context tokens), validated."""
    targets, contexts = self.tables()
    largest_target = int(targets.prod(1).max())
    largest_context = int(contexts.prod(1).max())
    k_t = self.num_target_tokens or largest_target
    if not 1 <= k_t <= largest_target:
      raise ValueError(f'num_target_tokens={k_t}: target blocks hold at '
                       f'most {largest_target} patches.')
    if not 1 <= self.num_context_tokens <= largest_context:
      raise ValueError(
          f'num_context_tokens={self.num_context_tokens} must be in 1..'
          f'{largest_context} (the largest context block).')
    if not (self.context_group >= 1 and self.batch_size >= 1):
      raise ValueError(f'context_group={self.context_group} and batch_size='
                       f'{self.batch_size} must be >= 1.')
    return k_t, self.num_context_tokens


def _place(key, grid, h, w):
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
  """Indices of the True entries of a flat mask in raster order, then the
  others (padding), `count` in all: `torch.nonzero(mask)` padded."""
  return jnp.argsort(jnp.logical_not(selected).astype(jnp.int32),
                     stable=True)[:count].astype(jnp.int32)


def _image_blocks(key, spec: MultiBlock, target_hw, context_hw):
  """One image: target blocks [M, L], context block [L] and its clean
  patches [L] (bool), the latter after the official relaxation: with fewer
  than min_keep + 1 clean patches, target constraints are dropped from the
  last one (the official first re-draws the context position 20 times; at
  16x16 and 7x7 the context block has one position, so this is the same)."""
  m = spec.num_targets
  num_patches = spec.grid[0] * spec.grid[1]
  keys = jax.random.split(key, m + 1)
  blocks = jax.vmap(_place, (0, None, None, None))(
      keys[:m], spec.grid, *target_hw).reshape(m, num_patches)
  context_block = _place(keys[m], spec.grid, *context_hw).reshape(
      num_patches)
  if spec.allow_overlap:
    return blocks, context_block, context_block
  # outside[j] = outside the first j target blocks, j = 0..M.
  outside = jnp.concatenate(
      [jnp.ones((1, num_patches), bool),
       jnp.cumprod(jnp.logical_not(blocks).astype(jnp.int32),
                   axis=0).astype(bool)])
  valid = jnp.sum(context_block & outside, axis=1) > spec.min_keep
  # Most constraints that leave a valid context (official relaxation).
  j = jnp.maximum(jnp.max(jnp.where(valid, jnp.arange(m + 1), -1)), 0)
  return blocks, context_block, context_block & outside[j]


def ijepa_masks(rng, example_ids, spec: MultiBlock):
  """I-JEPA multi-block masks, padded to static lengths with validity masks.

  Block sizes come from a 10,000-bin table of r (`block_size_table`), once
  per batch from `rng` (the same on every device, as the official
  per-iteration seed); positions per example from fold_in(key, id).

  Args:
    rng: the step key for masks.
    example_ids: [N] positions in the global batch (< spec.batch_size).
    spec: the collator settings.

  Returns:
    dict with 'context' [N, K_c] int32 (clean patches first, in raster
    order, then the rest of the context block, then other patches),
    'context_valid' [N, K_c] bool, 'context_length' [N] int32 (valid
    context tokens), 'targets' [N, M, K_t] int32 (each block's patches in
    raster order, then padding), 'target_valid' [N, M, K_t] bool, and this
    batch's block sizes 'target_hw', 'context_hw' ([2] int32 (h, w) each).
  """
  k_t, k_c = spec.counts()
  target_table, context_table = (jnp.asarray(t) for t in spec.tables())
  k_size_t, k_size_c, k_examples = jax.random.split(rng, 3)
  target_hw = target_table[jax.random.randint(k_size_t, (), 0,
                                              len(target_table))]
  context_hw = context_table[jax.random.randint(k_size_c, (), 0,
                                                len(context_table))]
  keys_of = lambda ids: jax.vmap(jax.random.fold_in, (None, 0))(k_examples,
                                                                ids)
  blocks_of = lambda key: _image_blocks(key, spec, target_hw, context_hw)

  # The shortest clean context of every group of the global batch; a last
  # partial group (batch_size not a multiple) is a group of its own.
  clean = jax.vmap(lambda key: jnp.sum(blocks_of(key)[2]))(
      keys_of(jnp.arange(spec.batch_size)))
  group = spec.context_group
  num_groups = -(-spec.batch_size // group)
  clean = jnp.pad(clean, (0, num_groups * group - spec.batch_size),
                  constant_values=np.iinfo(np.int32).max)
  shortest = jnp.min(clean.reshape(num_groups, group), axis=1)

  def one(key, example_id):
    blocks, context_block, clean_patches = blocks_of(key)
    targets = jax.vmap(_first_in_raster_order, (0, None))(blocks, k_t)
    priority = (2 * clean_patches.astype(jnp.int32)
                + context_block.astype(jnp.int32))
    context = jnp.argsort(-priority, stable=True)[:k_c].astype(jnp.int32)
    return context, targets, jnp.minimum(k_c, shortest[example_id // group])

  context, targets, length = jax.vmap(one)(keys_of(example_ids), example_ids)
  block_tokens = jnp.minimum(target_hw[0] * target_hw[1], k_t)
  target_valid = jnp.broadcast_to(jnp.arange(k_t) < block_tokens,
                                  targets.shape)
  return {'context': context,
          'context_valid': jnp.arange(k_c)[None] < length[:, None],
          'context_length': length.astype(jnp.int32),
          'targets': targets, 'target_valid': target_valid,
          'target_hw': target_hw, 'context_hw': context_hw}
