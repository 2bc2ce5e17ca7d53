"""DINOHead: shapes, the init, and the weight-normalised last layer."""

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax.models import dino_head


def _init(head, x):
  return jax.jit(head.init)(jax.random.PRNGKey(0), x)


def _x(n=6, d=12):
  return jax.random.normal(jax.random.PRNGKey(1), (n, d)) * 3.0


def test_shapes_and_weight_normalised_last_layer():
  head = dino_head.DINOHead(out_dim=50, hidden=32, bottleneck=8)
  x = _x()
  variables = _init(head, x)
  params = variables['params']
  assert set(params) == {'mlp0', 'mlp1', 'mlp2', 'last_layer'}
  assert params['mlp0']['kernel'].shape == (12, 32)
  assert params['mlp1']['kernel'].shape == (32, 32)
  assert params['mlp2']['kernel'].shape == (32, 8)
  assert all('bias' in params[f'mlp{i}'] for i in range(3))
  # norm_last_layer: V only (g == 1 is not a parameter), no bias.
  assert set(params['last_layer']) == {'kernel'}
  assert params['last_layer']['kernel'].shape == (8, 50)
  assert set(variables) == {'params'}  # No BN by default.

  v = np.asarray(params['last_layer']['kernel'], np.float64)
  w = np.asarray(dino_head.normalize_columns(v))
  np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-6)
  # Scaling V changes nothing: only its direction counts.
  scaled = jax.tree.map(lambda a: a, variables)
  scaled['params']['last_layer']['kernel'] = 7.0 * v
  (z, logits), (_, logits_scaled) = jax.jit(
      lambda a, b: (head.apply(a, x), head.apply(b, x)))(variables, scaled)
  assert z.shape == (6, 8) and logits.shape == (6, 50)
  assert z.dtype == logits.dtype == jnp.float32
  np.testing.assert_allclose(logits, logits_scaled, rtol=1e-5, atol=1e-6)
  # logits = n(z) . V_k / ||V_k||: cosines, so |logit| <= 1.
  z = np.asarray(z, np.float64)
  expected = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ (
      v / np.linalg.norm(v, axis=0, keepdims=True))
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
  assert np.abs(logits).max() <= 1.0 + 1e-6


def test_init_matches_the_official_head():
  head = dino_head.DINOHead(out_dim=4000, hidden=512, bottleneck=64)
  params = _init(head, _x(d=256))['params']
  for i in range(3):  # trunc_normal_(std=0.02), zero biases.
    np.testing.assert_allclose(np.std(params[f'mlp{i}']['kernel']), 0.02,
                               rtol=0.05)
    np.testing.assert_array_equal(params[f'mlp{i}']['bias'], 0.0)
  v = np.asarray(params['last_layer']['kernel'])  # torch Linear default.
  bound = 1 / np.sqrt(64)
  assert np.abs(v).max() <= bound and np.abs(v).max() > 0.95 * bound


def test_learned_gain_batch_norm_and_bfloat16():
  head = dino_head.DINOHead(out_dim=10, hidden=16, bottleneck=8, use_bn=True,
                            norm_last_layer=False, dtype=jnp.bfloat16)
  x = _x()
  variables = _init(head, x)
  assert set(variables['batch_stats']) == {'bn0', 'bn1'}
  scale = variables['params']['last_layer']['scale']
  # g: [1, K] as torch's 2-D weight_g (so weight decay applies to it too),
  # initialised to 1.
  assert scale.shape == (1, 10)
  np.testing.assert_array_equal(scale, 1.0)
  doubled_g = jax.tree.map(lambda a: a, variables)
  doubled_g['params']['last_layer']['scale'] = 2.0 * scale
  apply = lambda v: head.apply(v, x, mutable=['batch_stats'])[0]
  (z, logits), (_, doubled) = jax.jit(
      lambda a, b: (apply(a), apply(b)))(variables, doubled_g)
  assert z.dtype == logits.dtype == jnp.float32
  assert np.abs(np.asarray(logits)).max() <= 1.0 + 1e-6
  np.testing.assert_allclose(doubled, 2.0 * logits, rtol=1e-6)
