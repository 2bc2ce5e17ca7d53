"""The two CLIs end to end in subprocesses: pretrain, resume, evaluate."""

import json
import os
import re
import subprocess
import sys

from conftest import REPO, SMOKE_CONFIG, subprocess_env


def _run(*args, check=True, unoptimised=True):
  # Training a few steps compiles faster unoptimised; the evaluation runs
  # long enough to want optimised code.
  result = subprocess.run([sys.executable, '-m', *args], cwd=REPO,
                          env=subprocess_env(unoptimised),
                          capture_output=True, text=True, timeout=600)
  if check and result.returncode:
    raise AssertionError(f'{args} failed:\n{result.stdout}\n{result.stderr}')
  return result


def test_pretrain_then_evaluate(fmnist_data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  # Slices of the splits keep every protocol (the pixel baselines too) to
  # seconds. Fine-tuning (a minute here) runs end to end on stand-in data in
  # test_config_smoke.py and learns in tests/evals/test_finetune.py.
  data_flag = (f'--config.data.data_dir={fmnist_data_dir}',
               '--config.data.train_split=train[:5000]',
               '--config.data.eval_split=test[:2000]')
  out = _run('ssl_jax.main', f'--config={SMOKE_CONFIG}:smoke',
             f'--workdir={workdir}', *data_flag)
  assert 'step 6/6' in out.stdout
  # The console is quiet: TensorFlow's and XLA's start-up banners are in the
  # workdir's log, not on stderr (console_log.py).
  assert out.stderr == '', out.stderr
  with open(os.path.join(workdir, 'log.txt')) as f:
    log = f.read()
  # Which library messages come depends on the machine (TensorFlow's
  # 'InitializeLog' banner on one CPU, none on another); an absl-format line
  # (tfds's deprecation warning, at least) always does.
  assert f'--workdir={workdir}' in log, log
  assert re.search(r'^[IWE]\d{4} \d\d:\d\d:\d\d', log, re.M), log
  # The same command, made longer, continues from step 6, not from scratch
  # (a longer schedule changes the run: allowed explicitly, and recorded).
  out = _run('ssl_jax.main', f'--config={SMOKE_CONFIG}:smoke',
             f'--workdir={workdir}', *data_flag, '--config.total_steps=8',
             '--config.allow_config_change=True')
  assert 'step 8/8' in out.stdout and 'step 2/8' not in out.stdout
  assert f'Resuming {workdir} from step 6' in out.stdout
  assert 'total_steps: 6 -> 8 (recorded in config.6.json)' in out.stdout

  out = _run('ssl_jax.evaluate', f'--workdir={workdir}',
             '--protocols=knn,linear,fewshot,diagnostics',
             unoptimised=False)
  for row in ('kNN (raw pixels)', 'kNN (standardised pixels)',
              'linear probe (SSL features)',
              'linear probe (standardised pixels)',
              'SSL features vs the best pixel baseline'):
    assert row in out.stdout, row
  assert '5-shot ridge' in out.stdout and 'RankMe' in out.stdout
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    results = json.load(f)
  for key in ('knn_top1', 'linear_top1', 'raw_pixel_knn_top1', 'step',
              'standardised_pixel_knn_top1',
              'standardised_pixel_linear_top1'):
    assert key in results, key
  # The margin is over the best of the three baselines (test_pixels.py
  # checks the arithmetic).
  margin = results['margin_over_best_pixel_baseline']
  best = margin['best_baseline']
  assert sorted(results['baselines']) == sorted(
      ['knn_raw_pixels', 'knn_standardised_pixels',
       'linear_standardised_pixels'])
  assert margin['best_baseline_top1'] == max(
      b['top1'] for b in results['baselines'].values())
  assert margin['knn_top1'] == round(100 * (
      results['knn_top1'] - results['baselines'][best]['top1']), 2)
  assert results['step'] == 8
  assert results['knn_settings']['k'] == 20
  assert 0.1 < results['knn_top1'] <= 1.0
  # Raw pixels with cosine kNN on Fashion-MNIST: ~0.85 at k=20 with the
  # whole train split, a little less with 5k.
  assert 0.75 < results['raw_pixel_knn_top1'] < 0.9
  assert 0 < results['fewshot_5shot_top1_mean'] <= 1
  assert 1 <= results['diagnostics']['rankme'] <= results['feature_dim']


def test_misspelt_key_lists_valid_keys(tmp_path):
  out = _run('ssl_jax.main', f'--config={SMOKE_CONFIG}:smoke',
             f'--workdir={tmp_path / "w"}', '--config.optim.lrr=0.3',
             check=False)
  assert out.returncode != 0
  assert "no key 'lrr'" in out.stderr and 'weight_decay' in out.stderr
  assert not (tmp_path / 'w').exists()


def test_bad_value_is_a_clear_error(tmp_path):
  out = _run('ssl_jax.main', f'--config={SMOKE_CONFIG}:smoke',
             f'--workdir={tmp_path / "w"}', '--config.optim.lr=-1',
             check=False)
  assert out.returncode != 0
  assert out.stderr.startswith('FATAL: ') and out.stderr.count('\n') == 1
  assert 'config.optim.lr=-1' in out.stderr
  assert not (tmp_path / 'w').exists()
