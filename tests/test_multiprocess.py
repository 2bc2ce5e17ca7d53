"""Two processes on loopback (4 fake CPU devices each) train together like
one 8-device process, and their checkpoint is restored by a single process.

The processes are started by launch/local_multiprocess.sh (the real CLI with
`--coordinator_address ... --process_id`); a missing peer would abort a
process after its timeout, so everything runs as subprocesses under
timeouts.
"""

import os
import subprocess
import sys

import jax
import numpy as np

from ssl_jax import checkpoint
from ssl_jax import train

from conftest import REPO, SMOKE_CONFIG, load_config, subprocess_env


def _params(workdir):
  step, state = checkpoint.load_numpy(workdir)
  return step, state['params']


def test_two_processes_match_one_and_their_checkpoint_restores_in_one(
    fmnist_data_dir, tmp_path):
  two, one = str(tmp_path / 'two'), str(tmp_path / 'one')
  # The two processes start through launch/local_multiprocess.sh (what users
  # run): process 0 prints, process 1 logs to its file.
  result = subprocess.run(
      ['bash', os.path.join(REPO, 'launch', 'local_multiprocess.sh'), '2',
       f'{SMOKE_CONFIG}:smoke', two,
       f'--config.data.data_dir={fmnist_data_dir}', '--config.total_steps=2',
       '--config.warmup_steps=1'],
      env=subprocess_env(CPU_DEVICES_PER_PROCESS='4',
                         PYTHON=sys.executable), cwd=REPO,
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
  with open(os.path.join(two, 'logs', 'process_1.log')) as f:
    log_1 = f.read()
  assert 'step 2/2' in result.stdout and 'step 2/2' not in log_1  # 0 only.
  # The one-process reference runs here (8 devices, no interpreter start-up).
  config = load_config('smoke')
  config.data.data_dir = fmnist_data_dir
  config.total_steps, config.warmup_steps = 2, 1
  train.run(config, one)
  (step_two, params_two), (step_one, params_one) = _params(two), _params(one)
  assert step_two == step_one == 2
  # Same global batches and maths; collectives differ (gloo vs in-process),
  # so equal to round-off (two steps: early training amplifies round-off,
  # ~1e-3 relative by step 4).
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4,
                                                       atol=2e-5),
               params_two, params_one)
  # The two-process checkpoint (checksummed by process 0) resumes in one
  # process with its 8 devices.
  assert os.path.exists(os.path.join(two, 'checksums', '2.json'))
  config.total_steps = 4
  config.allow_config_change = True  # A longer schedule, on purpose.
  state = train.run(config, two)
  assert int(state.step) == 4 and checkpoint.latest_step(two) == 4
