"""Config helpers: durations written once, argument parsing, key errors."""

import os

import ml_collections
import pytest

from ssl_jax import config_lib

from conftest import REPO


def _config(**kw):
  c = config_lib.base_config()
  c.update(kw)
  return c


def test_steps_for_prefers_steps_and_rounds_epochs_up():
  c = _config(total_epochs=2.5)
  assert config_lib.steps_for(c, 'total', steps_per_epoch=10) == 25
  c = _config(total_epochs=0.01)
  assert config_lib.steps_for(c, 'total', steps_per_epoch=10) == 1
  c = _config(total_steps=7)
  assert config_lib.steps_for(c, 'total', steps_per_epoch=10) == 7
  assert config_lib.steps_for(c, 'warmup', steps_per_epoch=10) == 0


def test_command_line_duration_replaces_the_other_unit():
  c = _config(total_epochs=3.0, warmup_epochs=1.0)
  c.total_steps = 400  # As --config.total_steps=400 would.
  config_lib.prefer_overridden_durations(c, {'total_steps': 400})
  assert c.total_epochs is None and c.total_steps == 400
  assert c.warmup_epochs == 1.0
  config_lib.validate(c, num_devices=1)


def test_parse_arg():
  arg = config_lib.parse_arg('smoke,backbone=vit', smoke=False,
                             backbone='resnet')
  assert arg.smoke is True and arg.backbone == 'vit'
  assert config_lib.parse_arg(None, smoke=False).smoke is False
  with pytest.raises(config_lib.ConfigError, match="valid: \\['smoke'\\]"):
    config_lib.parse_arg('smok', smoke=False)


def test_unknown_key_message_lists_valid_keys():
  c = config_lib.base_config()
  message = config_lib.unknown_key_message(c, 'optim.lrr')
  assert 'optim' in message and 'weight_decay' in message
  assert config_lib.unknown_key_message(c, 'optim.lr') is None
  assert 'batch_size' in config_lib.unknown_key_message(c, 'optimm.lr')


def test_mesh_shape():
  c = _config()
  c.parallel.update(mesh_data=-1, mesh_fsdp=2)
  assert config_lib.mesh_shape(c, 8) == (4, 2)
  c.parallel.update(mesh_data=2, mesh_fsdp=-1)
  assert config_lib.mesh_shape(c, 8) == (2, 4)
  c.parallel.update(mesh_data=3, mesh_fsdp=1)
  with pytest.raises(config_lib.ConfigError, match='must equal'):
    config_lib.mesh_shape(c, 8)


def test_backbone_config_has_every_option():
  vit = config_lib.backbone_config('vit', dim=64)
  assert vit.dim == 64 and 'num_registers' in vit and 'pool' in vit
  with pytest.raises(config_lib.ConfigError):
    config_lib.backbone_config('lenet')


def test_validate_names_key_value_and_rule():
  c = _config(total_steps=10)
  c.aug.crop_scale = (0.5, 0.2)
  with pytest.raises(config_lib.ConfigError) as e:
    config_lib.validate(c, num_devices=1)
  assert 'config.aug.crop_scale=(0.5, 0.2)' in str(e.value)
  assert '0 < min <= max <= 1' in str(e.value)
  assert isinstance(ml_collections.ConfigDict(), ml_collections.ConfigDict)


def test_pmap_is_refused_with_several_processes():
  c = _config(total_steps=10)
  c.batch_size = 64
  c.parallel.mode = 'pmap'
  config_lib.validate(c, num_devices=8, num_processes=1)
  with pytest.raises(config_lib.ConfigError, match='config.parallel.mode'):
    config_lib.validate(c, num_devices=8, num_processes=2)


def test_fill_missing_adds_new_keys_and_keeps_old_values():
  old = config_lib.base_config()
  old.optim.lr = 7.0
  del old.aug['local_blur_p']  # As written by an older ssl_jax.
  old = ml_collections.ConfigDict(old.to_dict())
  filled = config_lib.fill_missing(old, config_lib.base_config())
  assert filled.aug.local_blur_p == config_lib.base_config().aug.local_blur_p
  assert filled.optim.lr == 7.0


def test_a_single_number_for_a_range_is_a_config_error():
  c = _config(total_steps=10)
  c.aug.crop_scale = (0.5,)  # What --config.aug.crop_scale=0.5 gives.
  with pytest.raises(config_lib.ConfigError,
                     match=r'config.aug.crop_scale=\(0.5,\) .*two numbers'):
    config_lib.validate(c, num_devices=1)


def test_both_halves_of_a_duration_on_the_command_line():
  c = _config(total_epochs=3.0)
  with pytest.raises(config_lib.ConfigError, match='were both given'):
    config_lib.prefer_overridden_durations(
        c, {'total_steps': 6, 'total_epochs': 0.01})


def test_pmap_with_fsdp_and_backbone_options_are_refused():
  c = _config(total_steps=10)
  c.batch_size = 64
  c.parallel.update(mode='pmap', mesh_data=-1, mesh_fsdp=2)
  with pytest.raises(config_lib.ConfigError, match="mesh_fsdp=2 .*'pmap'"):
    config_lib.validate(c, num_devices=8)
  c.parallel.mesh_fsdp = 1
  c.backbone = config_lib.backbone_config('resnet', depth=19)
  with pytest.raises(config_lib.ConfigError, match='config.backbone.depth=19'):
    config_lib.validate(c, num_devices=8)
  c.backbone = config_lib.backbone_config('vit', dim=30, depth=2, heads=4,
                                          patch_size=7)
  with pytest.raises(config_lib.ConfigError, match='backbone.heads=4'):
    config_lib.validate(c, num_devices=8)
  # DINO's ViT options: a table grid for 'interpolated', drop_path in [0, 1).
  c.backbone = config_lib.backbone_config('vit', dim=32, depth=2, heads=4,
                                          patch_size=7,
                                          pos_embed='interpolated')
  with pytest.raises(config_lib.ConfigError, match='backbone.pos_grid=None'):
    config_lib.validate(c, num_devices=8)
  c.backbone.update(pos_grid=4, drop_path=1.0)
  with pytest.raises(config_lib.ConfigError, match='backbone.drop_path=1.0'):
    config_lib.validate(c, num_devices=8)


@pytest.mark.parametrize('method,key,value', [
    ('simclr', 'temperature', 0.0),
    ('moco_v3', 'ema_base', 1.5),
    ('byol', 'proj_dim', 0),
    ('simsiam', 'pred_hidden', (0,)),
    ('barlow_twins', 'lambda_', -1.0),
    ('vicreg', 'proj_hidden', ()),
    ('dino', 'center_momentum', 2.0),
    ('swav', 'epsilon', 0.0),
    ('mae', 'mask_ratio', 1.0),
    ('ijepa', 'target_scale', (0.3, 0.2)),
    ('data2vec', 'mask_prob', 0.0),
    ('lejepa', 'lamb', 1.5),
])
def test_each_method_checks_its_own_keys(method, key, value):
  from ssl_jax import config_checks  # pylint: disable=g-import-not-at-top
  c = config_lib.load_file(
      os.path.join(REPO, 'configs', f'{method}_fashion_mnist.py') + ':smoke')
  config_checks.validate_method(c)  # The preset itself is fine.
  c.method[key] = value
  with pytest.raises(config_lib.ConfigError, match=f'config.method.{key}='):
    config_checks.validate_method(c)
