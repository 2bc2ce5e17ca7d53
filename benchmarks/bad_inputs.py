"""The bad-input section of the fault-injection campaign (fault_injection.py
--bad-inputs-only): mistakes a new user makes, run through the CLIs as a
user runs them (one subprocess each, smoke config, real Fashion-MNIST).

Each input is classified:
  refused early  exit code != 0, one `FATAL:` (or `STOPPED:`) line and no
                 traceback, before anything compiled or was written;
  refused late   refused, but after a compile, a write or with a traceback;
  accepted       exit code 0 (for the inputs that are legitimate, such as an
                 evaluation of one protocol, that is the right outcome);
and checked for data lost: an earlier result, config or metrics row gone or
duplicated, or a folder created where none was asked for.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import portpicker

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, 'configs', 'simclr_fashion_mnist.py')
EARLY, LATE, ACCEPTED = 'refused early', 'refused late', 'accepted'


def _env():
  return dict(os.environ, PYTHONUNBUFFERED='1')


def _cli(module, *args, timeout=600):
  t0 = time.time()
  p = subprocess.run([sys.executable, '-m', f'ssl_jax.{module}', *args],
                     env=_env(), cwd=REPO, capture_output=True, text=True,
                     timeout=timeout)
  return p, time.time() - t0


def _snapshot(root):
  return {os.path.relpath(os.path.join(d, f), root):
          os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, files in os.walk(root) for f in files} if os.path.exists(
              root) else None


def _classify(p, written: bool) -> str:
  if p.returncode == 0:
    return ACCEPTED
  lines = [l for l in p.stderr.splitlines() if l.startswith(('FATAL:',
                                                             'STOPPED:'))]
  clean = len(lines) == 1 and 'Traceback' not in p.stderr
  compiled = 'Compiling the train step' in p.stdout
  return EARLY if clean and not written and not compiled else LATE



class Campaign:
  """Runs the inputs in `root`; `rows` holds one dict per input."""

  def __init__(self, root):
    self.root, self.rows = root, []
    self.smoke = f'--config={CONFIG}:smoke'
    # The default data_dir (as fault_injection.py's runs); a slice of the
    # train split keeps the evaluations short.
    self.data = ('--config.data.train_split=train[:2048]',
                 '--config.eval.linear_epochs=2')

  def record(self, group, name, p, seconds, written, lost, outcome=None):
    self.rows.append({
        'group': group, 'input': name,
        'outcome': outcome or _classify(p, written),
        'rc': p.returncode, 'seconds': round(seconds, 1), 'lost': lost,
        'said': next((l for l in p.stderr.splitlines()[::-1]
                      if l.startswith(('FATAL', 'STOPPED'))), '')[:300]})

  def refused(self, group, name, module, *args, workdir=None, watch=()):
    """An input that must be refused; `watch`: paths that must not appear
    or change."""
    workdir = workdir or os.path.join(self.root, f'w_{len(self.rows)}')
    before = {w: _snapshot(w) for w in (workdir, *watch)}
    p, s = _cli(module, *args, f'--workdir={workdir}')
    after = {w: _snapshot(w) for w in before}
    lost = [w for w in before if before[w] != after[w]]
    self.record(group, name, p, s, bool(lost), lost)

  def trained(self, name):
    """A finished 6-step smoke run, evaluated with knn,linear (a copy)."""
    base = os.path.join(self.root, 'base')
    if not os.path.exists(base):
      _cli('main', self.smoke, f'--workdir={base}', *self.data)
      _cli('evaluate', f'--workdir={base}', '--protocols=knn,linear')
    copy = os.path.join(self.root, name)
    shutil.copytree(base, copy)
    return copy


def _results(workdir):
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    return json.load(f)


def _read(path):
  with open(path) as f:
    return f.read()


def run(root) -> list[dict]:
  """Every input; one row each (group, input, outcome, rc, seconds, lost,
  what the program said)."""
  c = Campaign(root)
  smoke, data = c.smoke, ()
  bad_py = os.path.join(root, 'bad_config.py')
  with open(bad_py, 'w') as f:
    f.write('def get_config(:\n  pass\n')
  flags_group = 'flags and config files'
  evaluated = c.trained('flags')
  c.refused(flags_group, 'report --map=umap', 'report', '--map=umap',
            workdir=evaluated)
  c.refused(flags_group, 'evaluate --protocols= (empty)', 'evaluate',
            '--protocols=', workdir=evaluated)
  c.refused(flags_group, 'evaluate --protocols=knnn', 'evaluate',
            '--protocols=knnn', workdir=evaluated)
  c.refused(flags_group, 'missing config file', 'main',
            '--config=configs/nope.py')
  c.refused(flags_group, 'config file with a syntax error', 'main',
            f'--config={bad_py}')
  c.refused(flags_group, 'unknown preset :smok', 'main',
            f'--config={CONFIG}:smok')
  c.refused(flags_group, '--num_processes alone', 'main', smoke,
            '--num_processes=2')
  c.refused(flags_group, '--process_id=5 --num_processes=2', 'main', smoke,
            '--coordinator_address=127.0.0.1:1', '--num_processes=2',
            '--process_id=5')
  c.refused(flags_group, 'total_epochs and total_steps both given', 'main',
            smoke, '--config.total_epochs=0.01', '--config.total_steps=6')
  c.refused(flags_group, 'misspelt key optim.lrr', 'main', smoke,
            '--config.optim.lrr=0.3')
  values = 'config values'
  for name, arg in (('unknown method name', 'method.name=simclrr'),
                    ('backbone.depth=19', 'backbone.depth=19'),
                    ('aug.crop_scale=0.5', 'aug.crop_scale=0.5'),
                    ('method.temperature=0', 'method.temperature=0'),
                    ('optim.lr=-1', 'optim.lr=-1'),
                    ('unknown dataset name', 'data.name=fashion_mnits')):
    c.refused(values, name, 'main', smoke, *data, f'--config.{arg}')
  c.refused(values, 'pmap with mesh_fsdp=2', 'main', smoke, *data,
            '--cpu_devices=2', '--config.parallel.mode=pmap',
            '--config.parallel.mesh_fsdp=2')
  typo = os.path.join(root, 'nowhere', 'tfds')
  c.refused(values, 'data_dir that does not exist', 'main', smoke,
            f'--config.data.data_dir={typo}', watch=(os.path.dirname(typo),))
  work = 'workdirs and processes'
  c.refused(work, '--workdir /proc/x', 'main', smoke, *data,
            workdir='/proc/ssl_jax_x')
  corrupt = c.trained('corrupt')
  with open(os.path.join(corrupt, 'config.json'), 'w') as f:
    f.write('{"seed": 0,')
  c.refused(work, 'corrupt config.json (train)', 'main', smoke, *data,
            workdir=corrupt)
  c.refused(work, 'corrupt config.json (evaluate)', 'evaluate',
            workdir=corrupt)
  c.refused(work, 'lone worker, no coordinator (3 s time-out)', 'main',
            smoke, *data,
            f'--coordinator_address=127.0.0.1:{portpicker.pick_unused_port()}',
            '--num_processes=2', '--process_id=1', '--coordinator_timeout=3')
  _resume_and_evaluate(c)
  return c.rows


def _resume_and_evaluate(c: Campaign) -> None:
  group = 'resume and re-evaluate'
  w = c.trained('resume')
  first = _read(os.path.join(w, 'config.json'))
  c.refused(group, 'resume with optim.lr and total_steps changed', 'main',
            c.smoke, *c.data, '--config.optim.lr=0.3',
            '--config.total_steps=10', workdir=w)
  p, s = _cli('main', c.smoke, *c.data, '--config.total_steps=8',
              '--config.allow_config_change=True', f'--workdir={w}')
  lost = [] if (_read(os.path.join(w, 'config.json')) == first and
                os.path.exists(os.path.join(w, 'config.6.json'))) else [
                    'config.json']
  c.record(group, 'the same with allow_config_change=True', p, s, False,
           lost)
  before = _results(w)
  p, s = _cli('evaluate', f'--workdir={w}', '--protocols=knn')
  after = _results(w)
  lost = [k for k in before if k not in after]
  c.record(group, 'evaluate --protocols=knn after knn,linear', p, s, False,
           lost)
  p, s = _cli('main', c.smoke, *c.data, '--config.total_steps=8',
              '--config.allow_config_change=True', f'--workdir={w}')
  lost = [] if 'Nothing to do' in p.stdout else ['no word']
  c.record(group, 'rerun of a finished workdir', p, s, False, lost)
  _double_ctrl_c(c, group)


def _double_ctrl_c(c: Campaign, group: str) -> None:
  """Two Ctrl-C at step 8 of 16, then the same command again."""
  w = os.path.join(c.root, 'ctrl_c')
  cmd = [sys.executable, '-m', 'ssl_jax.main', c.smoke, f'--workdir={w}',
         *c.data, '--config.total_steps=16', '--config.log_every_steps=1',
         '--config.checkpoint.every_steps=5']
  t0 = time.time()
  proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  out = []
  for line in proc.stdout:
    out.append(line)
    if line.startswith('step 8/'):
      break
  proc.send_signal(signal.SIGINT)
  time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  rest, err = proc.communicate(timeout=300)
  stopped = subprocess.CompletedProcess(cmd, proc.returncode,
                                        ''.join(out) + rest, err)
  again = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True,
                         text=True, timeout=600)
  with open(os.path.join(w, 'train_metrics.jsonl')) as f:
    steps = [json.loads(l)['step'] for l in f if l.strip()]
  lost = []
  if steps != sorted(set(steps)):
    lost.append('duplicated metrics rows')
  if again.returncode or 'from step' not in again.stdout:
    lost.append('rerun silent or failed')
  # Stopping at once is what two Ctrl-C ask for: accepted, if it said so.
  said = any(l.startswith('STOPPED: Stopped at once by a second SIGINT')
             for l in err.splitlines())
  c.record(group, 'two Ctrl-C in a run, then the same command', stopped,
           time.time() - t0, False, lost,
           outcome=ACCEPTED if said and proc.returncode == 130 else LATE)


def table(rows: list[dict]) -> str:
  """The README's bad-input table: per group, then all."""
  head = ['| bad input | tried | refused early | refused late | accepted | '
          'data lost |', '|---|---|---|---|---|---|']
  groups = list(dict.fromkeys(r['group'] for r in rows))

  def line(name, rs):
    count = lambda o: sum(r['outcome'] == o for r in rs)
    return (f'| {name} | {len(rs)} | {count(EARLY)} | {count(LATE)} | '
            f'{count(ACCEPTED)} | {sum(bool(r["lost"]) for r in rs)} |')

  body = [line(f'{g}: ' + ', '.join(f'`{r["input"]}`' for r in rows
                                     if r['group'] == g),
               [r for r in rows if r['group'] == g]) for g in groups]
  return '\n'.join(head + body + [line('**all**', rows)])
