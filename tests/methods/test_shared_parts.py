"""Methods share parts through common modules, never through each other:
adding or changing one method leaves the others' files alone."""

import ast
import os

import pytest

from ssl_jax import config_lib
from ssl_jax import methods

from conftest import REPO

# ssl_jax/methods modules that are shared parts, not methods.
SHARED = {'base', 'two_view'}


def _imported_methods(path):
  """The ssl_jax.methods modules a file imports."""
  found = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.ImportFrom) and node.module == 'ssl_jax.methods':
      found |= {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith(
        'ssl_jax.methods.'):
      found.add(node.module.split('.')[2])
    elif isinstance(node, ast.Import):
      found |= {a.name.split('.')[2] for a in node.names
                if a.name.startswith('ssl_jax.methods.')}
  return found


def test_no_method_imports_another():
  names = methods.available()
  assert {'simclr', 'byol', 'moco_v3', 'swav'} <= set(names)
  assert not SHARED & set(names)  # Shared parts are not offered as methods.
  for name in names:
    path = os.path.join(REPO, 'ssl_jax', 'methods', f'{name}.py')
    if os.path.exists(path):  # Not one a test registered in this process.
      assert _imported_methods(path) <= SHARED, name


def test_a_shared_part_is_refused_as_a_method():
  config = config_lib.base_config()
  config.method.name = 'two_view'
  with pytest.raises(config_lib.ConfigError,
                     match="method.name='two_view'.*defines no `Method`"):
    methods.get(config.method.name)
