"""Methods, found by name: `ssl_jax.methods.<name>.Method` (see base.py).

Adding a method file adds a method: no table to edit. A method written
outside the package is named by its import path, `config.method.name =
'my_pkg.my_method'` (a module with a class `Method`, docs/own_method.md);
that works in every process that reads the config. `register(name, cls)`
makes a class known by a short name in this process only (a notebook).
"""

import importlib

from ssl_jax import named_modules

_REGISTERED = {}


def register(name: str, cls) -> None:
  """Makes `cls` (a base.MethodBase subclass) available as `name` in this
  process (a new process, e.g. `python -m ssl_jax.evaluate`, does not know
  it: name a module by its import path for that)."""
  _REGISTERED[name] = cls


def available() -> list[str]:
  """The built-in methods (the modules of this package that define a
  `Method`; the others are shared parts: base, two_view) and the
  registered ones."""
  found = [n for n in named_modules.builtin_names(__name__) if hasattr(
      importlib.import_module(f'{__name__}.{n}'), 'Method')]
  return sorted(set(found) | set(_REGISTERED))


def get(name: str):
  """The Method class registered as `name`, or of the module it names.

  Raises:
    errors.ConfigError (a ValueError): naming config.method.name, the module
      tried and the available methods.
  """
  if name in _REGISTERED:
    return _REGISTERED[name]
  return named_modules.load('method.name', name, __name__, 'Method',
                            available).Method
