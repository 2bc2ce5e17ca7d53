"""launch/: every script parses, and local_multiprocess.sh stops every
process and fails when one fails (its successful two-process training is
tests/test_multiprocess.py; the SLURM and TPU scripts need a cluster: only
their syntax is checked here)."""

import os
import subprocess
import sys

import pytest

from conftest import REPO, SMOKE_CONFIG, subprocess_env

_LAUNCH = os.path.join(REPO, 'launch')


@pytest.mark.parametrize('script', ['local_multiprocess.sh',
                                    'slurm_gpu.sbatch', 'tpu_pod.sh'])
def test_script_parses(script):
  result = subprocess.run(['bash', '-n', os.path.join(_LAUNCH, script)],
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stderr


def _local(workdir, *flags):
  env = subprocess_env(PYTHON=sys.executable)
  return subprocess.run(
      ['bash', os.path.join(_LAUNCH, 'local_multiprocess.sh'), '2',
       f'{SMOKE_CONFIG}:smoke', workdir, *flags],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_local_multiprocess_fails_when_a_process_fails(tmp_path):
  result = _local(str(tmp_path / 'run'), '--config.no_such_key=1')
  assert result.returncode != 0
  assert 'Unknown config key config.no_such_key' in result.stdout + (
      result.stderr)
  assert 'exited with status' in result.stderr
