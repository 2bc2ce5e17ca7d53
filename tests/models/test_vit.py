"""ViT: sin-cos embedding, presets, pooling, encoding kept tokens only."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax.models import vit


def test_sincos_layout():
  emb = vit.sincos_2d(8, 2, 3)
  assert emb.shape == (6, 8)
  # Token (row 0, col 0): sin(0)=0 and cos(0)=1 in both halves.
  np.testing.assert_allclose(emb[0], [0, 0, 1, 1, 0, 0, 1, 1])
  # First half encodes the column: tokens in one column share it.
  np.testing.assert_allclose(emb[0, :4], emb[3, :4])
  np.testing.assert_allclose(emb[1, 4:], emb[0, 4:])
  np.testing.assert_allclose(emb[1, 0], np.sin(1.0))


def test_presets_and_output_shapes():
  model = vit.ViT(variant='tiny', depth=1, patch_size=4)
  x = jnp.ones((2, 16, 16, 3))
  variables = model.init(jax.random.PRNGKey(0), x)
  assert model.apply(variables, x).shape == (2, 192) == (2, model.feature_dim)
  tokens = model.apply(variables, x, return_tokens=True)
  assert tokens.shape == (2, 1 + 16, 192)


def test_registers_and_mean_pool():
  model = vit.ViT(dim=16, depth=1, heads=2, patch_size=4, num_registers=2,
                  pool='mean')
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(1), x)
  tokens = model.apply(variables, x, return_tokens=True)
  assert tokens.shape == (2, 1 + 2 + 4, 16)
  np.testing.assert_allclose(model.apply(variables, x),
                             tokens[:, 3:].mean(1), rtol=1e-5)


def test_keep_indices_equal_the_full_encoder_on_the_gathered_sequence():
  # With pos-embeddings added before the gather, encoding the kept patches
  # equals encoding a sequence made of just those patches at their places.
  model = vit.ViT(dim=16, depth=2, heads=2, patch_size=4, cls_token=True)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(1), x)
  keep = jnp.array([[0, 3], [2, 1]])
  kept = model.apply(variables, x, keep=keep, return_tokens=True)
  assert kept.shape == (2, 3, 16)
  # Brute force: zero every other patch's contribution is not the same, so
  # compare with a re-implementation that gathers after the embedding.
  params = variables['params']
  patches = jax.lax.conv_general_dilated(
      x, params['patch_embed']['kernel'], (4, 4), 'VALID',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + params['patch_embed'][
          'bias']
  seq = patches.reshape(2, 4, 16) + vit.sincos_2d(16, 2, 2)[None]
  seq = jnp.take_along_axis(seq, keep[..., None], axis=1)
  seq = jnp.concatenate([jnp.broadcast_to(params['cls'], (2, 1, 16)), seq], 1)
  for i in range(2):
    seq = vit.Block(2).apply({'params': params[f'block{i}']}, seq)
  seq = vit.nn.LayerNorm(epsilon=1e-6).apply({'params': params['norm']}, seq)
  np.testing.assert_allclose(kept, seq, rtol=1e-5, atol=1e-5)


def test_bad_options():
  x = jnp.ones((1, 8, 8, 1))
  with pytest.raises(ValueError, match='variant'):
    vit.ViT(variant='huge2').init(jax.random.PRNGKey(0), x)
  with pytest.raises(ValueError, match='divisible'):
    vit.ViT(dim=8, depth=1, heads=2, patch_size=3).init(
        jax.random.PRNGKey(0), x)


def test_keep_with_clones_equals_repeated_images():
  # keep [N, C, K]: C masked copies of each image from one patch embedding,
  # the same as repeating the images and using keep [N * C, K].
  model = vit.ViT(dim=16, depth=1, heads=2, patch_size=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(1), x)
  keep = jnp.array([[[0, 3], [1, 2], [3, 1]], [[2, 0], [0, 1], [1, 3]]])
  clones = model.apply(variables, x, keep=keep, return_tokens=True)
  repeated = model.apply(variables, jnp.repeat(x, 3, axis=0),
                         keep=keep.reshape(6, 2), return_tokens=True)
  assert clones.shape == (6, 3, 16)
  np.testing.assert_allclose(clones, repeated, rtol=1e-6, atol=1e-6)


def test_ffn_outputs_and_final_norm_option():
  model = vit.ViT(dim=16, depth=2, heads=2, patch_size=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(1), x)
  tokens, ffn = model.apply(variables, x, return_ffn=True)
  assert ffn.shape == (2, 2, 5, 16)
  # Same params and output as the plain call (return_ffn changes nothing).
  np.testing.assert_allclose(
      tokens, model.apply(variables, x, return_tokens=True), rtol=1e-6)
  # Block 1's FFN output = its output minus its input after attention:
  # recompute block 1 by hand from block 0's output.
  params = variables['params']
  seq = jax.lax.conv_general_dilated(
      x, params['patch_embed']['kernel'], (4, 4), 'VALID',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + params['patch_embed'][
          'bias']
  seq = seq.reshape(2, 4, 16) + vit.sincos_2d(16, 2, 2)[None]
  seq = jnp.concatenate([jnp.broadcast_to(params['cls'], (2, 1, 16)), seq], 1)
  seq = vit.Block(2).apply({'params': params['block0']}, seq)
  out, ffn1 = vit.Block(2, return_ffn=True).apply(
      {'params': params['block1']}, seq)
  np.testing.assert_allclose(ffn[1], ffn1, rtol=1e-5, atol=1e-6)
  unnormed = model.apply(variables, x, return_tokens=True, final_norm=False)
  np.testing.assert_allclose(unnormed, out, rtol=1e-5, atol=1e-6)
  assert model.num_prefix_tokens == 1 and model.num_blocks == 2
  np.testing.assert_allclose(model.pool_tokens(tokens),
                             model.apply(variables, x), rtol=1e-6)


def test_huge_preset():
  assert vit.PRESETS['huge'] == dict(dim=1280, depth=32, heads=16)


def test_gelu_equals_the_exact_erfc_form_in_value_and_gradient():
  x = jnp.linspace(-10.0, 10.0, 4001)
  exact = lambda v: jax.nn.gelu(v, approximate=False)
  np.testing.assert_allclose(vit.gelu(x), exact(x), atol=2e-6)
  grad = lambda f: jax.vmap(jax.grad(f))(x)
  np.testing.assert_allclose(grad(vit.gelu), grad(exact), atol=2e-6)
  # Not the tanh approximation (they differ by up to ~5e-4 near |x| = 2).
  assert float(jnp.max(jnp.abs(vit.gelu(x) - jax.nn.gelu(x)))) > 1e-4


def test_masks_replace_patch_embeddings_by_the_mask_token():
  # DINOv2's prepare_tokens_with_masks: a masked patch's embedding is the
  # mask token (before positions), whatever its pixels; other patches and
  # unmasked calls are untouched.
  model = vit.ViT(dim=16, depth=1, heads=2, patch_size=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  masks = jnp.array([[True, False, False, True], [False] * 4])
  variables = jax.jit(functools.partial(model.init, masks=masks))(
      jax.random.PRNGKey(1), x)
  token = variables['params']['mask_token']
  np.testing.assert_array_equal(token, np.zeros((1, 1, 16)))  # torch.zeros.
  variables['params']['mask_token'] = token + 0.5
  # Changing the pixels of image 0's masked patches (0 and 3: the top-left
  # and bottom-right 4x4) changes nothing; image 1 (no mask) does change.
  # Rows: x masked, y masked, x with an all-False mask.
  y = x.at[:, :4, :4].add(3.0).at[:, 4:, 4:].add(-2.0)
  out = jax.jit(lambda v, x, m: model.apply(
      v, x, masks=m, return_tokens=True, final_norm=False))(
          variables, jnp.concatenate([x, y, x]),
          jnp.concatenate([masks, masks, jnp.zeros_like(masks)]))
  np.testing.assert_allclose(out[0], out[2], atol=1e-6)
  assert not np.allclose(out[1], out[3])
  # An all-False mask is the plain encoder.
  del variables['params']['mask_token']
  plain = jax.jit(lambda v, x: model.apply(v, x, return_tokens=True,
                                           final_norm=False))(variables, x)
  np.testing.assert_allclose(out[4:], plain, atol=1e-6)


def test_uniform_drop_path_rates():
  np.testing.assert_allclose(vit.drop_path_rates(0.3, 4), [0, 0.1, 0.2, 0.3])
  np.testing.assert_allclose(vit.drop_path_rates(0.3, 4, uniform=True),
                             [0.3] * 4)


def test_layer_scale_of_ones_is_the_plain_block():
  """LayerScale multiplies each residual branch by its own gamma: at init
  1.0 the network is the one without LayerScale, with the same weights."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  plain = vit.ViT(dim=16, depth=2, heads=2, patch_size=4)
  scaled = vit.ViT(dim=16, depth=2, heads=2, patch_size=4,
                   layer_scale_init=1.0)
  variables = plain.init(jax.random.PRNGKey(1), x)
  gammas = scaled.init(jax.random.PRNGKey(1), x)['params']
  merged = dict(variables['params'])
  for i in range(2):
    name = f'block{i}'
    extra = set(gammas[name]) - set(merged[name])
    assert extra == {'ls1', 'ls2'}
    merged[name] = {**merged[name], 'ls1': gammas[name]['ls1'],
                    'ls2': gammas[name]['ls2']}
  np.testing.assert_allclose(scaled.apply({'params': merged}, x),
                             plain.apply(variables, x), rtol=1e-6, atol=1e-6)
  # A gamma of 0 silences its branch: the tokens pass through unchanged.
  zeros = jax.tree_util.tree_map_with_path(
      lambda p, v: jnp.zeros_like(v) if 'ls' in jax.tree_util.keystr(p)
      else v, merged)
  identity = vit.ViT(dim=16, depth=0, heads=2, patch_size=4)
  np.testing.assert_allclose(
      scaled.apply({'params': zeros}, x, return_tokens=True,
                   final_norm=False),
      identity.apply({'params': {k: v for k, v in zeros.items()
                                 if not k.startswith('block')}}, x,
                     return_tokens=True, final_norm=False), atol=1e-6)
