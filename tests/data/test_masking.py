"""Device masks: exact counts, block geometry, determinism per (rng, example
id), and the official sizes (docs/methods.md#masking)."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


# -------------------------------------------------------------------- I-JEPA
def test_block_sizes_follow_the_official_formula():
  grid = (16, 16)
  target = lambda r: masking.block_size(r, grid, (0.15, 0.2), (0.75, 1.5))
  assert target(0.0) == (5, 7)  # n = 38 (docs/methods.md#masking).
  assert target(1.0) == (9, 6)  # n = 51, ar 1.5: round(8.75), round(5.83).
  assert target(0.5) == (7, 6)  # n = 44, ar 1.125: round(7.04), round(6.25).
  # The context is square, at most 15 x 15 (16 would be shrunk).
  context = lambda r: masking.block_size(r, grid, (0.85, 1.0), (1.0, 1.0))
  assert context(0.0) == context(1.0) == (15, 15)
  table = masking.block_size_table(grid, (0.15, 0.2), (0.75, 1.5))
  assert table.shape == (masking.TABLE_RESOLUTION, 2)
  sizes = table.prod(1)
  assert sizes.min() == 35 and sizes.max() == 54
  # Scale and aspect ranges, up to the rounding of h and w.
  assert np.all(sizes >= int(0.15 * 256) - 4)
  assert np.all(sizes <= int(0.2 * 256) + 4)
  aspect = table[:, 0] / table[:, 1]
  assert aspect.min() >= 0.7 and aspect.max() <= 1.55
  spec = masking.MultiBlock(grid=grid, num_context_tokens=64)
  assert spec.counts() == (35, 64)
  with pytest.raises(ValueError, match='num_context_tokens'):
    masking.MultiBlock(grid=grid, num_context_tokens=226).counts()
  with pytest.raises(ValueError, match='num_target_tokens'):
    masking.MultiBlock(grid=grid, num_context_tokens=64,
                       num_target_tokens=36).counts()


def _rows_cols(indices, width):
  indices = np.asarray(indices)
  return indices // width, indices % width


_IJEPA_MASKS = jax.jit(masking.ijepa_masks, static_argnums=2)


def _ijepa(spec, seed, n, first_id=0):
  return jax.tree.map(np.asarray, _IJEPA_MASKS(
      jax.random.PRNGKey(seed), jnp.arange(first_id, first_id + n), spec))


def test_ijepa_masks_geometry_and_disjointness():
  spec = masking.MultiBlock(grid=(16, 16), num_context_tokens=64)
  k_t, k_c = spec.counts()
  table = {tuple(hw) for hw in masking.block_size_table(
      (16, 16), spec.target_scale, spec.target_aspect)}
  seen = collections.Counter()
  for seed in range(4):
    out = _ijepa(spec, seed, 32)
    assert out['context'].shape == (32, k_c)
    assert out['targets'].shape == (32, 4, k_t)
    h, w = out['target_hw']
    ch, cw = out['context_hw']
    assert (h, w) in table and (ch, cw) == (15, 15)
    seen[(h, w)] += 1
    for i in range(32):
      for block in out['targets'][i]:
        rows, cols = _rows_cols(block, 16)
        top, left = rows.min(), cols.min()
        # The first K_t patches in raster order of an h x w block whose
        # top-left corner is drawn from randint(0, 16 - h) (exclusive).
        assert top <= 16 - h - 1 and left <= 16 - w - 1
        expected = [(top + r) * 16 + left + c for r in range(h)
                    for c in range(w)][:k_t]
        np.testing.assert_array_equal(block, expected)
      context = out['context'][i]
      assert len(set(context)) == k_c
      rows, cols = _rows_cols(context, 16)
      assert rows.max() - rows.min() < ch and cols.max() - cols.min() < cw
      if out['context_filled'][i] == 0:
        assert not set(context) & set(out['targets'][i].ravel())
  assert len(seen) > 1  # Block sizes change from batch to batch.
  # Clean contexts almost always (0.45% filled in the official statistics).
  assert out['context_filled'].mean() < 2


def test_ijepa_relaxation_keeps_more_than_min_keep():
  # 7x7 grid: the 6x6 context minus 4 target blocks can leave <= 10
  # patches; the official then drops target constraints (last first), so
  # every context keeps > min_keep = 10 clean patches: none is filled.
  spec = masking.MultiBlock(grid=(7, 7), num_context_tokens=11)
  assert spec.counts() == (6, 11)
  filled = np.concatenate([_ijepa(spec, s, 64)['context_filled']
                           for s in range(4)])
  np.testing.assert_array_equal(filled, 0)
  # Asking for more context than some images have fills those up with
  # patches of their context block, never leaving it.
  spec = masking.MultiBlock(grid=(7, 7), num_context_tokens=30)
  out = _ijepa(spec, 0, 64)
  assert out['context_filled'].max() > 0
  for context in out['context']:
    rows, cols = _rows_cols(context, 7)
    assert rows.max() < 6 and cols.max() < 6  # The one 6x6 position.


def test_ijepa_masks_per_example_and_deterministic():
  spec = masking.MultiBlock(grid=(16, 16), num_context_tokens=64)
  a, b = _ijepa(spec, 0, 32), _ijepa(spec, 0, 32)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert len({tuple(t.ravel()) for t in a['targets']}) == 32
  # Examples 16..47: the shared ids 16..31 get the same masks, the block
  # sizes (per batch) are the same.
  part = _ijepa(spec, 0, 32, first_id=16)
  np.testing.assert_array_equal(part['targets'][:16], a['targets'][16:])
  np.testing.assert_array_equal(part['context'][:16], a['context'][16:])
  np.testing.assert_array_equal(part['target_hw'], a['target_hw'])
  assert not np.array_equal(_ijepa(spec, 1, 32)['targets'], a['targets'])


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
