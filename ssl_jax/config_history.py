"""Every config a workdir has run with, and what a resume may change.

  config.json        the first run's config; never overwritten.
  config.<S>.json    the config of a later run that started at step S with
                     other values (config.<S>.<k>.json if S repeats).

The newest file is the config in force (`latest`: what evaluate and export
read). A resume prints what changed since then, and refuses changes of keys
that alter what the run computes (durations, batch, optimizer, method,
backbone, views, data, seed, ...) unless `config.allow_config_change=True`:
the cosine schedule of a longer run, or another lr, is another experiment.
Keys that change only how the run is carried out (`FREE_KEYS`: logging,
checkpoints, evaluation, parallel layout, paths) may change freely.
"""

import json
import os
import re

import jax

from ssl_jax import errors

FIRST = 'config.json'
_LATER = re.compile(r'^config\.(\d+)(?:\.(\d+))?\.json$')
# Prefixes of keys a resume may change (they do not change the numbers).
# 'debug.': configs recorded before its nan_at_step moved to the tests.
FREE_KEYS = ('checkpoint.', 'log_every_steps', 'progress_seconds', 'eval.',
             'data.data_dir', 'data.manual_dir', 'data.create_data_dir',
             'data.download', 'data.prefetch', 'parallel.',
             'nonfinite_skips', 'debug.', 'model_init', 'fuse_views',
             'allow_config_change',
             # Image files: where they are may change; what they are is
             # data.json's fingerprint (data/data_record.py).
             'data.path', 'data.labels_csv', 'data.allow_changed',
             'data.max_bad_fraction', 'eval_data.')


def read(path: str) -> dict:
  """A recorded config as a dict; UserError naming the file if unreadable."""
  try:
    with open(path, encoding='utf-8') as f:
      config = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise errors.UserError(
        f'{path} is not valid JSON ({e}); it records the config this '
        'workdir ran with: restore it, or use another --workdir.') from None
  if not isinstance(config, dict):
    raise errors.UserError(f'{path} holds a {type(config).__name__}, not a '
                           'config: restore it, or use another --workdir.')
  return config


def recorded(workdir: str) -> list[str]:
  """The workdir's config files, oldest first."""
  if not os.path.isdir(workdir):
    return []
  later = sorted((tuple(int(g or 0) for g in m.groups()), name)
                 for name in os.listdir(workdir) if (m := _LATER.match(name)))
  first = [FIRST] if os.path.isfile(os.path.join(workdir, FIRST)) else []
  return [os.path.join(workdir, name) for name in first + [n for _, n in
                                                          later]]


def latest(workdir: str) -> tuple[str, dict] | None:
  """(path, config dict) of the config in force, or None."""
  paths = recorded(workdir)
  return (paths[-1], read(paths[-1])) if paths else None


def _flat(tree: dict, prefix: str = '') -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def as_dict(config) -> dict:
  """The config as its JSON file holds it (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def differences(old: dict, new: dict) -> list[tuple[str, object, object]]:
  """(key, old value, new value) of every key whose value changed. Keys the
  old file lacks (added to ssl_jax since) are not differences."""
  old, new = _flat(old), _flat(new)
  return [(k, old[k], new.get(k)) for k in sorted(old)
          if k != 'allow_config_change' and old[k] != new.get(k)]


def is_free(key: str) -> bool:
  return any(key == p or (p.endswith('.') and key.startswith(p))
             for p in FREE_KEYS)


def describe(diffs) -> str:
  return '; '.join(f'{k}: {json.dumps(a)} -> {json.dumps(b)}'
                   for k, a, b in diffs)


def check(config, workdir: str, checkpoint_step: int | None):
  """Compares `config` with the workdir's config in force.

  Returns (path of that config or None, differences). Raises ConfigError
  when a checkpoint exists and keys outside FREE_KEYS changed, unless
  config.allow_config_change.
  """
  found = latest(workdir)
  if found is None:
    return None, []
  path, old = found
  diffs = differences(old, as_dict(config))
  fixed = [d for d in diffs if not is_free(d[0])]
  if fixed and checkpoint_step is not None and not config.get(
      'allow_config_change', False):
    raise errors.ConfigError(
        f'{workdir} holds a run at step {checkpoint_step} made with other '
        f'settings ({os.path.basename(path)}); resuming with these would '
        f'change what it computes: {describe(fixed)}. Resume with the same '
        'values, use another --workdir, or add '
        '--config.allow_config_change=True to continue with the new ones '
        '(the old config stays in the workdir).')
  return path, diffs


def record(config, workdir: str, start_step: int, diffs) -> str | None:
  """Writes config.json (first run) or config.<start>.json (a run with
  other values); never replaces a file. Returns the path written."""
  if jax.process_index() > 0:
    return None
  first = os.path.join(workdir, FIRST)
  if os.path.exists(first) and not diffs:
    return None
  path, k = first, 1
  while os.path.exists(path):
    k += 1
    path = os.path.join(workdir, f'config.{start_step}.json' if k == 2 else
                        f'config.{start_step}.{k - 1}.json')
  os.makedirs(workdir, exist_ok=True)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.write(config.to_json_best_effort(indent=2))
  os.replace(path + '.tmp', path)
  return path
