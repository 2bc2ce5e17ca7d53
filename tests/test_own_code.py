"""docs/own_method.md's method and backbone, written outside the package and
named by import path (`config.method.name='my_pkg.my_method'`), train,
evaluate and export through the CLIs in a new process that never called
`methods.register`; a bad path is one FATAL line naming the key and the
module tried.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np

from ssl_jax import checkpoint

from conftest import REPO, subprocess_env

DOC = os.path.join(REPO, 'docs', 'own_method.md')
_BLOCK = re.compile(r'^```python\n# (\S+\.py)\n(.*?)^```', re.M | re.S)


def _write_doc_files(root) -> list[str]:
  """docs/own_method.md's code blocks, each into the file its first line
  names (relative to `root`)."""
  with open(DOC, encoding='utf-8') as f:
    blocks = _BLOCK.findall(f.read())
  for path, code in blocks:
    os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
    with open(os.path.join(root, path), 'w', encoding='utf-8') as f:
      f.write(code)
  return [path for path, _ in blocks]


def test_method_and_backbone_by_import_path_in_every_cli(fmnist_data_dir,
                                                         tmp_path):
  written = _write_doc_files(str(tmp_path))
  assert written == ['my_pkg/__init__.py', 'my_pkg/my_method.py',
                     'my_pkg/my_backbone.py', 'my_config.py']
  config = os.path.join(tmp_path, 'my_config.py')
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
                             '--config.eval.pixel_baselines=False')),
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
  # The example's after_update ran in the CLI's step: unit-norm columns.
  _, state = checkpoint.load_numpy(workdir)
  kernel = state['params']['model']['projector']['kernel']
  np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1, rtol=1e-5)
