"""eval/results.json: every protocol's newest result, merged, never lost.

An evaluation of some protocols replaces those protocols' results and keeps
the others'. The file holds the results flat (`knn_top1`, `linear_top1`,
`diagnostics`, ...: what `format_table`, the report and the benchmarks
read), the newest step and, under `protocols`, each protocol's step,
dataset, splits, settings and time, since merged results may come from
different checkpoints. Each evaluation is also appended, whole, to
eval/history.jsonl, so earlier results stay readable after a re-evaluation.
`baselines` and `margin_over_best_pixel_baseline` are derived from the
merged pixel-baseline keys (`with_baselines`), so they always agree with
the results beside them.
"""

import datetime
import json
import os

RESULTS = os.path.join('eval', 'results.json')
HISTORY = os.path.join('eval', 'history.jsonl')
# The pixel baselines (evals/pixels.py): name -> (the protocol they run
# with, the prefix of their flat keys, their row in the tables).
PIXEL_BASELINES = {
    'knn_raw_pixels': ('knn', 'raw_pixel_knn_', 'kNN (raw pixels)'),
    'knn_standardised_pixels': ('knn', 'standardised_pixel_knn_',
                                'kNN (standardised pixels)'),
    'linear_standardised_pixels': ('linear', 'standardised_pixel_linear_',
                                   'linear probe (standardised pixels)'),
}
_PREFIXES = {'knn': ('knn_', 'raw_pixel_knn_', 'standardised_pixel_knn_'),
             'linear': ('linear_', 'standardised_pixel_linear_'),
             'fewshot': ('fewshot_',), 'finetune': ('finetune_',),
             'diagnostics': ('diagnostics', 'singular_values')}
# Derived from the flat keys by with_baselines, after every merge.
BASELINES, MARGIN = 'baselines', 'margin_over_best_pixel_baseline'


def protocol_of(key: str) -> str | None:
  """The protocol a flat result key belongs to (None: run-wide keys)."""
  for name, prefixes in _PREFIXES.items():
    if key.startswith(prefixes):
      return name
  return None


def settings(name: str, results: dict) -> dict:
  """The settings a protocol's result was computed with."""
  if name in ('knn', 'linear', 'finetune'):
    return dict(results.get(f'{name}_settings', {}))
  if name == 'fewshot':
    return {k[len('fewshot_'):]: v for k, v in results.items()
            if k in ('fewshot_shots', 'fewshot_seeds', 'fewshot_reg',
                     'fewshot_bias_constant')}
  return {}


def describe_protocols(results: dict, names, seconds: dict) -> dict:
  """`protocols` entries of a fresh evaluation of `names`."""
  now = datetime.datetime.now().isoformat(timespec='seconds')
  return {name: {'step': results['step'], 'dataset': results['dataset'],
                 'train_split': results['train_split'],
                 'eval_split': results['eval_split'],
                 'settings': settings(name, results),
                 'seconds': seconds.get(name), 'time': now}
          | ({'pixel_baseline_seconds': seconds[f'{name}_pixels']}
             if f'{name}_pixels' in seconds else {})
          for name in names}


def entries(results: dict) -> dict:
  """Each protocol's entry; inferred for a file written before entries
  existed (all of its protocols at its one step)."""
  if 'protocols' in results:
    return results['protocols']
  names = {protocol_of(k) for k in results} - {None}
  return {n: {'step': results.get('step')} for n in sorted(names)}


def readout_of(results: dict) -> str:
  """What the features were (files written before readouts: 'pooled')."""
  return results.get('readout', 'pooled')


def merge(old: dict | None, new: dict) -> dict:
  """`new`'s protocols replace `old`'s; the others are kept, unless they
  read another readout (config.eval.readout) of the checkpoint: results of
  different features are not one table (history.jsonl keeps them)."""
  if not old or readout_of(old) != readout_of(new):
    return new
  replaced = set(entries(new))
  merged = {k: v for k, v in old.items()
            if protocol_of(k) is not None and protocol_of(k) not in replaced}
  merged.update(new)
  merged['protocols'] = {**{k: v for k, v in entries(old).items()
                            if k not in replaced}, **entries(new)}
  return merged


def with_baselines(results: dict) -> dict:
  """`results` plus `baselines` (each pixel baseline's top-1, top-5,
  protocol and label) and `margin_over_best_pixel_baseline`: by how many
  percentage points the features' kNN and linear top-1 beat (> 0) or lose
  to (< 0) the best pixel baseline of any protocol, and which one that is.
  Without labels there are no baselines and neither key."""
  out = {k: v for k, v in results.items() if k not in (BASELINES, MARGIN)}
  found = {name: {'top1': out[f'{prefix}top1'],
                  'top5': out.get(f'{prefix}top5'), 'protocol': protocol,
                  'label': label}
           for name, (protocol, prefix, label) in PIXEL_BASELINES.items()
           if f'{prefix}top1' in out}
  if not found:
    return out
  best = max(found, key=lambda name: found[name]['top1'])
  margin = {'best_baseline': best, 'best_baseline_top1': found[best]['top1'],
            'units': 'percentage points'}
  for key in ('knn_top1', 'linear_top1'):
    if key in out:
      margin[key] = round(100 * (out[key] - found[best]['top1']), 2)
  return out | {BASELINES: found, MARGIN: margin}


def read(workdir: str) -> dict | None:
  path = os.path.join(workdir, RESULTS)
  if not os.path.isfile(path):
    return None
  with open(path, encoding='utf-8') as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      from ssl_jax import errors  # pylint: disable=g-import-not-at-top
      raise errors.UserError(
          f'{path} is not valid JSON ({e}): move it aside to evaluate '
          'again (eval/history.jsonl keeps every earlier result).') from None


def write(workdir: str, results: dict) -> dict:
  """Merges `results` into results.json (atomically), appends it to
  history.jsonl; returns what results.json now holds."""
  merged = with_baselines(merge(read(workdir), results))
  os.makedirs(os.path.join(workdir, 'eval'), exist_ok=True)
  path = os.path.join(workdir, RESULTS)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(merged, f, indent=2)
  os.replace(path + '.tmp', path)
  with open(os.path.join(workdir, HISTORY), 'a', encoding='utf-8') as f:
    f.write(json.dumps(results) + '\n')
  return merged


def missing(results: dict | None, names, step: int,
            readout: str = 'pooled') -> list[str]:
  """The protocols of `names` with no result of checkpoint `step` read
  with `readout`."""
  if results is None or readout_of(results) != readout:
    return list(names)
  if 'protocols' not in results:  # An older file: one step for all.
    return [] if results.get('step') == step else list(names)
  have = results['protocols']
  return [n for n in names if have.get(n, {}).get('step') != step]
