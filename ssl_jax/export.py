"""Exports a workdir's trained backbone for PyTorch, timm or plain JAX.

  python -m ssl_jax.export --workdir W --format timm|torch|safetensors \
      --out DIR [--step N] [--network online|teacher] [--overwrite]

  timm         DIR/model.safetensors + config.json in timm's hub layout:
               `timm.create_model('local-dir:DIR', pretrained=True)` (or
               `timm.create_model(architecture, pretrained=True,
               pretrained_cfg_overlay=dict(file=DIR/model.safetensors),
               **model_args)`) gives the backbone, headless. ViTs, and
               ResNets whose padding timm reproduces (export_formats.py).
  torch        the same files for ssl_jax/torch_backbones.py (copied into
               DIR): ResNets with the CIFAR stem, width multipliers, any
               size. `torch_backbones.load('DIR')`.
  safetensors  the Flax variables and the backbone config
               (model_init.py): `model_init.load(DIR)`, or a new run's
               starting point with `--config.model_init=DIR`.

The network exported is the one the method evaluates (its `embed`: DINO's
teacher, I-JEPA's target encoder, else the online network) unless
`--network` names one. The exported model's features equal ssl_jax's
`embed` on the evaluation view (tests/test_export.py). Everything is checked
before anything is written; the folder appears complete or not at all.
From Python: `ssl_jax.export.export(workdir, 'timm', out)`.
"""

import json
import os
import shutil
import tempfile

import jax
import numpy as np
from absl import app
from absl import flags
from absl import logging

from ssl_jax import checkpoint
from ssl_jax import cli_flags
from ssl_jax import config_lib
from ssl_jax import evaluate
from ssl_jax import export_formats
from ssl_jax import model_init
from ssl_jax import train
from ssl_jax.data import data_record

FORMATS = ('timm', 'torch', 'safetensors')
NETWORKS = ('online', 'teacher')
_USE = {'timm': 'timm.create_model("local-dir:{out}", pretrained=True)',
        'torch': 'ssl_jax.torch_backbones.load("{out}")',
        'safetensors': '--config.model_init={out} or '
                       'ssl_jax.model_init.load("{out}")'}


class ExportError(config_lib.UserError):
  """The export cannot be done as asked; the message says what to change."""


def _steps(workdir: str) -> list[int]:
  folder = os.path.join(workdir, 'checkpoints')
  names = os.listdir(folder) if os.path.isdir(folder) else []
  return sorted(int(n) for n in names if n.isdigit())


def _check_out(out: str, overwrite: bool) -> None:
  if not os.path.exists(out):
    return
  if not os.path.isdir(out):
    raise ExportError(f'--out {out!r} is a file, not a folder.')
  entries = os.listdir(out)
  if entries and not overwrite:
    raise ExportError(f'--out {out!r} exists and is not empty; pass '
                      '--overwrite to replace it, or choose another folder.')
  if any(os.path.isdir(os.path.join(out, e)) for e in entries):
    raise ExportError(f'--out {out!r} holds folders, so it is not an earlier '
                      'export: --overwrite replaces export folders only.')


def _refusal(fmt: str, backbone, image_size: int) -> None:
  if fmt == 'timm':
    reason, other = export_formats.timm_refusal(backbone, image_size), 'torch'
  elif fmt == 'torch':
    reason, other = export_formats.torch_refusal(backbone), 'timm'
  else:
    return
  if reason:
    raise ExportError(f'--format {fmt} cannot express this backbone '
                      f'exactly: {reason}. Use --format {other}.')


def network_variables(method, state, network: str | None):
  """(Flax variables {'params', 'batch_stats'?} of a backbone, its name).

  Args:
    method: the run's Method.
    state: its TrainState.
    network: None, what the method evaluates (`backbone_variables`);
      'online'; or 'teacher', the EMA copy (DINO's and data2vec's
      extras['teacher'], BYOL's, MoCo v3's and I-JEPA's extras['target']).

  Returns:
    (variables, 'online' | 'teacher').
  """
  params, mutables, extras = (state.params['model'], state.mutables,
                              state.extras)
  online = {'params': params['backbone']}
  stats = mutables.get('batch_stats', mutables.get('student', {}).get(
      'batch_stats', {}))
  if 'backbone' in stats:
    online['batch_stats'] = stats['backbone']
  if network is None:
    variables = method.backbone_variables(params, mutables, extras)
    return variables, ('online' if variables['params'] is params['backbone']
                       else 'teacher')
  if network == 'online':
    return online, 'online'
  for key in ('teacher', 'target'):  # DINO, data2vec / BYOL, MoCo, I-JEPA.
    tree = extras.get(key)
    if tree is None:
      continue
    teacher = {'params': tree.get('backbone', tree)}
    stats = mutables.get(key, {}).get('batch_stats',
                                      mutables.get(f'{key}_batch_stats', {}))
    if 'backbone' in stats:
      teacher['batch_stats'] = stats['backbone']
    if jax.tree.map(np.shape, teacher) == jax.tree.map(np.shape, online):
      return teacher, 'teacher'
  raise ExportError(f'Method {method.config.method.name!r} has no teacher '
                    'network (no EMA copy of the backbone): use --network '
                    'online, or leave --network out.')


def _provenance(workdir, config, step, network) -> dict:
  return {'workdir': os.path.abspath(workdir), 'step': step,
          'method': config.method.name, 'network': network,
          'dataset': config.data.name,
          'backbone': config.backbone.to_dict()}


