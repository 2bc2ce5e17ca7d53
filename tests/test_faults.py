"""Fault injection: preemption, kills (also mid-save), corrupt checkpoints,
NaNs and a full disk. Nothing written may be lost; resumed runs must end
bitwise where an uninterrupted run ends (which also shows that the same seed
and config give the same parameters, process after process).

The kill/preemption scenarios run the CLI in subprocesses (one CPU device
each, so their numbers are comparable with each other, not with the 8-device
in-process tests).
"""

import os
import random
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import checkpoint
from ssl_jax import guards
from ssl_jax import methods
from ssl_jax import train

from conftest import REPO, SMOKE_CONFIG, subprocess_env

TOTAL = 12


def _cli(workdir, data_dir, *extra):
  return [sys.executable, '-m', 'ssl_jax.main', f'--config={SMOKE_CONFIG}:smoke',
          f'--workdir={workdir}', f'--config.data.data_dir={data_dir}',
          f'--config.total_steps={TOTAL}', '--config.checkpoint.every_steps=1',
          '--config.log_every_steps=1',
          '--config.progress_seconds=0',  # A console line every step.
          *extra]


def _final_params(workdir):
  step, state = checkpoint.load_numpy(workdir)
  return step, state['params']


@pytest.fixture(scope='module')
def reference(fmnist_data_dir, tmp_path_factory):
  """An uninterrupted CLI run: the numbers every recovery must reproduce."""
  workdir = str(tmp_path_factory.mktemp('reference'))
  subprocess.run(_cli(workdir, fmnist_data_dir), env=subprocess_env(),
                 check=True, capture_output=True, cwd=REPO, timeout=600)
  return _final_params(workdir)


