"""Config helpers: durations written once, argument parsing, key errors."""

import ml_collections
import pytest

from ssl_jax import config_lib


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
