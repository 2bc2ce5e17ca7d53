"""Backbones and heads. A backbone module `ssl_jax.models.<name>` exposes
`Backbone`, a Flax module taking `(images, train)` and returning pooled
features, with a `feature_dim` property; `config.backbone.name` picks it by
import path, so adding one edits no table."""

import dataclasses
import importlib

from ssl_jax.models import heads


def build_backbone(backbone_config, dtype, bn_axis_name=None):
  """Instantiates `ssl_jax.models.<name>.Backbone(**other keys)`.

  Raises:
    ValueError: unknown backbone name or keyword, listing the valid ones.
  """
  kwargs = dict(backbone_config)
  name = kwargs.pop('name')
  path = f'ssl_jax.models.{name}'
  try:
    cls = importlib.import_module(path).Backbone
  except (ModuleNotFoundError, AttributeError) as e:
    if isinstance(e, ModuleNotFoundError) and e.name != path:
      raise  # The module exists but one of its imports is missing.
    raise ValueError(
        f'config.backbone.name={name!r}: no module ssl_jax/models/{name}.py '
        'exposing Backbone (built in: resnet, vit).') from None
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
