"""Value checks that `config_lib.validate` and the methods share.

Each check names the key, the value and what is allowed, and raises
`ConfigError` before anything is built, compiled or written. A method checks
its own keys in `validate_config(config)` in its file (`ssl_jax/methods/
<name>.py`), which `validate_method` calls; a backbone checks its own in
its module (`ssl_jax/models/<name>.py`), which `validate_backbone` calls,
since a bad depth or width would otherwise surface from deep inside the
model's initialisation.
"""

import sys

from ssl_jax import errors

ConfigError = errors.ConfigError

# models/heads.py's last_bn values (tests/test_bad_inputs.py keeps them
# equal); written here too: this module must not import JAX.
LAST_BN = (None, 'affine', 'no_beta', 'no_affine')


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
  """The backbone's options, by its module's `validate_config` (models/
  __init__.py): what the model would refuse only when built. A name that
  is not a backbone module is refused here too, naming what was tried."""
  from ssl_jax import models  # pylint: disable=g-import-not-at-top
  models.validate_config(config)


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
