"""Methods and backbones by name: a built-in module, or an import path.

`config.method.name='simclr'` is the module `ssl_jax.methods.simclr`; a name
with a dot, `'my_pkg.my_method'`, is imported as written. The name alone
says where the code is, so the same config works in every process that
reads it (the CLI, `evaluate` and `export` on the workdir's config.json, the
workers of a multi-process run), not only in the one that called a
registration function. The module must be importable there (installed, or
on PYTHONPATH).
"""

import importlib
import pkgutil

from ssl_jax import errors


def module_path(name: str, package: str) -> str:
  """The module `name` means: `package.name`, or `name` itself if dotted."""
  return name if '.' in name else f'{package}.{name}'


def builtin_names(package: str, skip=()) -> list[str]:
  """The modules of `package` (its built-in methods or backbones)."""
  module = importlib.import_module(package)
  return sorted(m.name for m in pkgutil.iter_modules(module.__path__)
                if m.name not in skip and not m.name.startswith('_'))


def load(key: str, name, package: str, attr: str, builtin):
  """The module `config.<key>` = `name` names, which defines `attr`.

  Args:
    key: the config key, for the message ('method.name').
    name: its value.
    package: where names without a dot live ('ssl_jax.methods').
    attr: what the module must define ('Method', 'Backbone').
    builtin: returns the built-in names, listed in the message (called only
      then: listing backbones imports them).

  Raises:
    errors.ConfigError: no such module, or it lacks `attr`; the message names
      the key, the module tried and what a valid value looks like. An import
      that fails inside an existing module raises as it is (a bug there, or
      a missing dependency, is not a bad name).
  """
  hint = lambda: (f'built in: {", ".join(builtin())}; code of your own: an '
                  'import path such as my_pkg.my_module, importable from '
                  'sys.path (PYTHONPATH)')
  if not isinstance(name, str) or not name or name.strip('.') != name:
    raise errors.ConfigError(f'config.{key}={name!r} is not a module name '
                             f'({hint()}).')
  path = module_path(name, package)
  try:
    module = importlib.import_module(path)
  except ModuleNotFoundError as e:
    if e.name is None or not (path == e.name or path.startswith(e.name + '.')):
      raise  # The module exists; one of its own imports is missing.
    raise errors.ConfigError(
        f'config.{key}={name!r}: tried `import {path}`: {e} ({hint()}).'
    ) from None
  if not hasattr(module, attr):
    raise errors.ConfigError(
        f'config.{key}={name!r}: module {path} ({module.__file__}) defines '
        f'no `{attr}` ({hint()}).')
  return module
