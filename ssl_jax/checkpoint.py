"""Checkpoints with Orbax: restore-or-init, periodic atomic saves, keep N.

A checkpoint step holds two items: `state` (the TrainState pytree) and `meta`
(JSON: method name, global batch, data position). Orbax writes each step into
a temporary folder and renames it when complete, so a crash mid-save leaves
the previous step intact and the partial one invisible; once a save has
completed, its files' checksums are recorded (checkpoint_integrity.py).

`Checkpointer.restore_latest` verifies the newest step's checksums, then
compares it with what the config would build (method, batch size, every
array's path, shape and dtype) and raises `CheckpointMismatch` naming the
differences (a workdir from another experiment is refused, not overwritten),
then restores. A corrupt step raises `CorruptCheckpoint` naming the step and
the file, or, with `config.checkpoint.on_corrupt='previous'`, is moved to
`<workdir>/corrupt/` and the next older step is tried. A workdir holding
checkpoints is never silently restarted from scratch.
"""

import os
import tempfile

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from orbax.checkpoint._src.metadata import array_metadata_store
from orbax.checkpoint._src.serialization import type_handler_registry
from jax.experimental import multihost_utils

from ssl_jax import checkpoint_integrity as integrity
from ssl_jax import config_lib

CorruptCheckpoint = integrity.CorruptCheckpoint

_DIR = 'checkpoints'

# Orbax splits every replicated array into one slice per device ("replica
# parallel"), so that the hosts of a pod share the writing of large arrays.
# For small arrays the slicing (a dispatched op per slice) costs more than
# it saves: a smoke run's 181 arrays (372 KB, 8 devices) became ~1,100 slices
# per save. Arrays whose slice per replica would be under 1 MiB are written
# by their first replica, as Orbax does for unreplicated arrays. Orbax's own
# handler otherwise (the same files on disk), registered without the
# warning Orbax's public register_type_handler would print in every process.
MIN_BYTES_PER_REPLICA_SLICE = 1 << 20
type_handler_registry.GLOBAL_TYPE_HANDLER_REGISTRY.add(
    jax.Array,
    ocp.type_handlers.ArrayHandler(
        array_metadata_store=array_metadata_store.Store(),
        min_slice_bytes_for_replica_parallel=MIN_BYTES_PER_REPLICA_SLICE),
    override=True, ignore_warnings=True)


class CheckpointMismatch(config_lib.UserError):
  """The workdir's checkpoint was made by a different config."""


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (disk full, read-only, ...)."""


def check_workdir(workdir: str) -> None:
  """Fails early on a workdir that is a file or cannot be written.

  Writability is probed by creating (and at once deleting) a temporary file
  in the workdir or its nearest existing parent: permission bits alone do not
  tell (root ignores them; read-only mounts do not).
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f'--workdir {workdir!r} is a file, not a folder.')
  probe_dir = os.path.abspath(workdir)
  while not os.path.exists(probe_dir):
    probe_dir = os.path.dirname(probe_dir)
  try:
    with tempfile.TemporaryFile(dir=probe_dir):
      pass
  except OSError as e:
    if probe_dir == os.path.abspath(workdir):
      raise PermissionError(f'--workdir {workdir!r} cannot be written: '
                            f'{e.strerror}.') from None
    raise PermissionError(
        f'--workdir {workdir!r} cannot be created: {probe_dir!r} does not '
        f'accept new files or folders ({e.strerror}).') from None


def manager(workdir: str, config, create: bool = True) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=config.checkpoint.keep, create=create,
      enable_async_checkpointing=config.checkpoint.async_save,
      cleanup_tmp_directories=True)
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), _DIR), options=options,
      item_handlers={'state': ocp.StandardCheckpointHandler(),
                     'meta': ocp.JsonCheckpointHandler()})


def latest_step(workdir: str) -> int | None:
  """Newest complete checkpoint step in `workdir`, without creating it."""
  path = os.path.join(workdir, _DIR)
  if not os.path.isdir(path):
    return None
  steps = [int(name) for name in os.listdir(path) if name.isdigit()]
  return max(steps) if steps else None


def incomplete_saves(workdir: str) -> list[str]:
  """Folders of saves that never completed (Orbax's temporary names, left
  by a process killed or stopped at once while saving). The manager
  removes them when it opens the workdir (`cleanup_tmp_directories`)."""
  path = os.path.join(workdir, _DIR)
  if not os.path.isdir(path):
    return []
  return sorted(os.path.join(_DIR, name) for name in os.listdir(path)
                if '.orbax-checkpoint-tmp' in name)


def make_meta(method_name: str, config, step: int) -> dict:
  return {'method': method_name, 'global_batch': config.batch_size,
          'step': step, 'examples_seen': step * config.batch_size}


def _key_name(entry) -> str:
  for attr in ('key', 'name', 'idx'):
    if hasattr(entry, attr):
      return str(getattr(entry, attr))
  return str(entry)


