"""Backbones and heads. A backbone module `ssl_jax.models.<name>` exposes
`Backbone`, a Flax module taking `(images, train)` and returning pooled
features, with a `feature_dim` property; `config.backbone.name` picks it by
import path, so adding one edits no table."""

import dataclasses
import importlib

from ssl_jax import named_modules
from ssl_jax.models import heads



def builtin() -> list[str]:
  """The modules of this package that define a Backbone (the others are
  parts: heads, decoders, norms)."""
  return [n for n in named_modules.builtin_names(__name__) if hasattr(
      importlib.import_module(f'{__name__}.{n}'), 'Backbone')]


def backbone_class(name: str):
  """The Backbone class of `config.backbone.name` (built in, or an import
  path 'my_pkg.my_backbone'); ConfigError naming the key otherwise."""
  return named_modules.load('backbone.name', name, __name__, 'Backbone',
                            builtin)


def build_backbone(backbone_config, dtype, bn_axis_name=None):
  """Instantiates `ssl_jax.models.<name>.Backbone(**other keys)`.

  Raises:
    ValueError: unknown backbone name or keyword, listing the valid ones.
  """
  kwargs = dict(backbone_config)
  name = kwargs.pop('name')
  cls = backbone_class(name)
  fields = {f.name for f in dataclasses.fields(cls)
            if f.name not in ('parent', 'name')}
  if unknown := set(kwargs) - fields:
    raise ValueError(f'config.backbone: {sorted(unknown)} are not options of '
                     f'{name}; valid: {sorted(fields)}.')
  for key, value in (('dtype', dtype), ('bn_axis_name', bn_axis_name)):
    if key in fields:
      kwargs[key] = value
  kwargs = {k: tuple(v) if isinstance(v, list) else v
            for k, v in kwargs.items()}
  return cls(**kwargs)


__all__ = ['build_backbone', 'heads']
