"""Methods, found by name: `ssl_jax.methods.<name>.Method` (see base.py).

Adding a method file adds a method: no table to edit. A method defined
elsewhere (a notebook, a research script) is made known by name with
`register(name, cls)`; `config.method.name = name` then selects it.
"""

import importlib
import pkgutil

_REGISTERED = {}


def register(name: str, cls) -> None:
  """Makes `cls` (a base.MethodBase subclass) available as `name`."""
  _REGISTERED[name] = cls


def available() -> list[str]:
  found = {m.name for m in pkgutil.iter_modules(__path__) if m.name != 'base'}
  return sorted(found | set(_REGISTERED))


def get(name: str):
  """Returns the Method class registered as, or in the file named, `name`."""
  if name in _REGISTERED:
    return _REGISTERED[name]
  path = f'ssl_jax.methods.{name}'
  try:
    return importlib.import_module(path).Method
  except (ModuleNotFoundError, AttributeError) as e:
    if isinstance(e, ModuleNotFoundError) and e.name != path:
      raise  # The method exists but one of its imports is missing.
    raise ValueError(f'config.method.name={name!r} is not a method; '
                     f'available: {available()}.') from None
