"""Device masks (MAE, data2vec 2.0, DINOv2): exact counts, block geometry,
determinism per (rng, example id), and the official sizes
(docs/methods.md#masking); I-JEPA's are in test_multiblock.py."""

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax.data import masking

KEY = jax.random.PRNGKey(0)


# ----------------------------------------------------------------------- MAE
def test_mae_masks_exact_ratio_and_consistency():
  masks = jax.jit(masking.mae_masks, static_argnums=(2, 3))
  keep, mask = masks(KEY, jnp.arange(8), 196, 0.75)
  assert keep.shape == (8, 49) and mask.shape == (8, 196)
  np.testing.assert_array_equal(mask.sum(1), 147)
  for k, m in zip(np.asarray(keep), np.asarray(mask)):
    assert len(set(k)) == 49 and not m[k].any()
  # Per example: differs between examples and steps, identical for the
  # same (rng, id) whatever the rest of the batch (what makes jit == pmap).
  assert len({tuple(sorted(k)) for k in np.asarray(keep)}) == 8
  keep2, _ = masks(jax.random.PRNGKey(1), jnp.arange(8), 196, 0.75)
  assert not np.array_equal(keep, keep2)
  part, part_mask = masks(KEY, jnp.arange(4, 8), 196, 0.75)
  np.testing.assert_array_equal(part, keep[4:])
  np.testing.assert_array_equal(part_mask, mask[4:])
  np.testing.assert_array_equal(masks(KEY, jnp.arange(8), 196, 0.75)[0],
                                keep)
  assert masking.mae_keep_count(16, 0.75) == 4


def test_mae_masks_are_uniform():
  # Every patch is removed with probability 0.75.
  _, mask = masking.mae_masks(KEY, jnp.arange(2000), 16, 0.75)
  np.testing.assert_allclose(np.asarray(mask).mean(0), 0.75, atol=0.04)


# ------------------------------------------------------------ data2vec 2.0
def test_inverse_block_counts():
  assert masking.inverse_block_counts(196, 0.8, 0.07, 3) == (39, 5)
  assert masking.inverse_block_counts(196, 0.75, 0.1, 3) == (49, 7)  # L.
  assert masking.inverse_block_counts(49, 0.8, 0.07, 3) == (9, 1)


def test_data2vec_masks_counts_clones_and_determinism():
  masks = jax.jit(lambda r, i: masking.data2vec_masks(r, i, (14, 14),
                                                      clones=4))
  keep, mask = masks(KEY, jnp.arange(6))
  assert keep.shape == (6, 4, 39) and mask.shape == (6, 4, 196)
  np.testing.assert_array_equal(mask.sum(-1), 157)  # Exactly 80% masked.
  keep, mask = np.asarray(keep), np.asarray(mask)
  for k, m in zip(keep.reshape(-1, 39), mask.reshape(-1, 196)):
    assert len(set(k)) == 39 and not m[k].any()
  # Every clone of every image differs.
  assert len({tuple(sorted(k)) for k in keep.reshape(-1, 39)}) == 24
  part, _ = masks(KEY, jnp.arange(3, 6))
  np.testing.assert_array_equal(part, keep[3:])


def test_inverse_block_keeps_whole_blocks():
  # One centre, 9 kept on 7x7: the 3x3 block around the centre (clamped to
  # the grid) is always kept whole, topped up with random patches.
  keys = jax.random.split(KEY, 50)
  keep, _ = jax.vmap(masking.inverse_block_keep,
                     (0, None, None, None, None))(keys, (7, 7), 9, 1, 3)
  extra_counts = []
  for k in np.asarray(keep):
    kept = set(k)
    blocks = []
    for centre in range(49):
      r, c = divmod(centre, 7)
      block = {rr * 7 + cc for rr in range(max(r - 1, 0), min(r + 2, 7))
               for cc in range(max(c - 1, 0), min(c + 2, 7))}
      if block <= kept:
        blocks.append(block)
    assert blocks, sorted(kept)
    extra_counts.append(9 - max(len(b) for b in blocks))
  # Edge centres give clamped blocks (4 or 6 patches) plus random extras.
  assert max(extra_counts) > 0 and min(extra_counts) == 0


# ---------------------------------------------------------- DINOv2 / iBOT
def test_ibot_masks_follow_the_official_distribution_per_crop():
  # data/collate.py + masking.py at ViT-L/16, 224 px (14 x 14 = 196
  # patches): half the crops masked, int(196 U(0.1, 0.5)) patches each
  # (19 to 97; the blocks reach it or stop a few short, as the official
  # gives up after 10 attempts that add nothing), the rest empty.
  masks = jax.jit(masking.ibot_masks, static_argnums=(2, 3))
  m = np.asarray(masks(KEY, jnp.arange(256), (14, 14), 2))
  assert m.shape == (256, 2, 196) and m.dtype == bool
  counts = m.sum(-1).ravel()
  on = counts > 0
  assert 0.42 < on.mean() < 0.58  # p = 0.5 over 512 crops (4 sigma).
  assert counts[on].min() >= 10 and counts[on].max() <= 97
  # Uniform ratio in [0.1, 0.5): mean 0.3 (std of the mean ~0.007).
  assert abs(counts[on].mean() / 196 - 0.3) < 0.03
  # Per (rng, id, crop): the same whatever the rest of the batch.
  np.testing.assert_array_equal(
      masks(KEY, jnp.arange(250, 256), (14, 14), 2), m[250:])
  assert not np.array_equal(m[:, 0], m[:, 1])


def test_block_mask_blocks_and_its_limits():
  block = jax.jit(masking.block_mask, static_argnums=(1, 3))
  assert not np.asarray(block(KEY, (14, 14), 0, 98.0)).any()
  keys = jax.random.split(KEY, 50)
  # Never more than asked; mostly exactly that.
  counts = [int(np.asarray(block(key, (14, 14), 40, 98.0)).sum())
            for key in keys[:10]]
  assert max(counts) == 40 and min(counts) >= 30, counts
  # h, w < the grid: a 2 x 2 grid takes only 1 x 1 blocks (area >= 4 ->
  # h or w >= 2 is refused: the official gives up after 10 attempts).
  assert np.asarray(block(KEY, (2, 2), 2, 2.0)).sum() <= 2
