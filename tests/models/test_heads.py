"""The MLP head covers SimCLR's, BYOL's and MoCo v3's projectors."""

import jax
import jax.numpy as jnp
import numpy as np

from ssl_jax.models import heads


def _params(module, x):
  return module.init(jax.random.PRNGKey(0), x)


def test_simclr_projector_last_bn_has_no_beta():
  mlp = heads.MLP(hidden=(8, 8), out=4, last_bn='no_beta')
  variables = _params(mlp, jnp.ones((3, 5)))
  last_bn = variables['params']['BatchNorm_2']
  assert 'scale' in last_bn and 'bias' not in last_bn
  assert 'bias' not in variables['params']['Dense_0']


def test_no_affine_last_bn_standardises_the_output():
  mlp = heads.MLP(hidden=(8,), out=4, last_bn='no_affine')
  x = jax.random.normal(jax.random.PRNGKey(1), (64, 5))
  variables = _params(mlp, x)
  assert 'BatchNorm_1' not in variables['params']
  out, _ = mlp.apply(variables, x, mutable=['batch_stats'])
  np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(out.std(0), 1, atol=1e-3)


def test_byol_style_head_with_bias_and_no_last_bn():
  mlp = heads.MLP(hidden=(16,), out=4, use_bias=True, last_bn=None)
  variables = _params(mlp, jnp.ones((2, 5)))
  assert 'bias' in variables['params']['Dense_1']
  assert 'BatchNorm_1' not in variables['params']
