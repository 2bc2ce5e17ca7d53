"""ViT initialisation per method (models/vit_init.py): the empirical bound
and std of each option against the official formula written out here, the
per-method config values, and the error of a bad option.

Shapes: D = 64 wide, 8 x 8 patches, so a patch-embedding kernel holds
8 * 8 * C * 64 draws (12,288 for C = 3) and the qkv kernel 64 * 192.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax.models import vit
from ssl_jax.models import vit_init

from conftest import REPO

D, P = 64, 8


def _params(channels=3, **kw):
  model = vit.ViT(dim=D, depth=1, heads=4, patch_size=P, **kw)
  x = jnp.zeros((1, 2 * P, 2 * P, channels))
  return model.init(jax.random.PRNGKey(0), x)['params']


def _assert_uniform(w, bound):
  """U(-bound, bound): inside the bound, reaching it, std bound / sqrt(3)."""
  w = np.asarray(w).ravel()
  assert np.abs(w).max() <= bound
  assert np.abs(w).max() > 0.95 * bound
  np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.05)


@pytest.mark.parametrize('channels', [3, 1])
def test_xavier_flat_is_xavier_of_the_flattened_matrix(channels):
  # MAE / data2vec 2.0: xavier_uniform_ on the [D, C p^2] view of the
  # kernel, bound sqrt(6 / (C p^2 + D)); flax's xavier on the 4-D kernel
  # would give sqrt(6 / (C p^2 + D p^2)). The bias keeps torch's Conv2d
  # default U(+-1/sqrt(C p^2)).
  p = _params(channels, patch_init='xavier_flat')['patch_embed']
  fan_in = channels * P * P
  _assert_uniform(p['kernel'], np.sqrt(6 / (fan_in + D)))
  bias = np.asarray(p['bias'])
  assert np.abs(bias).max() <= fan_in ** -0.5 and np.abs(bias).max() > 0


def test_moco_v3_bound_writes_three_channels_and_zero_bias():
  # vits.py: val = sqrt(6 / (3 * p * p + embed_dim)), whatever C; bias 0.
  for channels in (3, 1):
    p = _params(channels, patch_init='moco_v3')['patch_embed']
    _assert_uniform(p['kernel'], np.sqrt(6 / (3 * P * P + D)))
    np.testing.assert_array_equal(p['bias'], 0)


def test_torch_default_conv_init():
  # DINO leaves torch's Conv2d default: kaiming_uniform_(a=sqrt(5)) gives
  # bound gain * sqrt(3 / fan_in) = sqrt(2 / 6) * sqrt(3 / fan_in)
  # = 1 / sqrt(fan_in); the bias U(+-1/sqrt(fan_in)).
  p = _params(3, patch_init='torch')['patch_embed']
  bound = 1 / np.sqrt(3 * P * P)
  _assert_uniform(p['kernel'], bound)
  bias = np.asarray(p['bias'])
  assert np.abs(bias).max() <= bound
  np.testing.assert_allclose(bias.std(), bound / np.sqrt(3), rtol=0.3)


def test_trunc_normal_is_std_002_cut_in_value_not_in_stds():
  # I-JEPA: trunc_normal_(std=0.02, a=-2, b=2): the cut at +-2 (100 std)
  # never binds, so about 4.6% of the draws lie beyond 2 std; bias 0.
  p = _params(3, patch_init='trunc_normal')['patch_embed']
  w = np.asarray(p['kernel']).ravel()
  np.testing.assert_allclose(w.std(), 0.02, rtol=0.03)
  assert abs(w.mean()) < 0.001
  np.testing.assert_allclose((np.abs(w) > 0.04).mean(), 0.0455, atol=0.01)
  np.testing.assert_array_equal(p['bias'], 0)


@pytest.mark.parametrize('qkv_init, fan_out', [('fused', 3 * D),
                                               ('split', D)])
def test_qkv_fans(qkv_init, fan_out):
  # fused (MAE, timm): xavier of [D, 3D], bound sqrt(6 / 4D); split (MoCo v3
  # vits.py): sqrt(6 / (3D / 3 + D)) for each of q, k and v.
  kernel = np.asarray(_params(qkv_init=qkv_init)['block0']['Attention_0'][
      'qkv']['kernel'])
  assert kernel.shape == (D, 3 * D)
  for part in np.split(kernel, 3, axis=1):
    _assert_uniform(part, np.sqrt(6 / (D + fan_out)))


@pytest.mark.parametrize('std', [1.0, 0.02, 1e-6])
def test_cls_token_std(std):
  # data2vec 2.0 nn.init.normal_ (std 1), MAE 0.02, MoCo v3 1e-6.
  model = vit.ViT(dim=4096, depth=0, heads=1, patch_size=P, cls_init_std=std)
  cls = model.init(jax.random.PRNGKey(1), jnp.zeros((1, P, P, 1)))[
      'params']['cls']
  np.testing.assert_allclose(np.asarray(cls).std(), std, rtol=0.05)


@pytest.mark.parametrize('spec, expected', [
    ('mae_imagenet.py', dict(patch_init='xavier_flat', qkv_init='fused',
                             cls_init_std=0.02)),
    ('data2vec_imagenet.py', dict(patch_init='xavier_flat',
                                  cls_init_std=1.0)),
    ('moco_v3_imagenet.py:backbone=vit', dict(
        patch_init='moco_v3', qkv_init='split', cls_init_std=1e-6)),
    ('dino_imagenet.py', dict(patch_init='torch')),
    ('ijepa_imagenet.py', dict(patch_init='trunc_normal')),
    ('moco_v3_imagenet.py:smoke,backbone=vit', dict(patch_init='moco_v3')),
    ('dino_fashion_mnist.py:backbone=vit', dict(patch_init='torch')),
    ('dinov2_imagenet.py', dict(patch_init='torch', dense_init='trunc_normal',
                                layer_scale_init=1e-5, cls_init_std=1e-6)),
])
def test_configs_choose_their_official_init(spec, expected):
  config = config_lib.load_file(os.path.join(REPO, 'configs', spec))
  for key, value in expected.items():
    assert config.backbone[key] == value, (spec, key)


def test_bad_option_names_the_key_and_the_allowed_values():
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'mae_fashion_mnist.py'))
  config.backbone.patch_init = 'xavier'
  with pytest.raises(config_lib.ConfigError) as e:
    config_lib.validate(config, num_devices=1)
  assert "config.backbone.patch_init='xavier'" in str(e.value)
  assert all(name in str(e.value) for name in vit_init.PATCH_INITS)
  config.backbone.patch_init = 'torch'
  config.backbone.qkv_init = 'joint'
  with pytest.raises(config_lib.ConfigError, match="'fused', 'split'"):
    config_lib.validate(config, num_devices=1)


def test_trunc_normal_dense_layers_and_layer_scale():
  """DINOv2's blocks: every linear kernel (qkv included) N(0, 0.02^2),
  biases 0, LayerScale gammas at their init value."""
  model = vit.ViT(dim=64, depth=1, heads=4, patch_size=4,
                  dense_init='trunc_normal', layer_scale_init=1e-5)
  block = model.init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 1)))[
      'params']['block0']
  kernels = {'qkv': block['Attention_0']['qkv'],
             'proj': block['Attention_0']['proj'],
             'fc1': block['Mlp_0']['Dense_0'], 'fc2': block['Mlp_0']['Dense_1']}
  for name, layer in kernels.items():
    np.testing.assert_allclose(np.asarray(layer['kernel']).std(), 0.02,
                               rtol=0.1, err_msg=name)
    np.testing.assert_array_equal(layer['bias'], 0)
  for name in ('ls1', 'ls2'):
    np.testing.assert_array_equal(block[name], np.full(64, 1e-5, np.float32))
