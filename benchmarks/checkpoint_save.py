"""Seconds per synchronous checkpoint save of a small replicated state.

  python benchmarks/checkpoint_save.py [--devices 8] [--leaves 181]
      [--saves 12] [--out results.jsonl]

A state of `--leaves` float32 arrays (the SimCLR smoke state's count and
about its 372 KB), replicated over `--devices` CPU devices, saved `--saves`
times through `ssl_jax.checkpoint` as the trainer saves (Orbax,
synchronous), twice: with Orbax's own jax.Array handler (every replicated
array sliced once per device, "replica parallel") and with ssl_jax's
(arrays under `checkpoint.MIN_BYTES_PER_REPLICA_SLICE` per slice written by
one replica). Prints and appends one JSON row with the machine.
"""

import os
import sys
import tempfile
import time

from absl import app
from absl import flags

_DEVICES = flags.DEFINE_integer('devices', 8, 'Fake CPU devices.')
_LEAVES = flags.DEFINE_integer('leaves', 181, 'Arrays in the state.')
_SAVES = flags.DEFINE_integer('saves', 12, 'Saves timed per handler.')
_OUT = flags.DEFINE_string('out', None, 'JSONL file to append the row to.')


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_num_cpu_devices', _DEVICES.value)
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.metadata import array_metadata_store  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.serialization import type_handler_registry  # pylint: disable=g-import-not-at-top
  from ml_collections import config_dict  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import machine  # pylint: disable=g-import-not-at-top
  from ssl_jax import checkpoint  # pylint: disable=g-import-not-at-top

  mesh = jax.sharding.Mesh(np.array(jax.devices()), ('data',))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  rng = np.random.default_rng(0)
  # Mostly small vectors and a few kernels, as a small network's state.
  shapes = [(3, 3, 16, 16) if i % 8 == 0 else (16,)
            for i in range(_LEAVES.value)]
  state = {f'leaf_{i}': jax.device_put(
      rng.normal(size=s).astype(np.float32), replicated)
           for i, s in enumerate(shapes)}
  config = config_dict.ConfigDict({'checkpoint': {'keep': 2,
                                                  'async_save': False}})
  handlers = {
      'orbax_default': ocp.type_handlers.ArrayHandler(
          array_metadata_store=array_metadata_store.Store()),
      'ssl_jax': ocp.type_handlers.get_type_handler(jax.Array),
  }
  row = {'benchmark': 'checkpoint_save', 'devices': _DEVICES.value,
         'leaves': _LEAVES.value,
         'state_bytes': int(sum(x.nbytes for x in state.values())),
         'saves': _SAVES.value}
  for name, handler in handlers.items():
    type_handler_registry.GLOBAL_TYPE_HANDLER_REGISTRY.add(
        jax.Array, handler, override=True, ignore_warnings=True)
    with tempfile.TemporaryDirectory() as workdir:
      mgr = checkpoint.manager(workdir, config)
      checkpoint.save(mgr, 0, state, {'warm': 'up'})  # First-save costs.
      t0 = time.perf_counter()
      for step in range(1, _SAVES.value + 1):
        checkpoint.save(mgr, step, state, {'step': step})
      mgr.wait_until_finished()
      row[f'{name}_seconds_per_save'] = round(
          (time.perf_counter() - t0) / _SAVES.value, 3)
      mgr.close()
  machine.report(row, _OUT.value)


if __name__ == '__main__':
  app.run(main)
