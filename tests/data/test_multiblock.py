"""I-JEPA multi-block masks: the official block sizes, every target token
kept (padded with a validity mask), the context cut to the shortest clean
context of its group as the official collator cuts it per GPU batch, and
determinism per (rng, example id) (docs/methods.md#i-jepa-multi-block-masks).
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax.data import multiblock


def test_block_sizes_follow_the_official_formula():
  grid = (16, 16)
  target = lambda r: multiblock.block_size(r, grid, (0.15, 0.2), (0.75, 1.5))
  assert target(0.0) == (5, 7)  # n = 38 (docs/methods.md#masking).
  assert target(1.0) == (9, 6)  # n = 51, ar 1.5: round(8.75), round(5.83).
  assert target(0.5) == (7, 6)  # n = 44, ar 1.125: round(7.04), round(6.25).
  # The context is square, at most 15 x 15 (16 would be shrunk).
  context = lambda r: multiblock.block_size(r, grid, (0.85, 1.0), (1.0, 1.0))
  assert context(0.0) == context(1.0) == (15, 15)
  table = multiblock.block_size_table(grid, (0.15, 0.2), (0.75, 1.5))
  assert table.shape == (multiblock.TABLE_RESOLUTION, 2)
  sizes = table.prod(1)
  assert sizes.min() == 35 and sizes.max() == 54
  # Scale and aspect ranges, up to the rounding of h and w.
  assert np.all(sizes >= int(0.15 * 256) - 4)
  assert np.all(sizes <= int(0.2 * 256) + 4)
  aspect = table[:, 0] / table[:, 1]
  assert aspect.min() >= 0.7 and aspect.max() <= 1.55
  # Targets padded to the largest block, 54: none is cut.
  spec = lambda **kw: multiblock.MultiBlock(
      grid=grid, **dict(dict(num_context_tokens=112, batch_size=8), **kw))
  assert spec().counts() == (54, 112)
  with pytest.raises(ValueError, match='num_context_tokens'):
    spec(num_context_tokens=226).counts()
  with pytest.raises(ValueError, match='num_target_tokens'):
    spec(num_target_tokens=55).counts()
  with pytest.raises(ValueError, match='context_group'):
    spec(context_group=0).counts()


_IJEPA_MASKS = jax.jit(multiblock.ijepa_masks, static_argnums=2)


def _ijepa(spec, seed, n, first_id=0):
  return jax.tree.map(np.asarray, _IJEPA_MASKS(
      jax.random.PRNGKey(seed), jnp.arange(first_id, first_id + n), spec))


def _rows_cols(indices, width):
  indices = np.asarray(indices)
  return indices // width, indices % width


def test_every_target_token_and_the_group_shortest_context():
  # K_c = 225 holds every context block patch, so each example's clean
  # context (its first patches, clean ones first) can be counted here.
  spec = multiblock.MultiBlock(grid=(16, 16), num_context_tokens=225,
                               batch_size=32, context_group=8)
  table = {tuple(hw) for hw in multiblock.block_size_table(
      (16, 16), spec.target_scale, spec.target_aspect)}
  seen = collections.Counter()
  for seed in range(3):
    out = _ijepa(spec, seed, 32)
    assert out['context'].shape == out['context_valid'].shape == (32, 225)
    assert out['targets'].shape == out['target_valid'].shape == (32, 4, 54)
    h, w = out['target_hw']
    assert (h, w) in table and tuple(out['context_hw']) == (15, 15)
    seen[(h, w)] += 1
    # Every target block keeps its h * w patches (the official never cuts
    # them), in raster order, then padding marked invalid.
    np.testing.assert_array_equal(out['target_valid'].sum(-1), h * w)
    assert out['target_valid'][..., :h * w].all()
    for i in range(32):
      for block in out['targets'][i]:
        rows, cols = _rows_cols(block[:h * w], 16)
        top, left = rows.min(), cols.min()
        assert top <= 16 - h - 1 and left <= 16 - w - 1
        np.testing.assert_array_equal(
            block[:h * w], [(top + r) * 16 + left + c for r in range(h)
                            for c in range(w)])
    # Each example's clean context: the context block (15 x 15 at the
    # top left) minus the target blocks, dropping the last targets while
    # it keeps <= min_keep = 10 patches (the official relaxation); listed
    # first.
    block = {r * 16 + c for r in range(15) for c in range(15)}
    clean = []
    for i in range(32):
      blocks = [set(t[:h * w]) for t in out['targets'][i]]
      for j in range(4, -1, -1):
        kept = block.difference(*blocks[:j])
        if len(kept) > 10:
          break
      clean.append(len(kept))
      assert set(out['context'][i][:len(kept)]) == kept
    clean = np.array(clean)
    # The official cut: the shortest clean context of each group of 8.
    shortest = np.repeat(clean.reshape(4, 8).min(1), 8)
    np.testing.assert_array_equal(out['context_length'], shortest)
    np.testing.assert_array_equal(out['context_valid'].sum(1), shortest)
    assert out['context_valid'][np.arange(32), shortest - 1].all()
    assert len(set(shortest)) > 1  # The groups differ.
  assert len(seen) > 1  # Block sizes change from batch to batch.


def test_relaxation_and_the_cap():
  # 7x7 grid: the 6x6 context minus 4 target blocks can leave <= 10
  # patches; the official then drops target constraints (last first), so
  # every context keeps > min_keep = 10 clean patches.
  spec = multiblock.MultiBlock(grid=(7, 7), num_context_tokens=36,
                               batch_size=64, context_group=64)
  assert spec.counts() == (12, 36)
  lengths = np.concatenate([_ijepa(spec, s, 64)['context_length']
                            for s in range(4)])
  assert lengths.min() > 10
  # num_context_tokens below the group's shortest caps the length.
  capped = multiblock.MultiBlock(grid=(7, 7), num_context_tokens=11,
                                 batch_size=64, context_group=64)
  np.testing.assert_array_equal(_ijepa(capped, 0, 64)['context_length'], 11)


def test_masks_per_example_and_from_the_whole_batch():
  spec = multiblock.MultiBlock(grid=(16, 16), num_context_tokens=112,
                               batch_size=32, context_group=16)
  a, b = _ijepa(spec, 0, 32), _ijepa(spec, 0, 32)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert len({tuple(t.ravel()) for t in a['targets']}) == 32
  # Examples 8..23 alone (a device's or a micro-batch's rows) get the
  # masks and context lengths they have in the whole batch: the group
  # minima are counted over the global batch.
  part = _ijepa(spec, 0, 16, first_id=8)
  for key in ('targets', 'context', 'context_valid', 'context_length'):
    np.testing.assert_array_equal(part[key], a[key][8:24], err_msg=key)
  np.testing.assert_array_equal(part['target_hw'], a['target_hw'])
  assert not np.array_equal(_ijepa(spec, 1, 32)['targets'], a['targets'])
