"""Bad input through the real CLIs: one `FATAL:` line, exit code 1, nothing
written; results, configs and metrics never lost (issue 20).

The command lines run in one process (tests/cli_runner.py: a process start
costs ~6 s here, a refused command line milliseconds); what trains runs
in-process on the smoke config, where the checks are the same.
"""

import json
import os
import signal
import subprocess
import sys
import types

import numpy as np
import portpicker
import pytest

from ssl_jax import checkpoint
from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import errors
from ssl_jax import eval_cli
from ssl_jax import evaluate
from ssl_jax import guards
from ssl_jax import metrics as metrics_lib
from ssl_jax import plots
from ssl_jax import report
from ssl_jax import train

from conftest import REPO, SMOKE_CONFIG, load_config, subprocess_env



def _cases(tmp, data_dir):
  """(name, cli, argv, words the one FATAL line must hold)."""
  smoke = f'--config={SMOKE_CONFIG}:smoke'
  bad_py = os.path.join(tmp, 'bad_config.py')
  with open(bad_py, 'w') as f:
    f.write('def get_config(:\n  pass\n')
  corrupt = os.path.join(tmp, 'corrupt')
  os.makedirs(corrupt)
  with open(os.path.join(corrupt, 'config.json'), 'w') as f:
    f.write('{"seed": 0,')
  w = os.path.join(tmp, 'w')  # Must never be created.
  main = lambda *a, wd=w: [smoke, f'--workdir={wd}',
                           f'--config.data.data_dir={data_dir}', *a]
  port = portpicker.pick_unused_port()
  return [
      # Answered before TensorFlow and JAX are imported (listed first).
      ('map_umap', 'report', [f'--workdir={corrupt}', '--map=umap'],
       ['--map=umap', 'tsne']),
      ('no_protocol', 'evaluate', [f'--workdir={corrupt}', '--protocols='],
       ['No protocol', 'knn']),
      ('unknown_protocol', 'evaluate',
       [f'--workdir={corrupt}', '--protocols=knn,knnn'], ['knnn', 'known']),
      ('missing_config_file', 'main',
       ['--config=configs/nope.py', f'--workdir={w}'],
       ["'configs/nope.py' does not exist"]),
      ('config_syntax_error', 'main', [f'--config={bad_py}', f'--workdir={w}'],
       [f'{bad_py}, line 1', 'invalid syntax']),
      ('unknown_preset', 'main',
       [f'--config={SMOKE_CONFIG}:smok', f'--workdir={w}'],
       ["'smok'", 'smoke']),
      ('num_processes_alone', 'main', main('--num_processes=2'),
       ['--coordinator_address, --num_processes and --process_id go']),
      ('process_id_too_big', 'main',
       main('--coordinator_address=127.0.0.1:1', '--num_processes=2',
            '--process_id=5'), ['process_id=5', '0 <= --process_id']),
      ('both_durations', 'main',
       main('--config.total_epochs=0.01', '--config.total_steps=6'),
       ['--config.total_steps and --config.total_epochs were both given']),
      # Checked before anything compiles (TensorFlow loaded by then).
      ('unknown_method', 'main', main('--config.method.name=simclrr'),
       ["config.method.name='simclrr'", 'simclr']),
      ('resnet_depth', 'main', main('--config.backbone.depth=19'),
       ['config.backbone.depth=19', '(18, 34, 50, 101, 152)']),
      ('crop_scale_number', 'main', main('--config.aug.crop_scale=0.5'),
       ['config.aug.crop_scale=(0.5,)', 'two numbers (min, max)']),
      ('temperature_zero', 'main', main('--config.method.temperature=0'),
       ['config.method.temperature=0', '> 0']),
      ('pmap_fsdp', 'main',
       main('--config.parallel.mode=pmap', '--config.parallel.mesh_fsdp=2'),
       ['config.parallel.mesh_fsdp=2', 'pmap']),
      ('missing_data_dir', 'main',
       [smoke, f'--workdir={w}',
        f'--config.data.data_dir={tmp}/nowhere/tfds'],
       [f"config.data.data_dir='{tmp}/nowhere/tfds' does not exist",
        'create_data_dir=True']),
      ('unknown_dataset', 'main', main('--config.data.name=fashion_mnits'),
       ["config.data.name='fashion_mnits'", 'fashion_mnist_offline',
        'fashion_mnist']),
      ('proc_workdir', 'main', main(wd='/proc/ssl_jax_x'),
       ["'/proc/ssl_jax_x' cannot be created"]),
      ('corrupt_workdir_config', 'main', main(wd=corrupt),
       [f'{corrupt}/config.json is not valid JSON']),
      ('corrupt_config_evaluate', 'evaluate', [f'--workdir={corrupt}'],
       [f'{corrupt}/config.json is not valid JSON']),
      ('lone_worker', 'main',
       main(f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
            '--process_id=1', '--coordinator_timeout=1.5'),
       [f'no coordinator answered at 127.0.0.1:{port} within 1.5 s',
        '--coordinator_timeout']),
      ('verbose_traceback', 'main',
       main('--config.method.name=simclrr', '--verbose'), None),
  ], w, corrupt, port


