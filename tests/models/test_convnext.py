"""ConvNeXt (models/convnext.py): the official sizes, what it declares, and
SimCLR / DINO smoke steps with it through their configs' backbone=convnext
(no edit outside its file: backbones are found like methods)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import models
from ssl_jax.models import convnext

import method_harness as harness
from conftest import REPO


def _shapes(backbone, size, channels=3):
  """(param count, output shape) without computing anything."""
  x = jax.ShapeDtypeStruct((2, size, size, channels), jnp.float32)
  params = jax.eval_shape(backbone.init, jax.random.PRNGKey(0), x)
  out = jax.eval_shape(backbone.apply, params, x)
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params)), out


@pytest.mark.parametrize('variant,params', [
    # torchvision's convnext_tiny / _small (the official architecture):
    # 28,589,128 and 50,223,688 weights, less the 768 x 1000 + 1000 head.
    ('tiny', 28_589_128 - 769_000), ('small', 50_223_688 - 769_000),
    ('cpu', None)])
def test_official_sizes_and_the_declared_feature_dim(variant, params):
  backbone = convnext.ConvNeXt(variant=variant)
  count, out = _shapes(backbone, 64)
  assert out.shape == (2, backbone.feature_dim) and out.dtype == jnp.float32
  if params is not None:
    assert count == params
  assert not models.has_batch_norm(backbone)
  assert not models.token_output(backbone)


def test_layer_ids_are_the_official_groups():
  small = convnext.ConvNeXt(variant='small')  # depths (3, 3, 27, 3).
  assert models.num_layers(small) == 12
  ids = {k: small.layer_id([k]) for k in (
      'stem', 'stem_norm', 'stage0_block2', 'down1_norm', 'down1',
      'stage1_block0', 'down2', 'stage2_block0', 'stage2_block26', 'down3',
      'stage3_block2', 'norm')}
  assert ids == {'stem': 0, 'stem_norm': 0, 'stage0_block2': 1,
                 'down1_norm': 2, 'down1': 2, 'stage1_block0': 2, 'down2': 3,
                 'stage2_block0': 3, 'stage2_block26': 11, 'down3': 12,
                 'stage3_block2': 12, 'norm': 13}


def test_bad_sizes_name_the_key():
  config = config_lib.load_file(os.path.join(
      REPO, 'configs', 'simclr_fashion_mnist.py:smoke,backbone=convnext'))
  config.backbone.dims = (8, 16, 32)
  with pytest.raises(config_lib.ConfigError, match='config.backbone.dims'):
    config_lib.validate(config, num_devices=1)


def _config(name):
  config = config_lib.load_file(os.path.join(
      REPO, 'configs', f'{name}_fashion_mnist.py:smoke,backbone=convnext'))
  assert config.backbone.name == 'convnext'
  return config


def test_simclr_smoke_steps_through_its_config():
  _, history = harness.run_steps(_config('simclr'), steps=2)
  assert all(np.isfinite(h['loss']) for h in history)
  assert history[-1]['update_norm'] > 0


def test_dino_smoke_config_builds_and_its_step_lowers():
  # Multi-crop (two 14 px local crops: 7 -> 4 -> 2 -> 1 positions), the
  # teacher and the DINO head on ConvNeXt features; lowered, not compiled
  # (a compile costs ~40 s here; the steps above run the same backbone).
  state, metrics = harness.lower_step(_config('dino'))
  assert metrics['loss'].shape == () and state.step.shape == ()
  assert 'teacher' in state.extras
