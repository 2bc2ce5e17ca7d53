"""Fault-injection campaign: how many interruptions are survived, how many
steps each one costs. Writes the README's scenario table.

  python benchmarks/fault_injection.py [--kills 10] [--out results.jsonl]
  python benchmarks/fault_injection.py --bad-inputs-only [--readme README.md]

Runs the CLI on the smoke config (real Fashion-MNIST) in subprocesses:
  - SIGTERM at a random step: must exit 0 with a checkpoint at that step;
  - SIGKILL at random moments (checkpoints every step, so many land inside a
    save): must resume from the last complete checkpoint;
  - each run is finished by resuming, and its final parameters must equal an
    uninterrupted run's, bitwise;
  - a truncated and a bit-flipped checkpoint file: must be refused with the
    step and file named, then recovered with on_corrupt=previous.
"Steps lost" = the last step printed before the kill minus the step the
resumed run restarts from.

Then the bad-input section (bad_inputs.py): mistakes a new user makes, each
refused early, refused late or accepted, and whether anything was lost; its
table goes between the README's `<!-- bad-input-table -->` markers.
`--bad-inputs-only` runs that section alone (a few minutes).
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
CONFIG = os.path.join(REPO, 'configs', 'simclr_fashion_mnist.py')
TOTAL = 16


def _cmd(workdir, *extra):
  return [sys.executable, '-m', 'ssl_jax.main', f'--config={CONFIG}:smoke',
          f'--workdir={workdir}', f'--config.total_steps={TOTAL}',
          '--config.checkpoint.every_steps=1', '--config.log_every_steps=1',
          *extra]


def _env():
  return dict(os.environ, PYTHONUNBUFFERED='1')


def _latest(workdir):
  from ssl_jax import checkpoint  # pylint: disable=g-import-not-at-top
  return checkpoint.latest_step(workdir) or 0


def _params(workdir):
  import jax  # pylint: disable=g-import-not-at-top
  from ssl_jax import checkpoint  # pylint: disable=g-import-not-at-top
  _, state = checkpoint.load_numpy(workdir)
  return jax.tree.leaves(state['params'])


def _interrupt(workdir, sig, rng, extra=()):
  """Starts a run, interrupts it; returns (last step printed, rc)."""
  proc = subprocess.Popen(_cmd(workdir, *extra), env=_env(), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  target = rng.randint(_latest(workdir) + 1, TOTAL - 1)
  last = _latest(workdir)
  for line in proc.stdout:
    if line.startswith('step '):
      last = int(line.split()[1].split('/')[0])
      if last >= target:
        break
  time.sleep(rng.uniform(0.0, 0.8))
  proc.send_signal(sig)
  for line in proc.stdout:  # Drain, noting steps finished meanwhile.
    if line.startswith('step '):
      last = int(line.split()[1].split('/')[0])
  return last, proc.wait(timeout=300)


def run_kills(root, n, sig, rng, reference):
  rows = []
  for i in range(n):
    workdir = os.path.join(root, f'{signal.Signals(sig).name}_{i}')
    last, rc = _interrupt(workdir, sig, rng)
    resumed_from = _latest(workdir)
    finish = subprocess.run(_cmd(workdir), env=_env(), cwd=REPO,
                            capture_output=True, text=True)
    equal = finish.returncode == 0 and all(
        np.array_equal(a, b) for a, b in zip(_params(workdir), reference))
    rows.append({'signal': signal.Signals(sig).name, 'rc': rc,
                 'last_step': last, 'resumed_from': resumed_from,
                 'lost': max(0, last - resumed_from), 'recovered': equal})
  return rows


def run_corruptions(root, reference):
  rows = []
  for damage in ('truncate', 'bitflip'):
    workdir = os.path.join(root, damage)
    subprocess.run(_cmd(workdir), env=_env(), cwd=REPO, check=True,
                   capture_output=True)
    step_dir = os.path.join(workdir, 'checkpoints', str(TOTAL))
    victim = max((os.path.join(d, f) for d, _, fs in os.walk(step_dir)
                  for f in fs), key=os.path.getsize)
    with open(victim, 'r+b') as f:
      size = os.path.getsize(victim)
      if damage == 'truncate':
        f.truncate(size // 2)
      else:
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    longer = ('--config.total_steps=%d' % (TOTAL + 2),
              '--config.allow_config_change=True')
    refused = subprocess.run(_cmd(workdir, *longer), env=_env(), cwd=REPO,
                             capture_output=True, text=True)
    named = (refused.returncode != 0 and f'step {TOTAL}' in refused.stderr
             and os.path.basename(victim) in refused.stderr)
    fallback = subprocess.run(
        _cmd(workdir, *longer, '--config.checkpoint.on_corrupt=previous'),
        env=_env(), cwd=REPO, capture_output=True, text=True)
    rows.append({'damage': damage, 'refused_naming_file': named,
                 'recovered': fallback.returncode == 0,
                 'lost': 1 if fallback.returncode == 0 else None})
  del reference
  return rows


def run_bad_inputs(readme: str | None, out: str | None) -> None:
  import bad_inputs  # pylint: disable=g-import-not-at-top
  import doc_blocks  # pylint: disable=g-import-not-at-top
  import machine  # pylint: disable=g-import-not-at-top
  root = tempfile.mkdtemp(prefix='ssl_jax_bad_inputs_')
  t0 = time.time()
  try:
    rows = bad_inputs.run(root)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  m = machine.describe()
  text = (bad_inputs.table(rows) + '\n\n`python benchmarks/'
          f'fault_injection.py --bad-inputs-only`, '
          f"{time.strftime('%Y-%m-%d')}, {m['cpu_cores']}-core {m['cpu']}, "
          f'{(time.time() - t0) / 60:.1f} min.')
  print(text)
  for row in rows:
    print(json.dumps(row))
  if readme:
    doc_blocks.write_block(readme, 'bad-input-table', text)
  machine.report({'bad_inputs': rows, 'seconds': time.time() - t0}, out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--kills', type=int, default=10)
  parser.add_argument('--terms', type=int, default=5)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out', default=None)
  parser.add_argument('--bad-inputs-only', action='store_true',
                      help='Run the bad-input section alone.')
  parser.add_argument('--readme', default=None,
                      help='Write the bad-input table into this README.')
  args = parser.parse_args()
  if args.bad_inputs_only:
    run_bad_inputs(args.readme, args.out)
    return
  rng = random.Random(args.seed)
  root = tempfile.mkdtemp(prefix='ssl_jax_faults_')
  t0 = time.time()
  try:
    ref_dir = os.path.join(root, 'reference')
    subprocess.run(_cmd(ref_dir), env=_env(), cwd=REPO, check=True,
                   capture_output=True)
    reference = _params(ref_dir)
    terms = run_kills(root, args.terms, signal.SIGTERM, rng, reference)
    kills = run_kills(root, args.kills, signal.SIGKILL, rng, reference)
    corrupt = run_corruptions(root, reference)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  import machine  # pylint: disable=g-import-not-at-top
  summary = {
      'sigterm': {'tried': len(terms),
                  'exit_0': sum(r['rc'] == 0 for r in terms),
                  'recovered_bitwise': sum(r['recovered'] for r in terms),
                  'max_steps_lost': max(r['lost'] for r in terms)},
      'sigkill': {'tried': len(kills),
                  'recovered_bitwise': sum(r['recovered'] for r in kills),
                  'max_steps_lost': max(r['lost'] for r in kills),
                  'steps_lost': [r['lost'] for r in kills]},
      'corrupt': corrupt, 'seconds': time.time() - t0}
  machine.report(summary, args.out)
  run_bad_inputs(args.readme, args.out)


if __name__ == '__main__':
  main()
