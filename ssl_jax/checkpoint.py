"""Checkpoints with Orbax: restore-or-init, periodic atomic saves, keep N.

A checkpoint step holds two items: `state` (the TrainState pytree) and `meta`
(JSON: method name, global batch, data position). Orbax writes each step into
a temporary folder and renames it when complete, so a crash mid-save leaves
the previous step intact and the partial one invisible.

Before anything is restored or written, `check_compatible` compares the
newest checkpoint with what the config would build (method, batch size, every
array's path, shape and dtype) and raises `CheckpointMismatch` naming the
differences: a workdir from another experiment is refused, not overwritten.
"""

import os
import tempfile

import jax
import numpy as np
import orbax.checkpoint as ocp

from ssl_jax import config_lib

_DIR = 'checkpoints'


class CheckpointMismatch(config_lib.UserError):
  """The workdir's checkpoint was made by a different config."""


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
    raise PermissionError(f'--workdir {workdir!r} cannot be written: '
                          f'{probe_dir!r}: {e.strerror}.') from None


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


def restore_params_numpy(workdir: str, config, abstract_state):
  """Newest checkpoint's state as host numpy arrays (for evaluation)."""
  mgr = manager(workdir, config, create=False)
  step = mgr.latest_step()
  if step is None:
    raise FileNotFoundError(f'No checkpoint in {workdir}/{_DIR}.')
  state, meta = restore(mgr, step, abstract_state)
  return jax.tree.map(np.asarray, state), meta