def test_bad_command_lines_are_one_fatal_line_and_write_nothing(
    fmnist_data_dir, tmp_path):
  tmp = str(tmp_path)
  cases, never, corrupt, port = _cases(tmp, fmnist_data_dir)
  with open(tmp_path / 'cases.json', 'w') as f:
    json.dump([{'name': n, 'cli': c, 'argv': a} for n, c, a, _ in cases], f)
  # Two fake devices, so that pmap with mesh_fsdp=2 is a valid mesh.
  subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'cli_runner.py'),
                  str(tmp_path / 'cases.json'), str(tmp_path / 'out.json')],
                 env=subprocess_env(JAX_NUM_CPU_DEVICES='2'), cwd=REPO,
                 check=True, timeout=300)
  with open(tmp_path / 'out.json') as f:
    results = {r['name']: r for r in json.load(f)}
  for name, _, _, words in cases:
    r = results[name]
    if words is None:
      continue
    lines = r['stderr'].strip().splitlines()
    assert r['code'] == 1 and len(lines) == 1, (name, r)
    assert lines[0].startswith('FATAL: '), (name, r)
    for word in words:
      assert word in lines[0], (name, word, lines[0])
  # Flags are checked before the heavy imports: well under a second.
  for name in ('map_umap', 'no_protocol', 'unknown_protocol'):
    assert not results[name]['tf_loaded'], name
    assert not results[name]['jax_loaded'], name
  for name in ('missing_config_file', 'config_syntax_error',
               'unknown_preset', 'num_processes_alone', 'both_durations'):
    assert not results[name]['tf_loaded'], name
  assert len(results['unknown_dataset']['stderr']) < 600  # Not 460 lines.
  verbose = results['verbose_traceback']
  assert verbose['code'] == 1 and 'Traceback' in verbose['stderr']
  assert "config.method.name='simclrr'" in verbose['stderr']
  lone = results['lone_worker']
  assert (f'Process 1 of 2: waiting up to 1.5 s (--coordinator_timeout) for '
          f'the coordinator, process 0, at 127.0.0.1:{port}') in lone['stdout']
  assert 1.4 < lone['seconds'] < 10
  # Nothing written: no workdir, no data_dir tree, the corrupt file kept.
  assert not os.path.exists(never)
  assert not os.path.exists(os.path.join(tmp, 'nowhere'))
  assert os.listdir(corrupt) == ['config.json']


def _double_sigint_at(original, step):
  """train_stream whose batch of `step` comes after two SIGINTs, as two
  quick Ctrl-C would."""

  def stream(p, config, start):
    for s, batch in enumerate(original(p, config, start), start + 1):
      if s == step:
        os.kill(os.getpid(), signal.SIGINT)  # Save at the end of the step.
        os.kill(os.getpid(), signal.SIGINT)  # No: stop now.
      yield batch

  return stream


def _steps(workdir):
  return [r['step'] for r in metrics_lib.read_jsonl(
      os.path.join(workdir, 'train_metrics.jsonl'))]


def _snapshot(root):
  return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, files in os.walk(root) for f in files}


