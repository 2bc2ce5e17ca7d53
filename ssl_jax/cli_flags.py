"""Flags shared by the CLIs: the workdir, multi-host start-up, fake CPU
devices, tracebacks.

  --workdir=DIR                 the run's folder (main, evaluate, report,
                                export).
  --distributed                 jax.distributed.initialize() with no
                                arguments: TPU pods and SLURM fill them in.
  --coordinator_address=H:P     explicit multi-process start (with
  --num_processes=N --process_id=I)   all three; what launch/
                                local_multiprocess.sh uses on loopback.
  --coordinator_timeout=S       how long processes wait for each other at
                                start-up (default 300 s, jax's).
  --cpu_devices=N               N fake CPU devices per process (testing
                                meshes and multi-host on one machine).
  --verbose                     tracebacks with the errors of bad input.

Flags are parsed and checked before TensorFlow or JAX is imported, so a
wrong flag is answered at once; `initialize()` must run before anything
touches a JAX backend.
"""

import socket
import sys
import time

from absl import flags

from ssl_jax import config_lib
from ssl_jax import errors

WORKDIR = flags.DEFINE_string(
    'workdir', None,
    'The run folder: checkpoints, configs, metrics, evaluations, report.')
VERBOSE = flags.DEFINE_bool(
    'verbose', False, 'Show the traceback of bad-input errors too.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False,
    'Call jax.distributed.initialize() (auto-configured on TPU pods and '
    'under SLURM).')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0 (multi-process).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None,
                                      'Number of processes (multi-process).')
_PROCESS_ID = flags.DEFINE_integer('process_id', None,
                                   'This process (0..num_processes-1).')
_TIMEOUT = flags.DEFINE_float(
    'coordinator_timeout', 300.0,
    'Seconds the processes of a multi-process run wait for each other at '
    'start-up (a process other than 0: for the coordinator to answer).')
_CPU_DEVICES = flags.DEFINE_integer(
    'cpu_devices', None, 'Fake CPU devices per process (testing).')


@flags.multi_flags_validator(
    ['coordinator_address', 'num_processes', 'process_id'],
    message='--coordinator_address, --num_processes and --process_id go '
    'together (all three or none)')
def _all_or_none(values):
  return len({v is None for v in values.values()}) == 1


@flags.multi_flags_validator(
    ['coordinator_address', 'num_processes', 'process_id'],
    message='need --num_processes >= 1, 0 <= --process_id < --num_processes '
    'and --coordinator_address=host:port')
def _consistent(values):
  address, n, i = (values[k] for k in ('coordinator_address',
                                       'num_processes', 'process_id'))
  if n is None or i is None or address is None:
    return True
  host, _, port = address.rpartition(':')
  return n >= 1 and 0 <= i < n and bool(host) and port.isdigit()


def _wait_for_coordinator(address: str, timeout: float, process_id: int,
                          num_processes: int) -> None:
  """Polls the coordinator's port, saying what it waits for. jax's own wait
  is silent, and ends in an abort of the whole process."""
  host, _, port = address.rpartition(':')
  me = f'Process {process_id} of {num_processes}'
  print(f'{me}: waiting up to {timeout:g} s (--coordinator_timeout) for the '
        f'coordinator, process 0, at {address}...', flush=True)
  deadline = time.monotonic() + timeout
  while True:
    left = deadline - time.monotonic()
    try:
      with socket.create_connection((host.strip('[]'), int(port)),
                                    timeout=max(0.1, min(1.0, left))):
        return
    except OSError as e:
      last = e.strerror or str(e)
    if left <= 0:
      raise errors.UserError(
          f'{me}: no coordinator answered at {address} within {timeout:g} s '
          f'(--coordinator_timeout; last attempt: {last}). Start process 0 '
          'with the same --coordinator_address and --num_processes, or '
          'check the address.')
    time.sleep(min(0.5, max(left, 0.0)))


def initialize() -> None:
  """Sets up devices and, if asked, the multi-process runtime.

  Raises:
    errors.UserError: a process other than 0 found no coordinator in
      --coordinator_timeout seconds.
  """
  import jax  # pylint: disable=g-import-not-at-top
  if _CPU_DEVICES.value:
    jax.config.update('jax_num_cpu_devices', _CPU_DEVICES.value)
  address, n, i = _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value
  timeout = _TIMEOUT.value
  if address is not None:
    if i:
      _wait_for_coordinator(address, timeout, i, n)
    else:
      print(f'Process 0 of {n}: coordinator at {address}; waiting up to '
            f'{timeout:g} s (--coordinator_timeout) for all {n} processes to '
            'join...', flush=True)
    jax.distributed.initialize(coordinator_address=address,
                               num_processes=n, process_id=i,
                               initialization_timeout=int(timeout + 0.999))
  elif _DISTRIBUTED.value:
    print('jax.distributed.initialize(): auto-configured start-up (TPU pod '
          f'or SLURM), waiting up to {timeout:g} s for every process...',
          flush=True)
    jax.distributed.initialize(initialization_timeout=int(timeout + 0.999))


def _config_spec(argv) -> str | None:
  spec = next((a.split('=', 1)[1] for a in argv
               if a.startswith('--config=')), None)
  if spec is None and '--config' in argv[:-1]:
    spec = argv[argv.index('--config') + 1]
  return spec


def parse_flags(argv):
  """absl parsing (`app.run(..., flags_parser=parse_flags)`): a bad flag, a
  config file that is missing, does not parse or takes no such preset, and
  a misspelt `--config.x` (answered by the valid keys of that config) end
  the program with one `FATAL:` line (`--verbose`: with the traceback)."""
  verbose = '--verbose' in argv or '--verbose=true' in argv
  spec = _config_spec(argv)
  config = None
  if spec:
    try:
      config = config_lib.load_file(spec)
    except errors.UserError as e:
      if verbose:
        raise
      sys.exit(f'FATAL: {type(e).__name__}: {errors.one_line(str(e))}')
  try:
    return flags.FLAGS(argv)
  except Exception as error:  # pylint: disable=broad-except
    if config is not None:
      for arg in argv:
        if arg.startswith('--config.'):
          key = arg[len('--config.'):].split('=', 1)[0]
          if message := config_lib.unknown_key_message(config, key):
            sys.exit(f'FATAL: {message}')
    if isinstance(error, flags.Error) and not verbose:
      sys.exit(f'FATAL: {errors.one_line(str(error))}')
    raise