def _leaves(tree) -> dict[str, tuple]:
  """'a/b/c' -> (shape, dtype); dataclass, dict and tuple paths alike."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {'/'.join(_key_name(e) for e in path): (tuple(leaf.shape),
                                                 str(leaf.dtype))
          for path, leaf in flat}


def check_compatible(mgr, step: int, abstract_state, method_name: str,
                     config) -> dict:
  """Raises CheckpointMismatch unless `step` fits this config; returns meta."""
  where = f'checkpoint step {step} in {mgr.directory}'
  meta = mgr.restore(step, args=ocp.args.Composite(
      meta=ocp.args.JsonRestore()))['meta']
  if meta['method'] != method_name:
    raise CheckpointMismatch(
        f'{where} was trained by method {meta["method"]!r}; this config '
        f'trains {method_name!r}. Use another --workdir.')
  if meta['global_batch'] != config.batch_size:
    raise CheckpointMismatch(
        f'{where} used batch_size {meta["global_batch"]}; this config has '
        f'{config.batch_size}. Resuming would change the data order; use '
        'the same batch_size or another --workdir.')
  saved = _leaves(mgr.item_metadata(step)['state'])
  wanted = _leaves(abstract_state)
  problems = [f'missing {k}' for k in sorted(set(wanted) - set(saved))]
  problems += [f'unexpected {k}' for k in sorted(set(saved) - set(wanted))]
  problems += [f'{k}: saved {saved[k][0]}, config wants {wanted[k][0]}'
               for k in sorted(set(saved) & set(wanted))
               if saved[k][0] != wanted[k][0]]
  if problems:
    shown = '; '.join(problems[:5])
    more = f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''
    raise CheckpointMismatch(
        f'{where} does not fit this config: {shown}{more}. Use another '
        '--workdir or the config that wrote it.')
  return meta


def restore(mgr, step: int, abstract_state):
  restored = mgr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state),
      meta=ocp.args.JsonRestore()))
  return restored['state'], restored['meta']


def save(mgr, step: int, state, meta: dict, force: bool = False) -> bool:
  return mgr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                  force=force)


class Checkpointer:
  """The trainer's view of checkpoints: restore-or-init and verified saves."""

  def __init__(self, workdir: str, config, method_name: str,
               create: bool = True):
    self.workdir = os.path.abspath(workdir)
    self.config = config
    self.method_name = method_name
    self.mgr = manager(workdir, config, create=create)
    self._unverified = []  # Async saves whose checksums are still due.

  def step_dir(self, step: int) -> str:
    return os.path.join(self.workdir, _DIR, str(step))

  def _restore_step(self, step: int, abstract_state):
    integrity.verify(self.workdir, self.step_dir(step), step)
    check_compatible(self.mgr, step, abstract_state, self.method_name,
                     self.config)
    try:
      state, _ = restore(self.mgr, step, abstract_state)
    except Exception as e:  # pylint: disable=broad-except
      raise CorruptCheckpoint(step, self.step_dir(step),
                              f'restore failed ({type(e).__name__}: {e})'
                              ) from e
    return state

  def restore_step(self, step: int, abstract_state):
    """The state of checkpoint `step` (export.py), verified
    (CorruptCheckpoint) and checked against the config (CheckpointMismatch)."""
    return self._restore_step(step, abstract_state)

  def restore_latest(self, abstract_state):
    """(state, step) of the newest good checkpoint, or (None, 0) if none.

    Raises:
      CheckpointMismatch: the newest checkpoint belongs to another config.
      CorruptCheckpoint: it is corrupt and on_corrupt is 'fail', or no good
        older one is left.
    """
    steps = sorted(self.mgr.all_steps(), reverse=True)
    for step in steps:
      try:
        return self._restore_step(step, abstract_state), step
      except CorruptCheckpoint as e:
        if self.config.checkpoint.on_corrupt != 'previous':
          raise CorruptCheckpoint(
              e.step, e.path, e.reason + '. Rerun with '
              '--config.checkpoint.on_corrupt=previous to move it aside and '
              'resume from the newest good checkpoint') from e
        logging.warning('%s Falling back to an older checkpoint.', e)
        if jax.process_index() == 0:
          integrity.quarantine(self.workdir, self.step_dir(step), step)
        if jax.process_count() > 1:
          multihost_utils.sync_global_devices('ssl_jax: quarantined')
        self.mgr.reload()
    if steps:  # Never restart from scratch over a workdir of checkpoints.
      raise CorruptCheckpoint(steps[-1], self.workdir,
                              'no good checkpoint is left (bad ones were '
                              'moved to corrupt/); use another --workdir to '
                              'start over')
    return None, 0

  def save(self, step: int, state, force: bool = False) -> None:
    """Saves `state` at `step`; records checksums once a save completes."""
    if self._unverified:  # Orbax finishes the last save before a new one.
      self.finish()
    meta = make_meta(self.method_name, self.config, step)
    try:
      if not save(self.mgr, step, state, meta, force=force):
        return
      self._unverified.append(step)
      if not self.config.checkpoint.async_save:
        self.finish()
    except Exception as e:  # pylint: disable=broad-except
      good = [s for s in self.mgr.all_steps() if s != step]
      raise CheckpointWriteError(
          f'Saving checkpoint step {step} in {self.workdir} failed '
          f'({type(e).__name__}: {e}). Is the disk full or read-only? The '
          f'last complete checkpoint ({max(good) if good else "none"}) is '
          'intact: free space and run the same command to resume from it.'
      ) from e

  def finish(self) -> None:
    """Waits for pending saves and records their checksums."""
    self.mgr.wait_until_finished()
    for step in self._unverified:
      # One writer (the files are shared); keep=N may have deleted the step.
      if jax.process_index() == 0 and os.path.isdir(self.step_dir(step)):
        integrity.write(self.workdir, self.step_dir(step), step)
    self._unverified = []


def load_numpy(workdir: str, step: int | None = None):
  """A checkpoint's state as host numpy arrays: (step, dict tree).

  Works whatever wrote it (any number of processes or devices): the arrays
  are restored onto this process's first device, then copied to the host.
  For notebooks, tests and conversions; training restores sharded.
  """
  mgr = ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), _DIR),
      item_handlers={'state': ocp.StandardCheckpointHandler(),
                     'meta': ocp.JsonCheckpointHandler()})
  step = mgr.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'No checkpoint in {workdir}/{_DIR}.')
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      mgr.item_metadata(step)['state'])
  restored = mgr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target)))
  return step, jax.tree.map(np.asarray, restored['state'])
