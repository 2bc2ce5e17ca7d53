"""Methods, found by name: `ssl_jax.methods.<name>.Method` (see base.py)."""

import importlib
import pkgutil


def available() -> list[str]:
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
                if m.name != 'base')


def get(name: str):
  """Returns the Method class of `ssl_jax/methods/<name>.py`."""
  path = f'ssl_jax.methods.{name}'
  try:
    return importlib.import_module(path).Method
  except (ModuleNotFoundError, AttributeError) as e:
    if isinstance(e, ModuleNotFoundError) and e.name != path:
      raise  # The method exists but one of its imports is missing.
    raise ValueError(f'config.method.name={name!r} is not a method; '
                     f'available: {available()}.') from None