def test_resume_keeps_every_config_and_each_metrics_row_once(
    fmnist_data_dir, tmp_path, capsys, monkeypatch):
  # The ViT smoke model: it compiles in 10 s here, the ResNet one in 16.
  smoke_config = load_config('smoke,backbone=vit')
  smoke_config.data.data_dir = fmnist_data_dir
  smoke_config.log_every_steps = 1  # checkpoint.every_steps: 3.
  workdir = str(tmp_path / 'run')
  train.run(smoke_config, workdir, stop_at_step=2)
  out = capsys.readouterr().out
  assert f'Training {workdir} from step 0 (no checkpoint) to step 6' in out
  assert 'Compiling the train step' in out and 'Step 1 done in' in out
  with open(os.path.join(workdir, 'config.json')) as f:
    first = f.read()

  # Another lr alters the run: refused, nothing written.
  before = _snapshot(workdir)
  lr = smoke_config.optim.lr
  smoke_config.optim.lr = lr / 2
  with pytest.raises(config_lib.ConfigError) as e:
    train.run(smoke_config, workdir)
  assert f'optim.lr: {lr} -> {lr / 2}' in str(e.value)
  assert 'allow_config_change=True' in str(e.value)
  assert _snapshot(workdir) == before
  smoke_config.optim.lr = lr

  # A free change is said and recorded; a double Ctrl-C at step 5 says what
  # it abandons (the checkpoint of step 3 is the newest).
  smoke_config.eval.knn_k = 7
  monkeypatch.setattr(train, 'train_stream',
                      _double_sigint_at(train.train_stream, 5))
  with pytest.raises(errors.Interrupted) as e:
    train.run(smoke_config, workdir)
  assert str(e.value) == (
      'Stopped at once by a second SIGINT during step 5, without saving it: '
      'steps 4-5 will be redone; the newest complete checkpoint is step 3: '
      'the same command resumes from it.')
  out = capsys.readouterr().out
  assert ('Config changed since config.json: eval.knn_k: 20 -> 7 (recorded '
          'in config.2.json).') in out
  assert f'Resuming {workdir} from step 2 (its newest checkpoint)' in out
  assert checkpoint.latest_step(workdir) == 3 and _steps(workdir) == [1, 2, 3,
                                                                       4]
  monkeypatch.undo()

  # A save cut short leaves Orbax's temporary folder: removed, and said.
  os.makedirs(os.path.join(workdir, 'checkpoints',
                           '5.orbax-checkpoint-tmp-1234'))
  state = train.run(smoke_config, workdir)
  out = capsys.readouterr().out
  assert ('Found an incomplete checkpoint folder (a save that was '
          'interrupted): checkpoints/5.orbax-checkpoint-tmp-1234; removed.'
          ) in out
  assert 'Config changed' not in out  # The same as config.2.json.
  assert f'Resuming {workdir} from step 3' in out
  assert 'Dropped 1 row(s) of train_metrics.jsonl after step 3' in out
  assert int(state.step) == 6 and _steps(workdir) == [1, 2, 3, 4, 5, 6]
  with open(os.path.join(workdir, 'config.json')) as f:
    assert f.read() == first  # Never overwritten.
  assert sorted(n for n in os.listdir(workdir) if n.startswith('config')) == [
      'config.2.json', 'config.json']
  assert evaluate.load_config(workdir).eval.knn_k == 7  # The one in force.

  # A finished workdir says so.
  train.run(smoke_config, workdir)
  assert (f'Nothing to do: {workdir} is trained to step 6 of 6'
          in capsys.readouterr().out)


