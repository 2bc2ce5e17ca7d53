"""patchify / unpatchify: MAE's order (docs/methods.md#mae), round trip,
unshuffle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax.models import patches


def test_patch_order_matches_mae():
  # MAE's check is on NCHW arange(48) [1, 3, 4, 4]; our images are NHWC.
  nchw = np.arange(48).reshape(1, 3, 4, 4)
  x = patches.patchify(jnp.asarray(nchw.transpose(0, 2, 3, 1)), 2)
  assert x.shape == (1, 4, 12)
  np.testing.assert_array_equal(x[0, 0],
                                [0, 16, 32, 1, 17, 33, 4, 20, 36, 5, 21, 37])
  # Raster order of patches: patch 1 is the top-right one.
  np.testing.assert_array_equal(x[0, 1, :3], [2, 18, 34])


def test_round_trip_square_and_rectangular():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 12, 3))
  p = patches.patchify(x, 4)
  assert p.shape == (2, 6, 48)
  np.testing.assert_array_equal(patches.unpatchify(p, 4, grid=(2, 3)), x)
  y = jax.random.normal(jax.random.PRNGKey(1), (1, 28, 28, 1))
  np.testing.assert_array_equal(
      patches.unpatchify(patches.patchify(y, 7), 7), y)


def test_bad_shapes():
  with pytest.raises(ValueError, match='divisible'):
    patches.patchify(jnp.zeros((1, 6, 6, 1)), 4)
  with pytest.raises(ValueError, match='grid'):
    patches.unpatchify(jnp.zeros((1, 5, 16)), 4)


def test_unshuffle_puts_tokens_back():
  visible = jnp.arange(12.).reshape(2, 2, 3)
  keep = jnp.array([[3, 0], [1, 2]])
  out = patches.unshuffle(visible, keep, jnp.full((1, 1, 3), -1.), 4)
  expected = -np.ones((2, 4, 3))
  expected[0, 3], expected[0, 0] = visible[0, 0], visible[0, 1]
  expected[1, 1], expected[1, 2] = visible[1, 0], visible[1, 1]
  np.testing.assert_array_equal(out, expected)
