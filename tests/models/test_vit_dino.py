"""DINO's ViT parts: the learned position table with a CLS row, resized as
torch's bicubic `interpolate` resizes it for other grids, and stochastic
depth per example (facebookresearch/dino `vision_transformer.py`)."""

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax.models import pos_interp
from ssl_jax.models import vit

# torch.nn.functional.interpolate(mode='bicubic', scale_factor=2.1 / 4) of
# 4 rows to 2 (checked against torch 2.x): output row 0 samples source
# (0 + 0.5) / 0.525 - 0.5 = 0.452381, so t = 0.452381 and the cubic
# convolution (A = -0.75) weighs rows -1, 0, 1, 2 by cc2(1 + t) =
# -0.06049, cc1(t) = 0.61401, cc1(1 - t) = 0.53053, cc2(2 - t) = -0.08405,
# row -1 clamped onto row 0; row 1 samples 2.357143.
BICUBIC_4_TO_2 = [[0.55351744, 0.53053463, -0.08405207, 0.0],
                  [0.0, -0.11069606, 0.76995262, 0.34074344]]


def test_bicubic_matrix_is_torchs():
  np.testing.assert_allclose(pos_interp.bicubic_matrix(4, 2), BICUBIC_4_TO_2,
                             rtol=1e-6)
  # The 0.1 the official adds to the grid makes even 14 -> 14 a blur,
  # which is why it (and the encoder) skip the resize at the table's grid.
  assert not np.allclose(pos_interp.bicubic_matrix(14, 14), np.eye(14),
                         atol=1e-3)


def test_interpolated_positions_in_the_encoder():
  # No blocks, no final norm, zero images: the tokens are the patch
  # embedding's bias plus the positions (the CLS token plus its row).
  model = vit.ViT(dim=8, depth=0, heads=2, patch_size=7,
                  pos_embed='interpolated', pos_grid=4)
  tokens = lambda x, params: model.apply({'params': params}, x,
                                         return_tokens=True,
                                         final_norm=False)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)),
                      return_tokens=True)['params']
  table = np.asarray(params['pos_embed'])
  assert table.shape == (1, 1 + 16, 8)
  bias = np.asarray(params['patch_embed']['bias'])
  cls = np.asarray(params['cls'])[0, 0]
  at_4 = tokens(jnp.zeros((1, 28, 28, 1)), params)[0]
  np.testing.assert_allclose(at_4[0], cls + table[0, 0], rtol=1e-6)
  np.testing.assert_allclose(at_4[1:], bias + table[0, 1:], rtol=1e-6)
  # A 14 px crop: a 2x2 grid, the 4x4 patch rows resized on both axes.
  at_2 = tokens(jnp.zeros((1, 14, 14, 1)), params)[0]
  m = np.asarray(BICUBIC_4_TO_2)
  resized = np.einsum('ij,jkd,lk->ild', m, table[0, 1:].reshape(4, 4, 8), m)
  np.testing.assert_allclose(at_2[0], cls + table[0, 0], rtol=1e-6)
  np.testing.assert_allclose(at_2[1:], bias + resized.reshape(4, 8),
                             rtol=1e-5, atol=1e-6)


def test_drop_path_rates_and_scaling():
  # torch.linspace(0, rate, depth); depth 1 drops nothing.
  np.testing.assert_allclose(vit.drop_path_rates(0.1, 3), [0, 0.05, 0.1])
  np.testing.assert_allclose(vit.drop_path_rates(0.1, 1), [0.0])
  keys = jax.random.split(jax.random.PRNGKey(0), 4000)
  out = vit.drop_path(jnp.ones((4000, 2, 3)), keys, 0.25)
  keep = jax.vmap(lambda k: jax.random.bernoulli(k, 0.75))(keys)
  # Kept rows scaled by 1 / (1 - 0.25), dropped rows zero, per example.
  expected = np.broadcast_to(np.where(keep, 1 / 0.75, 0.0)[:, None, None],
                             out.shape)
  np.testing.assert_allclose(out, expected, rtol=1e-6)
  assert abs(float(keep.mean()) - 0.75) < 0.03


def test_a_block_whose_branches_are_both_dropped_is_skipped():
  # Depth 2, drop_path 0.5: block 1 drops each branch with p 0.5, block 0
  # never. An example whose block-1 attention and MLP branches both drop
  # (keys fold_in(fold_in(key, 1), 0 | 1)) leaves block 1 as the identity:
  # its output is the depth-1 network's on the same weights.
  model = vit.ViT(dim=8, depth=2, heads=2, patch_size=7, drop_path=0.5)
  x = jax.random.normal(jax.random.PRNGKey(0), (16, 14, 14, 1))
  params = model.init(jax.random.PRNGKey(1), x)['params']
  keys = jax.random.split(jax.random.PRNGKey(2), 16)
  trained = model.apply({'params': params}, x, drop_keys=keys)
  shallow = vit.ViT(dim=8, depth=1, heads=2, patch_size=7).apply(
      {'params': {k: v for k, v in params.items() if k != 'block1'}}, x)
  dropped = lambda branch: ~jax.vmap(lambda k: jax.random.bernoulli(
      jax.random.fold_in(jax.random.fold_in(k, 1), branch), 0.5))(keys)
  both = np.asarray(dropped(0) & dropped(1))
  assert 0 < both.sum() < 16
  np.testing.assert_allclose(trained[both], shallow[both], rtol=1e-5,
                             atol=1e-6)
  assert not np.allclose(trained[~both], shallow[~both], atol=1e-3)
  # Without keys (evaluation, the teacher) nothing is dropped.
  full = model.apply({'params': params}, x)
  assert not np.allclose(full[both], shallow[both], atol=1e-3)
