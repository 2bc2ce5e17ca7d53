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

from absl import flags

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
