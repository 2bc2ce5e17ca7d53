"""Every backbone module of ssl_jax/models keeps the backbone contract
(models/__init__.py): a default config, demo sizes that build, a declared
feature dimension equal to what it outputs, and its capabilities."""

import os
import re

import jax
import jax.numpy as jnp
import pytest

from ssl_jax import config_lib
from ssl_jax import models

CAPABILITIES = {  # name: (has_batch_norm, token_output, layer-wise decay)
    'resnet': (True, False, False),
    'vit': (False, True, True),
    'convnext': (False, False, True),
}


def test_the_built_in_backbones_are_found_by_their_files():
  assert set(CAPABILITIES) <= set(models.builtin())


# Every shipped backbone: the demos take backbone=<name> at its sizes.
@pytest.mark.parametrize('name', models.builtin())
def test_demo_sizes_build_and_declare_what_they_output(name):
  sizes = models.demo_sizes(name)
  config = config_lib.backbone_config(
      name, **dict(sizes['fashion_mnist'], **sizes['smoke']))
  backbone = models.build_backbone(config, jnp.float32)
  x = jax.ShapeDtypeStruct((2, 28, 28, 1), jnp.float32)
  variables = jax.eval_shape(backbone.init, jax.random.PRNGKey(0), x)
  out = jax.eval_shape(lambda v, x: backbone.apply(v, x, train=False),
                       variables, x)
  assert out.shape == (2, backbone.feature_dim), name
  assert models.has_batch_norm(backbone) == ('batch_stats' in variables)
  if name not in CAPABILITIES:
    return
  bn, tokens, layers = CAPABILITIES[name]
  assert models.has_batch_norm(backbone) == bn
  assert ('batch_stats' in variables) == bn
  assert models.token_output(backbone) == tokens
  assert (models.num_layers(backbone) > 0) == layers


def test_a_name_that_is_no_backbone_lists_the_built_in_ones():
  with pytest.raises(config_lib.ConfigError) as e:
    config_lib.backbone_config('lenet')
  message = str(e.value)
  assert "config.backbone.name='lenet'" in message
  assert 'import ssl_jax.models.lenet' in message
  assert all(name in message for name in CAPABILITIES)


def test_no_code_outside_a_backbone_file_branches_on_its_name():
  # The contract (models/__init__.py): code asks what a backbone declares,
  # never its name, so a new backbone edits no other file. Configs may
  # choose recipes by backbone; the package may not.
  names = models.builtin()
  branch = re.compile(r"""([=!]=|\bin\s*[(\[{])\s*['"](%s)['"]"""
                      % '|'.join(names))
  package = os.path.dirname(os.path.dirname(models.__file__))
  own_files = {os.path.join(package, 'models', f'{n}.py') for n in names}
  found = []
  for root, _, files in os.walk(package):
    for path in (os.path.join(root, f) for f in files if f.endswith('.py')):
      if path in own_files:
        continue
      with open(path, encoding='utf-8') as f:
        found += [f'{os.path.relpath(path, package)}:{i}: {line.strip()}'
                  for i, line in enumerate(f, 1) if branch.search(line)]
  assert len(names) >= 3 and not found, '\n'.join(found)