def test_evaluate_merges_protocols_and_keeps_a_history(tmp_path, capsys):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(240, 8)).astype(np.float32)
  y = (np.arange(240) % 4).astype(np.int32)
  config = config_lib.base_config()
  config.eval.update(pixel_baselines=False, knn_k=5, linear_epochs=2)
  plan = types.SimpleNamespace(num_classes=4, builder=None)
  feats = lambda step: evaluate.Features(step, plan, None, {}, x[:160],
                                         y[:160], x[160:], y[160:])
  w = str(tmp_path)
  run = lambda names, step: evaluate.run(w, protocols=names, config=config,
                                         features=feats(step))
  first = run(('knn', 'diagnostics'), 5)
  assert 'knn: weighted kNN, k=5...' in capsys.readouterr().out
  merged = run(('linear',), 6)
  with open(os.path.join(w, 'eval', 'results.json')) as f:
    saved = json.load(f)
  assert saved == merged and saved['step'] == 6
  assert saved['knn_top1'] == first['knn_top1'] and 'diagnostics' in saved
  assert 'linear_top1' in saved
  entries = saved['protocols']
  assert entries['knn']['step'] == 5 and entries['linear']['step'] == 6
  assert entries['knn']['settings']['k'] == 5
  assert entries['linear']['settings']['epochs'] == 2
  assert ('Kept from earlier evaluations: knn of step 5, diagnostics of step '
          '5.') in evaluate.format_table(saved)
  with pytest.raises(config_lib.ConfigError, match='No protocol'):
    run((), 6)
  with pytest.raises(config_lib.ConfigError, match='knnn'):
    run(('knnn',), 6)
  with open(os.path.join(w, 'eval', 'history.jsonl')) as f:
    history = [json.loads(line) for line in f]
  assert [sorted(h['protocols']) for h in history] == [
      ['diagnostics', 'knn'], ['linear']]
  assert history[0]['knn_top1'] == first['knn_top1']


def test_nonfinite_message_says_what_checkpoint_exists():
  guard = guards.NonFiniteGuard(0)
  bad = {'nonfinite': 1.0, 'loss': float('nan')}
  with pytest.raises(guards.NonFiniteError,
                     match='at step 1 .*No checkpoint was written yet'):
    guard.check(1, bad)
  guard.last_saved = 4
  with pytest.raises(guards.NonFiniteError,
                     match=r'The last checkpoint \(step 4\) is good'):
    guard.check(5, bad)


def test_report_says_when_there_are_no_training_metrics(tmp_path, capsys):
  assert report.training_rows(str(tmp_path)) == []
  assert 'No training metrics in' in capsys.readouterr().out


def test_config_checks_agree_with_the_models():
  # pylint: disable=g-import-not-at-top,protected-access
  from ssl_jax.models import heads
  assert set(heads._LAST_BN) == set(config_checks.LAST_BN)
  assert tuple(plots.MAP_METHODS) == eval_cli.MAP_METHODS
  assert config_lib.EVAL_READOUTS == eval_cli.READOUTS
  assert evaluate.PROTOCOLS == eval_cli.PROTOCOLS


def test_evaluate_cli_answers_a_bad_flag_in_a_fraction_of_a_second(tmp_path):
  """`python -m` itself, as a user runs it: no TensorFlow or JAX import."""
  result = subprocess.run(
      [sys.executable, '-X', 'importtime', '-m', 'ssl_jax.report',
       f'--workdir={tmp_path}', '--map=umap'], cwd=REPO,
      env=subprocess_env(), capture_output=True, text=True, timeout=60)
  assert result.returncode == 1
  fatal = [l for l in result.stderr.splitlines() if l.startswith('FATAL')]
  assert fatal == ['FATAL: flag --map=umap: value should be one of '
                   '<tsne|pca>']
  imported = {l.split('|')[-1].strip() for l in result.stderr.splitlines()
              if l.startswith('import time:')}
  assert 'tensorflow' not in imported and 'jax' not in imported


def test_fault_injection_bad_input_table():
  sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
  import bad_inputs  # pylint: disable=g-import-not-at-top
  rows = [dict(group='flags', input='--map=umap', outcome=bad_inputs.EARLY,
               lost=[]),
          dict(group='flags', input='x', outcome=bad_inputs.LATE, lost=[]),
          dict(group='resume', input='y', outcome=bad_inputs.ACCEPTED,
               lost=['config.json'])]
  assert bad_inputs.table(rows).splitlines()[2:] == [
      '| flags: `--map=umap`, `x` | 2 | 1 | 1 | 0 | 0 |',
      '| resume: `y` | 1 | 0 | 0 | 1 | 1 |',
      '| **all** | 3 | 1 | 1 | 1 | 1 |']
