"""Patch masks for masked image modelling, generated on device.

All the generators run inside the jitted train step, from the step's rng,
with shapes fixed by the config (numbers of kept / target / context tokens
are Python ints computed here from the grid and the ratios). Why on device
and not in tf.data: the masks then need no host work or transfer, are a pure
function of (seed, step, example id) like the device augmentation, and the
step compiles once. Randomness follows the Method contract (methods/base.py):
per-batch draws use the step key (the same on every device), per-example
draws `fold_in(key, example_id)` with the example's position in the global
batch, so jit over the mesh and pmap produce identical masks.

  mae_masks        MAE random masking (`models_mae.py: random_masking`).
  ijepa_masks      I-JEPA multi-block masks (`src/masks/multiblock.py`),
                   in data/multiblock.py.
  data2vec_masks   data2vec 2.0 inverse block masks, several per image
                   (fairseq `data_utils.py: compute_block_mask_2d`).
  ibot_masks       DINOv2's block masks of the global crops, a random
                   ratio on half of them (`data/masking.py`, `collate.py`).

Indices are positions in the raster order of the patch grid (the ViT's token
order); masks are 1 for removed / predicted patches.
"""

import jax
import jax.numpy as jnp


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


# -------------------------------------------------------------- DINOv2 / iBOT
def block_mask(key, grid: tuple[int, int], num_masked, max_block: float,
               min_block: int = 4, min_aspect: float = 0.3):
  """One BEiT-style block mask (DINOv2 `data/masking.py: MaskingGenerator`)
  of `num_masked` patches (may be traced; 0: none), bool [H W] raster.

  The official loop, one attempt per iteration: a rectangle of area
  U(min_block, min(left, max_block)) and aspect exp(U(log a, -log a)),
  h = round(sqrt(area aspect)), w = round(sqrt(area / aspect)), placed
  uniformly if h < H and w < W; kept when it adds between 1 and `left`
  new patches (left = num_masked - masked so far). It stops at
  `num_masked` patches or after 10 attempts in a row that add nothing
  (the official `_mask` gives up), so a mask can fall short, as there.
  """
  height, width = grid
  log_aspect = (jnp.log(min_aspect), -jnp.log(min_aspect))
  rows = jnp.arange(height * width) // width
  cols = jnp.arange(height * width) % width

  def attempt(state):
    mask, count, failures, key = state
    key, k_area, k_aspect, k_top, k_left = jax.random.split(key, 5)
    left = jnp.minimum(num_masked - count, max_block)
    area = jax.random.uniform(k_area, (), minval=min_block, maxval=left)
    aspect = jnp.exp(jax.random.uniform(k_aspect, (), minval=log_aspect[0],
                                        maxval=log_aspect[1]))
    h = jnp.round(jnp.sqrt(area * aspect)).astype(jnp.int32)
    w = jnp.round(jnp.sqrt(area / aspect)).astype(jnp.int32)
    top = jax.random.randint(k_top, (), 0, jnp.maximum(height - h, 0) + 1)
    lft = jax.random.randint(k_left, (), 0, jnp.maximum(width - w, 0) + 1)
    block = ((rows >= top) & (rows < top + h) & (cols >= lft) &
             (cols < lft + w))
    new = jnp.sum(block & ~mask)
    ok = (w < width) & (h < height) & (new > 0) & (new <= left)
    return (jnp.where(ok, mask | block, mask), count + jnp.where(ok, new, 0),
            jnp.where(ok, 0, failures + 1), key)

  def going(state):
    _, count, failures, _ = state
    return (count < num_masked) & (failures < 10)

  init = (jnp.zeros((height * width,), bool), jnp.zeros((), jnp.int32),
          jnp.zeros((), jnp.int32), key)
  return jax.lax.while_loop(going, attempt, init)[0]


def ibot_masks(rng, example_ids, grid: tuple[int, int], crops: int, *,
               probability: float = 0.5, ratio=(0.1, 0.5)):
  """DINOv2's masks of the global crops (`data/collate.py`), bool
  [N, crops, H W]: each crop is masked with `probability`, then with
  int(H W U(ratio)) patches in blocks (`block_mask`, blocks of at most
  half the grid, train.py's `max_num_patches`).

  Per crop, from fold_in(fold_in(rng, id), crop) (jit == pmap). The
  official draws per GPU batch: exactly int(B p) of its B crops masked,
  their ratios stratified over `ratio` (one in each of int(B p) equal
  sub-ranges), then shuffled; per crop that is the distribution above,
  which is what a crop here draws on its own.
  """
  num_patches = grid[0] * grid[1]

  def one(key):
    k_on, k_ratio, k_mask = jax.random.split(key, 3)
    fraction = jax.random.uniform(k_ratio, (), minval=ratio[0],
                                  maxval=ratio[1])
    count = jnp.floor(num_patches * fraction).astype(jnp.int32)
    count = jnp.where(jax.random.bernoulli(k_on, probability), count, 0)
    return block_mask(k_mask, grid, count, 0.5 * num_patches)

  def per_image(key):
    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(crops))
    return jax.vmap(one)(keys)

  return jax.vmap(per_image)(_example_keys(rng, example_ids))