def _start_and_wait_for_step(cmd, step):
  proc = subprocess.Popen(cmd, env=subprocess_env(), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  for line in proc.stdout:
    if line.startswith(f'step {step}/'):
      return proc
  raise AssertionError(f'the run ended before step {step}: rc {proc.wait()}')


def test_sigterm_then_kills_then_resume_end_where_a_clean_run_ends(
    reference, fmnist_data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  cmd = _cli(workdir, fmnist_data_dir)
  # SIGTERM: a checkpoint at the current step, exit 0, nothing lost.
  proc = _start_and_wait_for_step(cmd, 3)
  proc.send_signal(signal.SIGTERM)
  out = proc.stdout.read()
  assert proc.wait(timeout=120) == 0, out
  assert 'Stopped by SIGTERM at step' in out
  stopped = int(out.split('Stopped by SIGTERM at step ')[1].split(':')[0])
  assert checkpoint.latest_step(workdir) == stopped  # No step lost.
  # SIGKILL at a random moment (every step saves, so a kill may land in a
  # save): the resume restarts from the last complete step. (One kill: each
  # costs a process start-up; test_bad_inputs.py resumes past a
  # half-written checkpoint folder.)
  before = checkpoint.latest_step(workdir)
  proc = _start_and_wait_for_step(cmd, before + 1)
  time.sleep(random.Random(0).uniform(0.0, 1.0))
  proc.kill()
  proc.wait(timeout=60)
  assert checkpoint.latest_step(workdir) >= before  # Never lost one.
  subprocess.run(cmd, env=subprocess_env(), check=True, capture_output=True,
                 cwd=REPO, timeout=600)
  step, params = _final_params(workdir)
  ref_step, ref_params = reference
  assert step == ref_step == TOTAL
  jax.tree.map(np.testing.assert_array_equal, params, ref_params)


def _largest_file(step_dir):
  files = [os.path.join(d, f) for d, _, fs in os.walk(step_dir) for f in fs]
  return max(files, key=os.path.getsize)


@pytest.mark.parametrize('damage', ['truncate', 'bitflip'])
def test_corrupt_checkpoint_is_detected_and_can_fall_back(
    smoke_config, tmp_path, damage):
  smoke_config.total_steps = 4
  smoke_config.checkpoint.every_steps = 2
  workdir = str(tmp_path)
  train.run(smoke_config, workdir)
  victim = _largest_file(os.path.join(workdir, 'checkpoints', '4'))
  with open(victim, 'r+b') as f:
    if damage == 'truncate':
      f.truncate(os.path.getsize(victim) // 2)
    else:
      f.seek(os.path.getsize(victim) // 2)
      byte = f.read(1)
      f.seek(-1, 1)
      f.write(bytes([byte[0] ^ 0xFF]))
  smoke_config.total_steps = 6
  smoke_config.allow_config_change = True  # A longer run of the same one.
  with pytest.raises(checkpoint.CorruptCheckpoint) as e:
    train.run(smoke_config, workdir)
  assert 'step 4' in str(e.value) and os.path.basename(victim) in str(e.value)
  assert 'on_corrupt=previous' in str(e.value)
  assert checkpoint.latest_step(workdir) == 4  # Refused, nothing touched.
  smoke_config.checkpoint.on_corrupt = 'previous'
  state = train.run(smoke_config, workdir)
  assert int(state.step) == 6
  moved = os.listdir(os.path.join(workdir, 'corrupt'))
  assert len(moved) == 1 and moved[0].startswith('4-')  # Kept, not deleted.


class _SimclrNanAtStep3(methods.get('simclr')):
  """SimCLR whose loss is NaN at step 3 as the console counts (the state's
  step 2): the fault injected by the test's method, not the trainer."""

  def objective(self, outputs, extras, step):
    loss, metrics, aux = super().objective(outputs, extras, step)
    return jnp.where(step == 3 - 1, jnp.nan, loss), metrics, aux


methods.register('simclr_nan_at_step_3', _SimclrNanAtStep3)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(smoke_config,
                                                              tmp_path):
  smoke_config.total_steps = 6
  smoke_config.checkpoint.every_steps = 2
  smoke_config.method.name = 'simclr_nan_at_step_3'
  with pytest.raises(guards.NonFiniteError,
                     match=r'at step 3 .*checkpoint \(step 2\) is good'):
    train.run(smoke_config, str(tmp_path / 'stop'))
  assert checkpoint.latest_step(str(tmp_path / 'stop')) == 2
  # Skip-and-continue: the bad step's update is dropped, the run finishes.
  smoke_config.nonfinite_skips = 1
  state = train.run(smoke_config, str(tmp_path / 'skip'))
  assert int(state.step) == 6
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))


def test_full_disk_fails_clearly_and_loses_nothing(smoke_config, tmp_path):
  # What a workdir with one checkpoint takes (blocks: tmpfs counts pages).
  probe = str(tmp_path / 'probe')
  smoke_config.total_steps = 3
  train.run(smoke_config, probe)
  used = int(subprocess.run(['du', '-s', '--block-size=1', probe],
                            capture_output=True, text=True,
                            check=True).stdout.split()[0])
  mount = tmp_path / 'small_disk'
  mount.mkdir()
  # A tmpfs that holds the first checkpoints but not ten. Mounting needs root
  # (CI runs as root; elsewhere the test says so).
  result = subprocess.run(['mount', '-t', 'tmpfs', '-o',
                           f'size={int(2.5 * used) // 1024}k', 'tmpfs',
                           str(mount)], capture_output=True)
  if result.returncode:
    pytest.skip(f'cannot mount a size-limited tmpfs here: {result.stderr!r}')
  try:
    workdir = str(mount / 'w')
    smoke_config.total_steps = 12
    smoke_config.checkpoint.every_steps = 1
    smoke_config.checkpoint.keep = 10
    with pytest.raises(checkpoint.CheckpointWriteError, match='disk full'):
      train.run(smoke_config, workdir)
    last = checkpoint.latest_step(workdir)
    assert last and last >= 1
    # Space freed (here: the run moves to a bigger disk), the same workdir
    # resumes from its last complete checkpoint, which verifies.
    bigger = str(tmp_path / 'moved')
    subprocess.run(['cp', '-a', workdir, bigger], check=True)
    smoke_config.checkpoint.keep = 3
    state = train.run(smoke_config, bigger)
    assert int(state.step) == 12
  finally:
    subprocess.run(['umount', '-l', str(mount)], check=False)  # -l: even if
    # a background writer still holds a file open.

