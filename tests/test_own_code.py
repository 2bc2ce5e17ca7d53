"""A method and a backbone written outside the package, named by import path
(`config.method.name='my_pkg.my_method'`), train, evaluate and export
through the CLIs in a new process that never called `methods.register`;
a bad path is one FATAL line naming the key and the module tried.
"""

import json
import os
import subprocess
import sys
import textwrap

from conftest import REPO, subprocess_env

METHOD = '''
"""A tiny method: backbone -> linear projector, NT-Xent between two views."""
import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax.methods import base


def default_config():
  return ml_collections.ConfigDict(
      dict(name='my_pkg.my_method', temperature=0.5, proj_dim=16))


def validate_config(config):
  config_checks.positive(config, 'method.temperature')


class _Model(nn.Module):
  backbone: nn.Module
  proj_dim: int

  @nn.compact
  def __call__(self, x, train=True):
    h = self.backbone(x, train=train)
    return h, nn.Dense(self.proj_dim, name='projector')(h)

  def features(self, x):
    return self.backbone(x, train=False)


class Method(base.MethodBase):
  num_views = 2

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    self.model = _Model(self.backbone, config.method.proj_dim)

  def init(self, rng, views):
    params, mutables = base.split_variables(self.model.init(rng, views[0]))
    return base.Variables(params, mutables, extras={})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    n = views[0].shape[0]
    (h, z), mutables = self.model.apply(
        {'params': params, **mutables}, jnp.concatenate(views), train=train,
        mutable=list(mutables))
    outputs = {'z1': z[:n], 'z2': z[n:], 'features': h[:n],
               'embedding': z[:n]}
    return outputs, mutables

  def objective(self, outputs, extras, step):
    loss = losses.nt_xent(outputs['z1'], outputs['z2'],
                          self.config.method.temperature)
    return loss, {'nt_xent': loss}, {}

  def embed(self, params, mutables, extras, images):
    return self.model.apply({'params': params, **mutables}, images,
                            method=_Model.features)
'''

BACKBONE = '''
"""A tiny backbone: one strided convolution, then the mean over positions."""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


def default_config():
  return dict(name='my_pkg.my_backbone', width=16)


class Backbone(nn.Module):
  width: int = 16
  dtype: Any = jnp.float32

  @property
  def feature_dim(self):
    return self.width

  @nn.compact
  def __call__(self, x, train=True, groups=1):
    x = nn.Conv(self.width, (4, 4), (4, 4), dtype=self.dtype)(
        x.astype(self.dtype))
    return jnp.mean(nn.relu(x), axis=(1, 2)).astype(jnp.float32)
'''

CONFIG = '''
import ml_collections

from ssl_jax import config_lib
from ssl_jax import config_presets
from my_pkg import my_backbone
from my_pkg import my_method


def get_config(arg=None):
  config = config_lib.base_config()
  config.method = my_method.default_config()
  config.backbone = ml_collections.ConfigDict(my_backbone.default_config())
  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_views(config)
  config.optim.update(name='adamw', lr=1e-3, weight_decay=0.0)
  config.total_epochs = 10.0
  if arg == 'smoke':
    config_lib.shrink_for_smoke(config, batch_size=16, steps=4)
  return config
'''


def _write_package(root):
  pkg = os.path.join(root, 'my_pkg')
  os.makedirs(pkg)
  for name, text in (('__init__', ''), ('my_method', METHOD),
                     ('my_backbone', BACKBONE)):
    with open(os.path.join(pkg, f'{name}.py'), 'w') as f:
      f.write(textwrap.dedent(text))


def test_method_and_backbone_by_import_path_in_every_cli(fmnist_data_dir,
                                                         tmp_path):
  _write_package(str(tmp_path))
  config = os.path.join(tmp_path, 'my_config.py')
  with open(config, 'w') as f:
    f.write(CONFIG)
  workdir, out = str(tmp_path / 'w'), str(tmp_path / 'exported')
  bad = str(tmp_path / 'bad')  # Refused before anything is written.
  main = lambda *a, w=workdir: [f'--config={config}:smoke', f'--workdir={w}',
                                f'--config.data.data_dir={fmnist_data_dir}',
                                *a]
  cases = [
      ('bad_method', 'main', main('--config.method.name=my_pkg.nope', w=bad)),
      ('bad_backbone', 'main', main('--config.backbone.name=no_pkg.net',
                                    w=bad)),
      ('train', 'main', main('--config.data.train_split=train[:512]',
                             '--config.data.eval_split=test[:256]',
                             '--config.eval.raw_pixel_baseline=False')),
      ('evaluate', 'evaluate', [f'--workdir={workdir}', '--protocols=knn']),
      ('export', 'export', [f'--workdir={workdir}', '--format=safetensors',
                            f'--out={out}']),
  ]
  with open(tmp_path / 'cases.json', 'w') as f:
    json.dump([{'name': n, 'cli': c, 'argv': a} for n, c, a in cases], f)
  # A new process: nothing registered; my_pkg found on PYTHONPATH only.
  env = subprocess_env()
  env['PYTHONPATH'] = os.pathsep.join([REPO, str(tmp_path)])
  subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'cli_runner.py'),
                  str(tmp_path / 'cases.json'), str(tmp_path / 'out.json')],
                 env=env, cwd=REPO, check=True, timeout=300)
  with open(tmp_path / 'out.json') as f:
    r = {case['name']: case for case in json.load(f)}
  for name, key, module in (('bad_method', 'method', 'my_pkg.nope'),
                            ('bad_backbone', 'backbone', 'no_pkg.net')):
    lines = r[name]['stderr'].strip().splitlines()
    assert r[name]['code'] == 1 and len(lines) == 1, r[name]
    assert f"config.{key}.name='{module}': tried `import {module}`" in (
        lines[0]), lines
  assert not os.path.exists(os.path.join(bad, 'checkpoints'))
  for name in ('train', 'evaluate', 'export'):
    assert r[name]['code'] == 0, (name, r[name]['stderr'][-3000:])
  assert 'step 4/4' in r['train']['stdout']
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    assert 0 <= json.load(f)['knn_top1'] <= 1
  with open(os.path.join(out, 'config.json')) as f:
    exported = json.load(f)
  assert exported['backbone']['name'] == 'my_pkg.my_backbone'
  assert exported['ssl_jax']['method'] == 'my_pkg.my_method'