def write(fmt: str, variables, config, folder: str, provenance: dict) -> None:
  """Writes Flax backbone `variables` of `config` as `fmt` into folder."""
  backbone, data = config.backbone, config.data
  if fmt == 'safetensors':
    model_init.save(folder, variables, {
        'backbone': backbone.to_dict(),
        'architecture': model_init.architecture(backbone),
        'in_chans': len(data.mean), 'image_size': data.image_size,
        'mean': list(data.mean), 'std': list(data.std),
        'ssl_jax': provenance})
    return
  state_dict = export_formats.torch_state_dict(variables, backbone,
                                               data.image_size)
  model_init.safetensors_numpy().save_file(
      state_dict, os.path.join(folder, 'model.safetensors'),
      metadata={'format': 'pt'})
  if fmt == 'timm':
    meta = export_formats.timm_config(backbone, data)
  else:
    meta = export_formats.torch_config(backbone, data)
    shutil.copy(os.path.join(os.path.dirname(__file__), 'torch_backbones.py'),
                folder)
  with open(os.path.join(folder, 'config.json'), 'w') as f:
    json.dump({**meta, 'ssl_jax': provenance}, f, indent=2)


def export(workdir: str, fmt: str, out: str, *, step: int | None = None,
           network: str | None = None, overwrite: bool = False) -> str:
  """Exports the backbone of `workdir`'s checkpoint `step` (default: the
  newest) as `fmt` into folder `out`; returns `out`.

  Raises:
    ExportError: (a config_lib.UserError) an unknown format or network, no
      checkpoint or no such step, a format that cannot express the
      backbone, a non-empty `out` without `overwrite`, no teacher.
    checkpoint.CheckpointMismatch, CorruptCheckpoint: (UserErrors too) the
      checkpoint does not fit its config.json, or is corrupt.
    Nothing is written when any of these is raised.
  """
  if fmt not in FORMATS:
    raise ExportError(f'--format {fmt!r} is not one of {FORMATS}.')
  if network not in (None,) + NETWORKS:
    raise ExportError(f'--network {network!r} is not one of {NETWORKS}.')
  _check_out(out, overwrite)
  if not os.path.isfile(os.path.join(workdir, 'config.json')):
    raise ExportError(f'{workdir!r} has no config.json: not a training '
                      'workdir (python -m ssl_jax.main --workdir ...).')
  steps = _steps(workdir)
  if not steps:
    raise ExportError(f'No checkpoint in {workdir}/checkpoints: train first '
                      '(python -m ssl_jax.main).')
  step = steps[-1] if step is None else step
  if step not in steps:
    raise ExportError(f'No checkpoint step {step} in {workdir}/checkpoints; '
                      f'available steps: {", ".join(map(str, steps))}.')
  config = evaluate.load_config(workdir)
  _refusal(fmt, config.backbone, config.data.image_size)

  # Restore as evaluation does: one jit mesh over this machine's devices,
  # the checkpoint verified and checked against the config; never moved.
  with config.unlocked():
    config.parallel.update(mode='jit', mesh_data=-1, mesh_fsdp=1)
    config.checkpoint.on_corrupt = 'fail'
  p = train.plan(config, dataset=data_record.split_info(workdir, config))
  abstract = p.parallel.abstract_state(p.init_fn)
  state = checkpoint.Checkpointer(workdir, config, config.method.name,
                                  create=False).restore_step(step, abstract)
  variables, network = network_variables(p.method, state, network)
  variables = jax.tree.map(lambda x: np.asarray(jax.device_get(x)),
                           variables)

  parent = os.path.dirname(os.path.abspath(out))
  os.makedirs(parent, exist_ok=True)
  folder = tempfile.mkdtemp(prefix='.export-', dir=parent)
  try:
    write(fmt, variables, config, folder,
          _provenance(workdir, config, step, network))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)  # mkdtemp's folder is private.
    if os.path.exists(out):
      shutil.rmtree(out)
    os.rename(folder, out)
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  logging.info('Exported step %d (%s network) of %s to %s', step, network,
               workdir, out)
  return out


def _cli() -> None:
  """The command line. Its flags are defined here, not at import, and
  --workdir is evaluate.py's (as report.py's): absl refuses a flag defined
  by two modules, and a process may import all three."""
  fmt = flags.DEFINE_enum('format', None, FORMATS, 'Export format.')
  out = flags.DEFINE_string('out', None, 'Output folder.')
  step = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the '
                              'newest).')
  network = flags.DEFINE_enum('network', None, NETWORKS, 'Network to export '
                              '(default: the one the method evaluates).')
  overwrite = flags.DEFINE_bool('overwrite', False,
                                'Replace a non-empty --out folder.')

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    cli_flags.initialize()
    workdir = flags.FLAGS.workdir
    with config_lib.user_errors_exit():
      export(workdir, fmt.value, out.value, step=step.value,
             network=network.value, overwrite=overwrite.value)
    print(f'Exported {workdir} as {fmt.value} to {out.value}. Load: '
          + _USE[fmt.value].format(out=out.value), flush=True)

  flags.mark_flags_as_required(['workdir', 'format', 'out'])
  app.run(main, flags_parser=cli_flags.parse_flags)


if __name__ == '__main__':
  _cli()
