"""ResNet: feature sizes, stems, identity-initialised blocks, BN modes."""

import os

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax.models import resnet

from conftest import REPO


@pytest.mark.parametrize('depth,width,dim', [(18, 0.25, 128), (50, 0.125,
                                                                256)])
def test_feature_dim(depth, width, dim):
  model = resnet.ResNet(depth=depth, width=width, cifar_stem=True)
  x = jnp.ones((2, 16, 16, 3))
  variables = model.init(jax.random.PRNGKey(0), x)
  out = model.apply(variables, x, train=False)
  assert out.shape == (2, dim) == (2, model.feature_dim)


def test_imagenet_stem_downsamples_by_four_before_the_stages():
  model = resnet.ResNet(depth=18, width=0.125)
  x = jnp.ones((1, 64, 64, 3))
  variables = model.init(jax.random.PRNGKey(0), x)
  _, inter = model.apply(variables, x, train=False,
                         capture_intermediates=True, mutable=['intermediates'])
  first_block = inter['intermediates']['_Block_0']['__call__'][0]
  assert first_block.shape == (1, 16, 16, 8)


def test_residual_branches_start_at_zero():
  model = resnet.ResNet(depth=18, width=0.125, cifar_stem=True)
  variables = model.init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 1)))
  scale = variables['params']['_Block_0']['BatchNorm_1']['scale']
  np.testing.assert_array_equal(scale, 0)


def test_train_mode_updates_batch_stats_and_eval_mode_uses_them():
  model = resnet.ResNet(depth=18, width=0.125, cifar_stem=True)
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 8, 8, 1))
  variables = model.init(jax.random.PRNGKey(0), x)
  _, updated = model.apply(variables, x, train=True, mutable=['batch_stats'])
  before = variables['batch_stats']['BatchNorm_0']['mean']
  after = updated['batch_stats']['BatchNorm_0']['mean']
  assert not np.allclose(before, after)
  # Eval mode is a deterministic function of each example alone.
  single = model.apply(variables, x[:1], train=False)
  batch = model.apply(variables, x, train=False)
  np.testing.assert_allclose(single[0], batch[0], rtol=1e-5, atol=1e-6)


def test_unknown_depth():
  with pytest.raises(ValueError, match='depth'):
    resnet.ResNet(depth=19).init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 1)))


@pytest.mark.parametrize('size', [(20, 20), (17, 22)])  # Even and odd sides.
def test_space_to_depth_stem_is_the_plain_stem(size):
  """MLPerf's regrouped stem: the same parameter, and the same values and
  gradients as the 7x7 stride-2 'SAME' convolution, on even and odd sides
  (whose 'SAME' padding differs)."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, *size, 3))
  plain = nn.Conv(8, (7, 7), (2, 2), padding='SAME', use_bias=False)
  regrouped = resnet.SpaceToDepthStem(8)
  params = plain.init(jax.random.PRNGKey(1), x)['params']
  assert (jax.tree.map(jnp.shape, regrouped.init(jax.random.PRNGKey(1), x))
          == {'params': jax.tree.map(jnp.shape, params)})
  outputs = lambda p, x: [m.apply({'params': p}, x)
                          for m in (plain, regrouped)]
  with jax.default_matmul_precision('highest'):
    a, b = outputs(params, x)
    (ga, gxa), (gb, gxb) = (
        jax.grad(lambda p, x: jnp.sum(jnp.sin(outputs(p, x)[i])),
                 argnums=(0, 1))(params, x) for i in (0, 1))
  assert a.shape == (2, -(-size[0] // 2), -(-size[1] // 2), 8)
  np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(gb['kernel'], ga['kernel'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(gxb, gxa, rtol=1e-5, atol=1e-5)
  # In the network: the same parameter tree as the plain stem.
  shapes = lambda **kw: jax.tree.map(jnp.shape, jax.eval_shape(
      resnet.ResNet(depth=18, width=0.125, **kw).init,
      jax.random.PRNGKey(0), x))
  assert shapes(space_to_depth_stem=True) == shapes()


def test_space_to_depth_needs_the_imagenet_stem():
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'simclr_cifar10.py'))
  config.backbone.space_to_depth_stem = True
  with pytest.raises(config_lib.ConfigError,
                     match='space_to_depth_stem=True.*cifar_stem=True'):
    config_lib.validate(config, num_devices=1)
