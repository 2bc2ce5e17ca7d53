"""Value checks that `config_lib.validate` and the methods share.

Each check names the key, the value and what is allowed, and raises
`ConfigError` before anything is built, compiled or written. A method checks
its own keys in `validate_config(config)` in its file (`ssl_jax/methods/
<name>.py`), which `validate_method` calls; the backbone's keys are checked
here, since a bad depth or width would otherwise surface from deep inside
the model's initialisation.
"""

import sys

from ssl_jax import errors

ConfigError = errors.ConfigError

# models/resnet.py's depths and models/heads.py's last_bn values
# (tests/test_bad_inputs.py keeps them equal).
RESNET_DEPTHS = (18, 34, 50, 101, 152)
LAST_BN = (None, 'affine', 'no_beta', 'no_affine')
VIT_VARIANTS = ('tiny', 'small', 'base', 'large', 'huge')
# models/vit_init.py's options (written here too: this module must not
# import JAX; tests/models/test_vit_init.py keeps them equal).
VIT_PATCH_INITS = ('xavier_flat', 'moco_v3', 'torch', 'trunc_normal')
VIT_QKV_INITS = ('fused', 'split')


def get(config, key: str):
  node = config
  for part in key.split('.'):
    node = node[part]
  return node


def fail(key: str, value, allowed: str) -> ConfigError:
  if isinstance(value, list):
    value = tuple(value)
  return ConfigError(f'config.{key}={value!r} is invalid: {allowed}.')


def check(ok: bool, key: str, value, allowed: str) -> None:
  if not ok:
    raise fail(key, value, allowed)


def _is_number(value, integer: bool = False) -> bool:
  kinds = (int,) if integer else (int, float)
  return isinstance(value, kinds) and not isinstance(value, bool)


def positive(config, key: str, *, integer: bool = False,
             optional: bool = False) -> None:
  value = get(config, key)
  if optional and value is None:
    return
  check(_is_number(value, integer) and value > 0, key, value,
        f'must be {"an integer" if integer else "a number"} > 0')


def non_negative(config, key: str, *, integer: bool = False,
                 optional: bool = False) -> None:
  value = get(config, key)
  if optional and value is None:
    return
  check(_is_number(value, integer) and value >= 0, key, value,
        f'must be {"an integer" if integer else "a number"} >= 0')


def fraction(config, key: str, *, open_low: bool = False,
             open_high: bool = False) -> None:
  """A number in [0, 1], ( or ) where the ends are excluded."""
  value = get(config, key)
  ok = _is_number(value) and (0 < value if open_low else 0 <= value) and (
      value < 1 if open_high else value <= 1)
  check(ok, key, value, f'must lie in {"(" if open_low else "["}0, 1'
        f'{")" if open_high else "]"}')


def sizes(config, key: str, *, allow_empty: bool = True) -> None:
  """A tuple of layer widths, each an integer > 0."""
  value = get(config, key)
  ok = isinstance(value, (tuple, list)) and (allow_empty or value) and all(
      _is_number(v, integer=True) and v > 0 for v in value)
  check(ok, key, value, 'must be a tuple of integers > 0' +
        ('' if allow_empty else ', at least one'))


def pair(config, key: str, *, high: float | None = None) -> None:
  """(min, max) with 0 < min <= max (<= high)."""
  value = get(config, key)
  rule = ('need two numbers (min, max) with 0 < min <= max'
          + (f' <= {high}' if high else ''))
  check(isinstance(value, (tuple, list)) and len(value) == 2 and
        all(_is_number(v) for v in value), key, value, rule)
  lo, hi = value
  check(0 < lo <= hi and (high is None or hi <= high), key, value, rule)


def choice(config, key: str, choices) -> None:
  value = get(config, key)
  check(value in choices, key, value, f'allowed values are {tuple(choices)}')


def numbers(config, key: str, count: int | None = None) -> None:
  """A tuple of numbers (of `count` of them)."""
  value = get(config, key)
  ok = isinstance(value, (tuple, list)) and all(_is_number(v) for v in value)
  check(ok and (count is None or len(value) == count), key, value,
        f'need a tuple of {count or "one or more"} numbers')


def validate_backbone(config) -> None:
  """The backbone's options (those the config sets; config_lib.
  backbone_config sets all): what models/ would refuse only when built."""
  b = config.backbone
  name = b.name
  if name not in ('resnet', 'vit'):
    from ssl_jax import models  # pylint: disable=g-import-not-at-top
    models.backbone_class(name)  # ConfigError naming what it tried.
    return
  if name == 'resnet':
    if 'depth' in b:
      choice(config, 'backbone.depth', RESNET_DEPTHS)
    if 'width' in b:
      positive(config, 'backbone.width')
    return
  if b.get('variant') is not None:
    choice(config, 'backbone.variant', VIT_VARIANTS)
  elif 'dim' in b:
    for key in ('dim', 'depth', 'heads'):
      check(_is_number(b[key], integer=True) and b[key] > 0,
            f'backbone.{key}', b[key], 'must be an integer > 0 (or set '
            f'config.backbone.variant to one of {VIT_VARIANTS})')
    check(b.dim % b.heads == 0, 'backbone.heads', b.heads,
          f'must divide config.backbone.dim={b.dim}')
    if b.get('pos_embed') == 'sincos':
      check(b.dim % 4 == 0, 'backbone.dim', b.dim,
            "must be a multiple of 4 with pos_embed='sincos'")
  if 'patch_size' not in b:
    return
  positive(config, 'backbone.patch_size', integer=True)
  positive(config, 'backbone.mlp_ratio')
  non_negative(config, 'backbone.num_registers', integer=True)
  choice(config, 'backbone.pos_embed', ('sincos', 'learned'))
  choice(config, 'backbone.pool', ('cls', 'mean'))
  # Initialisation (models/vit_init.py), set per method by the configs.
  if 'patch_init' in b:
    choice(config, 'backbone.patch_init', VIT_PATCH_INITS)
  if 'qkv_init' in b:
    choice(config, 'backbone.qkv_init', VIT_QKV_INITS)
  if 'cls_init_std' in b:
    positive(config, 'backbone.cls_init_std')
  check(b.pool != 'cls' or b.cls_token, 'backbone.pool', b.pool,
        "'cls' needs config.backbone.cls_token=True; use 'mean'")
  sizes_to_cut = [('aug.crop_size', config.aug.crop_size),
                  ('data.image_size', config.data.image_size)]
  if config.aug.local_crops:
    sizes_to_cut.append(('aug.local_crop_size', config.aug.local_crop_size))
  for key, size in sizes_to_cut:
    check(size % b.patch_size == 0, key, size, 'must be a multiple of '
          f'config.backbone.patch_size={b.patch_size} (ViT patches)')


def method_class(config):
  """The Method class of config.method.name (built in or an import path), or
  ConfigError naming what was tried and the available ones."""
  from ssl_jax import methods  # pylint: disable=g-import-not-at-top
  return methods.get(config.method.name)


def validate_method(config):
  """Runs the method's `validate_config(config)` (its own keys: temperatures,
  momenta, loss weights, head sizes, masks); returns the Method class."""
  cls = method_class(config)
  hook = getattr(sys.modules.get(cls.__module__), 'validate_config', None)
  hook = getattr(cls, 'validate_config', hook)  # Registered classes too.
  if hook is not None:
    hook(config)
  return cls
