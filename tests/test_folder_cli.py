"""Your own images, the README's commands in subprocesses: pack a folder,
pretrain on an unlabelled folder, evaluate on a labelled one; a bad path
refused with one FATAL line before anything is written."""

import json
import os
import subprocess
import sys

from conftest import REPO, SMOKE_CONFIG, subprocess_env

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'data'))
from image_folders import write_folder  # pylint: disable=g-import-not-at-top,wrong-import-position


def _run(*args, check=True):
  result = subprocess.run([sys.executable, '-m', *args], cwd=REPO,
                          env=subprocess_env(), capture_output=True,
                          text=True, timeout=600)
  if check and result.returncode:
    raise AssertionError(f'{args} failed:\n{result.stdout}\n{result.stderr}')
  return result


def test_pack_pretrain_on_unlabelled_evaluate_on_labelled(tmp_path):
  write_folder(tmp_path / 'scans', per_class=8)
  write_folder(tmp_path / 'labelled', per_class=10, seed=1)
  out = _run('ssl_jax.data.pack', f'--src={tmp_path / "scans"}',
             f'--dst={tmp_path / "packed"}')
  assert 'Packed 16 images into 1 shard(s)' in out.stdout

  workdir = str(tmp_path / 'run')
  pretrain = ('ssl_jax.main', f'--config={SMOKE_CONFIG}:smoke',
              f'--workdir={workdir}', '--config.batch_size=8',
              '--config.total_steps=3', '--config.data.name=folder')
  bad = _run(*pretrain, f'--config.data.path={tmp_path / "nope"}',
             check=False)
  assert bad.returncode == 1 and 'does not exist' in bad.stderr
  assert bad.stderr.count('FATAL:') == 1 and not os.path.exists(workdir)

  out = _run(*pretrain, f'--config.data.path={tmp_path / "scans"}',
             '--config.eval_data.name=folder',
             f'--config.eval_data.path={tmp_path / "labelled"}',
             '--config.eval.batch_size=8', '--config.eval.knn_k=3')
  assert 'step 3/3' in out.stdout and '16 images' in out.stdout
  out = _run('ssl_jax.evaluate', f'--workdir={workdir}',
             '--protocols=knn,diagnostics')
  assert 'kNN (SSL features)' in out.stdout and 'RankMe' in out.stdout
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    results = json.load(f)
  assert results['dataset'] == 'folder' and 'need_labels' not in results
  assert '20 images' in results['eval_data']
