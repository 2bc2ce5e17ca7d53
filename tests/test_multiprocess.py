"""Two processes on loopback (4 fake CPU devices each) train together like
one 8-device process, and their checkpoint is restored by a single process;
two processes reading a folder of images take disjoint, complete parts of
each global batch.

The processes are started by launch/local_multiprocess.sh (the real CLI with
`--coordinator_address ... --process_id`); a missing peer would abort a
process after its timeout, so everything runs as subprocesses under
timeouts.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import portpicker

from ssl_jax import checkpoint
from ssl_jax import train

from conftest import REPO, SMOKE_CONFIG, load_config, subprocess_env

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'data'))
import folder_shard_reader  # pylint: disable=g-import-not-at-top,wrong-import-position
from image_folders import write_folder  # pylint: disable=g-import-not-at-top,wrong-import-position

_SHARD_READER = os.path.join(REPO, 'tests', 'data', 'folder_shard_reader.py')


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


def test_two_processes_read_disjoint_complete_shards_of_a_folder(tmp_path):
  # Only the input runs in the two processes (folder_shard_reader.py): which
  # rows a process reads depends on jax.process_index()/process_count(),
  # nothing compiled; the training maths of two processes is the test above.
  images = str(tmp_path / 'images')
  write_folder(images, per_class=8)  # 16 images, batch 8: 2 steps an epoch.
  port = portpicker.pick_unused_port()
  procs = [subprocess.Popen(
      [sys.executable, _SHARD_READER, f'--folder={images}',
       f'--out={tmp_path}/rows_{i}.json', '--cpu_devices=1',
       f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
       f'--process_id={i}', '--coordinator_timeout=120'],
      env=subprocess_env(), cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True) for i in range(2)]
  try:
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
  finally:
    for proc in procs:  # A process whose peer died would wait 120 s.
      proc.kill()
  for proc, output in zip(procs, outputs):
    assert proc.returncode == 0, output[-5000:]
  shards = []
  for i in range(2):
    with open(tmp_path / f'rows_{i}.json', encoding='utf-8') as f:
      shards.append(json.load(f))
    assert (shards[i]['process_index'], shards[i]['process_count']) == (i, 2)
  # The one-process stream, read here (one process, 8 devices).
  whole = folder_shard_reader.rows_read(folder_shard_reader.folder_config(
      images))
  assert len(whole) == folder_shard_reader.STEPS
  for step, batch in enumerate(whole):
    first, second = (s['steps'][step] for s in shards)
    assert not set(first['files']) & set(second['files'])  # Disjoint,
    assert first['files'] + second['files'] == batch['files']  # complete,
    assert first['seed_id'] == [0, 1, 2, 3]  # in the global batch's order,
    assert second['seed_id'] == [4, 5, 6, 7]
    assert first['crops'] + second['crops'] == batch['crops']  # same crops.
  # Steps 0 and 1 are the first epoch: every image once.
  assert sorted(whole[0]['files'] + whole[1]['files']) == list(range(16))
