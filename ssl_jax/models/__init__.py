"""Backbones, found by name like methods, and heads.

A backbone is a module, `ssl_jax/models/<name>.py` or any importable one
named by its path (`config.backbone.name='my_pkg.my_backbone'`), defining:

  Backbone          a Flax module: `(images [N, H, W, C], train=True,
                    groups=1) -> pooled features [N, F]` (float32), with a
                    `feature_dim` property = F; `groups` > 1 asks for
                    BatchNorm statistics per part of the batch (norms.py),
                    ignored without BatchNorm;
  default_config()  a dict of every option (config_lib.backbone_config);
  validate_config(config)   optional: checks config.backbone's values;
  DEMO_SIZES        optional: sizes the shipped demos use by name
                    ({'fashion_mnist': ..., 'smoke': ...}; config_presets),
  DEMO_OPTIMIZER    optional: config.optim values the demos train it with;
  EXPORTER          optional: the import path of the module that writes it
                    in PyTorch layouts (export_formats.py says what it
                    defines); without one it exports as safetensors only;
  architecture(backbone)   optional: options that fix its weights beyond
                    config.backbone's own (ViT: a variant's sizes), which
                    model_init.py records.

`Backbone` declares what it offers; code asks these functions, never the
name, so a new backbone edits no other file. Undeclared means not offered:

  has_batch_norm    class attribute: it keeps batch statistics;
  token_output      class attribute: `__call__(x, keep=[N, K] patch indices,
                    return_tokens=True)`, `num_prefix_tokens`, `pool_tokens`
                    and a `patch_embed` parameter, as models/vit.py (the
                    masked methods need them);
  num_layers        property, and `layer_id(keys)`: layer-wise lr decay's
                    layers (0 = none) and a parameter's layer, 0 (embedding)
                    to num_layers + 1 (after the last layer);
  feature_map(x)    optional: the last feature map in evaluation mode,
                    [N, positions..., C] (a ResNet's last stage before its
                    global mean, a ViT's patch tokens), which evaluation
                    reads flattened with config.eval.readout='map';
  finetune_features(x, train)   optional: the pooled features fine-tuning
                    trains on, with `finetune_fc_norm` True when the
                    classifier adds a LayerNorm and `finetune_unused` the
                    parameters it leaves out (ViT: MAE's global pool).
"""

import dataclasses
import importlib

import ml_collections

from ssl_jax import errors
from ssl_jax import named_modules
from ssl_jax.models import heads


def builtin() -> list[str]:
  """The modules of this package that define a Backbone (the others are
  parts: heads, decoders, norms)."""
  return [n for n in named_modules.builtin_names(__name__) if hasattr(
      importlib.import_module(f'{__name__}.{n}'), 'Backbone')]


def backbone_module(name: str):
  """The module of `config.backbone.name` (built in, or an import path
  'my_pkg.my_backbone'); ConfigError naming the key otherwise."""
  return named_modules.load('backbone.name', name, __name__, 'Backbone',
                            builtin)


def backbone_class(name: str):
  return backbone_module(name).Backbone


def default_config(name: str, **overrides) -> ml_collections.ConfigDict:
  """config.backbone for `name`: its module's options, then `overrides`."""
  module = backbone_module(name)
  options = dict(getattr(module, 'default_config', dict)())
  options.update(overrides)
  return ml_collections.ConfigDict(dict(name=name, **options))


def validate_config(config) -> None:
  """Runs the backbone module's checks of config.backbone, if it has any."""
  hook = getattr(backbone_module(config.backbone.name), 'validate_config',
                 None)
  if hook is not None:
    hook(config)


def demo_sizes(name: str) -> dict:
  return getattr(backbone_module(name), 'DEMO_SIZES', {})


def demo_optimizer(name: str) -> dict:
  return getattr(backbone_module(name), 'DEMO_OPTIMIZER', None) or {}


# Capability queries: a Backbone class or instance.
def has_batch_norm(backbone) -> bool:
  return bool(getattr(backbone, 'has_batch_norm', False))


def token_output(backbone) -> bool:
  return bool(getattr(backbone, 'token_output', False))


def has_feature_map(backbone) -> bool:
  return callable(getattr(backbone, 'feature_map', None))


def num_layers(backbone) -> int:
  return int(getattr(backbone, 'num_layers', 0))


def build_backbone(backbone_config, dtype, bn_axis_name=None):
  """Instantiates the named module's `Backbone(**other keys)`.

  Raises:
    ConfigError: unknown backbone name or keyword, listing the valid ones.
  """
  kwargs = dict(backbone_config)
  name = kwargs.pop('name')
  cls = backbone_class(name)
  fields = {f.name for f in dataclasses.fields(cls)
            if f.name not in ('parent', 'name')}
  if unknown := set(kwargs) - fields:
    raise errors.ConfigError(
        f'config.backbone: {sorted(unknown)} are not options of {name}; '
        f'valid: {sorted(fields)}.')
  for key, value in (('dtype', dtype), ('bn_axis_name', bn_axis_name)):
    if key in fields:
      kwargs[key] = value
  kwargs = {k: tuple(v) if isinstance(v, list) else v
            for k, v in kwargs.items()}
  return cls(**kwargs)


__all__ = ['build_backbone', 'backbone_module', 'default_config', 'heads']
