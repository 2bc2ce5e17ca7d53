"""Parallelism: a named mesh for `jax.jit` (default) and a `jax.pmap` adapter.

Both modes expose the same small interface to the trainer:

  make_step(step_factory)   -> step(state, host_batch) -> (state, metrics)
  init_state(init_fn)       -> the state, already placed on devices
  abstract_state(init_fn)   -> ShapeDtypeStructs with shardings (restore)
  to_saveable(state)        -> global arrays, one copy (checkpoint)
  from_restored(state)      -> state placed for this mode

Jit mode: mesh axes ('data', 'fsdp'); the batch is split over both; params
and optimizer state follow `param_spec` (replicated, or sharded over 'fsdp'
on their largest divisible dimension when fsdp > 1). State is created already
sharded (`jax.jit(init, out_shardings=...)`), never whole on one device.

Pmap mode: the same step function with `gather` = tiled all_gather and
`mean_grads` = pmean over the 'batch' axis, BatchNorm synced by axis name.
"""

import contextlib

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ssl_jax import config_lib

DATA_AXES = ('data', 'fsdp')
PMAP_AXIS = 'batch'
# Arrays smaller than this stay replicated under FSDP: sharding them costs
# more in collectives than it saves in memory.
_FSDP_MIN_SIZE = 2**14


# Platforms pushed by `compiling_for` (innermost last).
_TARGETS = []


def target_platform() -> str:
  """The platform the program being traced will run on: jax's default
  backend, or the one `compiling_for` names (aot.py compiles for a TPU on a
  machine without one). Models that pick a CPU-only form read this."""
  return _TARGETS[-1] if _TARGETS else jax.default_backend()


@contextlib.contextmanager
def compiling_for(platform: str):
  """Traces inside this block target `platform` ('tpu', 'gpu', 'cpu')."""
  _TARGETS.append(platform)
  try:
    yield
  finally:
    _TARGETS.pop()


def make_mesh(config, devices=None) -> Mesh:
  """The ('data', 'fsdp') mesh over `devices` (default: all of jax's).

  On TPUs the devices are laid out along the physical torus
  (`mesh_utils.create_device_mesh`), so the FSDP axis's collectives run over
  neighbouring chips; elsewhere in the order jax lists them.
  """
  devices = list(jax.devices() if devices is None else devices)
  data, fsdp = config_lib.mesh_shape(config, len(devices))
  if devices[0].platform == 'tpu':
    grid = mesh_utils.create_device_mesh(
        (data, fsdp), devices, allow_split_physical_axes=True)
  else:
    grid = np.asarray(devices).reshape(data, fsdp)
  return Mesh(grid, DATA_AXES)


def param_spec(shape, fsdp_size: int) -> P:
  """FSDP rule: shard the largest dimension divisible by the fsdp size."""
  if fsdp_size <= 1 or int(np.prod(shape)) < _FSDP_MIN_SIZE:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % fsdp_size == 0:
      spec = [None] * len(shape)
      spec[dim] = 'fsdp'
      return P(*spec)
  return P()


class JitMode:
  """jit over a named mesh with NamedSharding."""
  bn_axis_name = None

  def __init__(self, config, devices=None):
    self.mesh = make_mesh(config, devices)
    self.batch_sharding = NamedSharding(self.mesh, P(DATA_AXES))
    self.replicated = NamedSharding(self.mesh, P())

  def state_shardings(self, abstract):
    fsdp = self.mesh.shape['fsdp']
    return jax.tree.map(
        lambda x: NamedSharding(self.mesh, param_spec(x.shape, fsdp)),
        abstract)

  def abstract_state(self, init_fn):
    abstract = jax.eval_shape(init_fn)
    shardings = self.state_shardings(abstract)
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        abstract, shardings)

  def init_state(self, init_fn):
    shardings = self.state_shardings(jax.eval_shape(init_fn))
    return jax.jit(init_fn, out_shardings=shardings)()

  def put_batch(self, host_batch):
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(
            self.batch_sharding, x), host_batch)

  def jit_step(self, step_factory, abstract_state):
    """The jitted step on global arrays (state, put_batch(host batch)):
    what make_step runs, and what aot.py lowers for a TPU slice."""
    step_fn = step_factory(gather=lambda x: x, mean_grads=lambda g: g,
                           batch_shards=self.mesh.size)
    shardings = jax.tree.map(lambda x: x.sharding, abstract_state)
    return jax.jit(step_fn, in_shardings=(shardings, self.batch_sharding),
                   out_shardings=(shardings, self.replicated),
                   donate_argnums=(0,))

  def make_step(self, step_factory, abstract_state):
    jitted = self.jit_step(step_factory, abstract_state)

    def step(state, batch):
      return jitted(state, self.put_batch(batch))

    return step

  def to_saveable(self, state):
    return state

  def from_restored(self, state):
    return state


class PmapMode:
  """The same step under jax.pmap over this process's devices."""
  bn_axis_name = PMAP_AXIS

  def __init__(self, config, devices=None):
    del config
    self.devices = jax.local_devices() if devices is None else devices
    self.mesh = None

  def abstract_state(self, init_fn):
    device = jax.sharding.SingleDeviceSharding(self.devices[0])
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
        jax.eval_shape(init_fn))

  def init_state(self, init_fn):
    return self.from_restored(jax.jit(init_fn)())

  def put_batch(self, host_batch):
    n = len(self.devices)
    return jax.tree.map(
        lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:]), host_batch)

  def make_step(self, step_factory, abstract_state):
    del abstract_state
    step_fn = step_factory(
        gather=lambda t: jax.lax.all_gather(t, PMAP_AXIS, tiled=True),
        mean_grads=lambda g: jax.lax.pmean(g, PMAP_AXIS))
    pmapped = jax.pmap(step_fn, axis_name=PMAP_AXIS, donate_argnums=(0,),
                       devices=self.devices)

    def step(state, batch):
      state, metrics = pmapped(state, self.put_batch(batch))
      return state, jax.tree.map(lambda m: m[0], metrics)

    return step

  def to_saveable(self, state):
    return jax.tree.map(lambda x: x[0], state)

  def from_restored(self, state):
    """One copy per local device, stacked on a leading axis (pmap layout)."""
    n = len(self.devices)
    stacked = NamedSharding(Mesh(np.asarray(self.devices), (PMAP_AXIS,)),
                            P(PMAP_AXIS))
    return jax.tree.map(
        lambda x: jax.device_put(
            np.broadcast_to(np.asarray(x), (n,) + x.shape), stacked), state)


def make(config, devices=None):
  """The parallel mode named by `config.parallel.mode`, over `devices`
  (default: jax's; aot.py passes the abstract devices of a TPU slice)."""
  modes = {'jit': JitMode, 'pmap': PmapMode}
  if config.parallel.mode not in modes:
    raise config_lib.ConfigError(
        f'config.parallel.mode={config.parallel.mode!r} not in {list(modes)}.')
  return modes[config.parallel.mode](config, devices)


def to_host(tree):
  """Fully-addressable copies of (possibly sharded) arrays as numpy."""
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x)), tree)


__all__ = ['make', 'make_mesh', 'target_platform', 'compiling_for', 'param_spec', 'JitMode', 'PmapMode']
