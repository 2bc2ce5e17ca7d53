"""Flags shared by the CLIs: multi-host start-up and fake CPU devices.

  --distributed                 jax.distributed.initialize() with no
                                arguments: TPU pods and SLURM fill them in.
  --coordinator_address=H:P     explicit multi-process start (with
  --num_processes=N --process_id=I)   all three; what launch/
                                local_multiprocess.sh uses on loopback.
  --cpu_devices=N               N fake CPU devices per process (testing
                                meshes and multi-host on one machine).

`initialize()` must run before anything touches a JAX backend.
"""

import sys

from absl import flags

from ssl_jax import config_lib

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
_CPU_DEVICES = flags.DEFINE_integer(
    'cpu_devices', None, 'Fake CPU devices per process (testing).')


def initialize() -> None:
  """Sets up devices and, if asked, the multi-process runtime."""
  import jax  # pylint: disable=g-import-not-at-top
  if _CPU_DEVICES.value:
    jax.config.update('jax_num_cpu_devices', _CPU_DEVICES.value)
  explicit = [_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value]
  if any(v is not None for v in explicit):
    if any(v is None for v in explicit):
      raise flags.ValidationError(
          '--coordinator_address, --num_processes and --process_id go '
          'together.')
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value,
                               process_id=_PROCESS_ID.value)
  elif _DISTRIBUTED.value:
    jax.distributed.initialize()


def parse_flags(argv):
  """absl parsing (`app.run(..., flags_parser=parse_flags)`), with a
  misspelt `--config.x` answered by the valid keys of that config."""
  try:
    return flags.FLAGS(argv)
  except Exception as error:  # pylint: disable=broad-except
    spec = next((a.split('=', 1)[1] for a in argv
                 if a.startswith('--config=')), None)
    if spec is None and '--config' in argv[:-1]:
      spec = argv[argv.index('--config') + 1]
    if spec:
      try:
        config = config_lib.load_file(spec)
      except Exception:  # pylint: disable=broad-except
        raise error from None
      for arg in argv:
        if arg.startswith('--config.'):
          key = arg[len('--config.'):].split('=', 1)[0]
          if message := config_lib.unknown_key_message(config, key):
            sys.exit(f'FATAL: {message}')
    if isinstance(error, flags.Error):
      sys.exit(f'FATAL: {error}')
    raise
