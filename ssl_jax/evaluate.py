"""Evaluates the newest checkpoint of a workdir on frozen features.

  python -m ssl_jax.evaluate --workdir DIR [--protocols knn,linear]

`--protocols`: any of knn,linear,fewshot,finetune,diagnostics (default
knn,linear).

Protocols, on the backbone's pooled features of the
evaluation view (centre crop, no augmentation), trained on the train split
and scored on the eval split: weighted k-NN (cosine, k=200, T=0.07); a linear
probe; few-shot ridge regression; collapse diagnostics. kNN and the linear
probe also run on pixels (`config.eval.pixel_baselines`, evals/pixels.py):
kNN on raw and on standardised pixels, the probe on standardised pixels,
the baselines an SSL feature must beat; the table and results.json say by
how many points the features beat the best of them. `finetune` trains
the whole backbone and a new head (evals/finetune.py). Prints a table and
merges them into `DIR/eval/results.json` (the protocols run replace their
earlier results, the others are kept; every run is also appended to
`DIR/eval/history.jsonl`: eval_results.py); from Python,
`ssl_jax.evaluate.run(workdir)` returns the same dict. Another tfds dataset
(transfer) is evaluated with `run(workdir, config=...)` after changing
`config.data`; `config.eval_data` names a separate labelled source (a
folder, packed set or tfds dataset: eval_data.py), and data without labels
gets the label-free protocols only, naming the others. Each protocol:
docs/methods.md#evaluation-protocols.
"""

if __name__ == '__main__':
  # The command line checks its flags before TensorFlow and JAX load
  # (seconds), then runs main() below; run_cli exits.
  from ssl_jax import eval_cli  # pylint: disable=g-import-not-at-top
  eval_cli.run_cli('evaluate')

# pylint: disable=g-import-not-at-top,wrong-import-position
import contextlib
import dataclasses
import importlib
import os
import time

import jax
import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging

from ssl_jax import checkpoint
from ssl_jax import cli_flags
from ssl_jax import config_history
from ssl_jax import config_lib
from ssl_jax import console_log
from ssl_jax import eval_cli
from ssl_jax import eval_data as eval_data_lib
from ssl_jax import eval_results
from ssl_jax import eval_table
from ssl_jax import methods
from ssl_jax import step as step_lib
from ssl_jax import train
from ssl_jax.data import data_record
from ssl_jax.evals import diagnostics
from ssl_jax.evals import features as features_lib
from ssl_jax.evals import fewshot
from ssl_jax.evals import finetune
from ssl_jax.evals import knn
from ssl_jax.evals import linear
from ssl_jax.evals import pixels

PROTOCOLS = eval_cli.PROTOCOLS
DEFAULT_PROTOCOLS = eval_cli.DEFAULT_PROTOCOLS


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config in force in `workdir` (config_history.latest: the first
  run's config.json, or the config of a later run that changed it)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} not found: is {workdir!r} a training '
                            'workdir (python -m ssl_jax.main ...)?')
  _, recorded = config_history.latest(workdir)
  config = ml_collections.ConfigDict(recorded)
  # Keys added to ssl_jax after the run was started take today's defaults.
  config = config_lib.fill_missing(config, config_lib.base_config())
  # The checkpoint holds the weights now; the folder the run started from
  # (config.model_init) need not exist any more.
  config.model_init = None
  method_module = importlib.import_module(
      methods.get(config.method.name).__module__)
  method_defaults = getattr(method_module, 'default_config', None)
  if method_defaults is not None:
    config.method = config_lib.fill_missing(config.method, method_defaults())
  return config


@dataclasses.dataclass
class Features:
  """The newest good checkpoint and its frozen features (split order)."""
  step: int
  plan: object  # train.Plan: method, mesh.
  state: object
  arrays: dict  # split -> in-memory (images, labels), when in memory.
  train_x: np.ndarray
  train_y: np.ndarray  # -1: unlabelled.
  test_x: np.ndarray
  test_y: np.ndarray
  eval_data: eval_data_lib.EvalData = None  # What the features are of.
  readout: str = 'pooled'  # config.eval.readout they were read with.

  @property
  def builder(self):
    return (self.eval_data or self.plan).builder


def extract_features(workdir: str, config: ml_collections.ConfigDict,
                     step: int | None = None) -> Features:
  """Restores the newest good checkpoint (verified, see
  checkpoint.Checkpointer), or checkpoint `step` if given; features of the
  train and eval splits."""
  with config.unlocked():
    config.parallel.mode = 'jit'  # Evaluation always runs over the mesh.
  # A run on image files: the model without listing the training images.
  p = train.plan(config, dataset=data_record.split_info(workdir, config))
  abstract = p.parallel.abstract_state(p.init_fn)
  state = None
  if checkpoint.latest_step(workdir) is not None:
    ckpt = checkpoint.Checkpointer(workdir, config, config.method.name,
                                   create=False)
    if step is None:
      state, step = ckpt.restore_latest(abstract)
    elif step not in ckpt.mgr.all_steps():
      raise FileNotFoundError(
          f'No checkpoint of step {step} in {workdir}/checkpoints; there are '
          f'steps {sorted(ckpt.mgr.all_steps())}.')
    else:
      state = ckpt.restore_step(step, abstract)
  if state is None:
    raise FileNotFoundError(f'No checkpoint in {workdir}/checkpoints.')
  ev = eval_data_lib.resolve(config, builder=p.builder)
  embed = step_lib.make_embed_fn(p.method, config.eval.readout)
  train_xy, test_xy = (features_lib.extract(
      embed, state, ev.builder, s, mesh=p.parallel.mesh,
      batch_size=config.eval.batch_size, image_size=config.data.image_size,
      arrays=ev.arrays.get(s)) for s in (ev.train_split, ev.eval_split))
  return Features(int(step), p, state, ev.arrays, *train_xy, *test_xy,
                  eval_data=ev, readout=config.eval.readout)


def _say(message: str) -> None:
  if jax.process_index() == 0:
    print(message, flush=True)


_ON_PIXELS = {True: ', on the features and on pixels (baselines)',
              False: ''}


@contextlib.contextmanager
def _stopwatch(name: str, seconds: dict):
  t0 = time.perf_counter()
  yield
  seconds[name] = time.perf_counter() - t0


@contextlib.contextmanager
def _timed(name: str, what: str, seconds: dict):
  """Says what runs (evaluation takes minutes), records its seconds (and
  those of its pixel baselines, `<name>_pixels`, when they ran)."""
  _say(f'{name}: {what}...')
  with _stopwatch(name, seconds):
    yield
  pixel_seconds = seconds.get(f'{name}_pixels')
  _say(f'{name}: done in {seconds[name]:.1f} s' + (
      f' ({pixel_seconds:.1f} s of it on pixels).' if pixel_seconds
      else '.'))


def run(workdir: str, *, protocols=DEFAULT_PROTOCOLS, config=None,
        write: bool = True, features: Features | None = None) -> dict:
  """Evaluates the newest checkpoint in `workdir`; returns the results.

  `features` (from `extract_features`) saves extracting them again. With
  `write`, the results of `protocols` replace those protocols' results in
  eval/results.json, others' are kept, and the run is appended to
  eval/history.jsonl (eval_results.py); the merged dict is returned.
  """
  protocols = eval_cli.check_protocols(protocols)
  config = config or load_config(workdir)
  console_log.follow(workdir)  # A readable workdir: its log.txt from now.
  t0 = time.perf_counter()
  if features is None:
    _say(f'Extracting features of the newest checkpoint in {workdir}...')
  f = features or extract_features(workdir, config)
  p, e = f.plan, config.eval
  ev = f.eval_data or eval_data_lib.of_plan(config, p)
  arrays = f.arrays
  train_x, train_y, test_x, test_y = f.train_x, f.train_y, f.test_x, f.test_y
  results = {'step': f.step, 'method': config.method.name,
             'dataset': ev.name, 'train_split': ev.train_split,
             'eval_split': ev.eval_split, 'eval_data': ev.description,
             'feature_dim': int(train_x.shape[1]), 'readout': f.readout,
             'feature_seconds': time.perf_counter() - t0}
  if features is None:
    _say(f'Features of step {f.step} on {ev.description}: {len(train_x)} + '
         f'{len(test_x)} examples in {results["feature_seconds"]:.1f} s.')
  protocols, unlabelled = eval_data_lib.split_protocols(protocols,
                                                        ev.labelled)
  if unlabelled:
    results['need_labels'] = list(unlabelled)
    _say(f'Not run: {",".join(unlabelled)} (they need labels; '
         f'{ev.description} has none). Running {",".join(protocols)}. Label '
         'the data (config.data.labels=subfolders or csv) or evaluate on a '
         'labelled set (config.eval_data.name=folder, '
         'config.eval_data.path=DIR).')

  # --------------------------------------------------------------- protocols
  n_cls, seconds = ev.num_classes, {}
  views = {}

  def view(split):  # uint8 evaluation views, read once: pixels, fine-tuning.
    if split not in views:
      views[split] = features_lib.eval_view_images(
          ev.builder, split, image_size=config.data.image_size,
          arrays=arrays.get(split))
    return views[split]

  pixel_data = lambda: dict(train=view(ev.train_split),
                            test=view(ev.eval_split),
                            mean=tuple(config.data.mean),
                            std=tuple(config.data.std))
  if 'knn' in protocols:
    with _timed('knn', f'weighted kNN, k={e.knn_k}' + _ON_PIXELS[
        bool(e.pixel_baselines)], seconds):
      r = knn.evaluate(train_x, train_y, test_x, test_y, k=e.knn_k,
                       temperature=e.knn_temperature, num_classes=n_cls)
      results.update(knn_top1=r['top1'], knn_top5=r['top5'], knn_settings={
          'k': r['k'], 'temperature': r['temperature'],
          'similarity': 'cosine', 'weights': 'exp(s/T)',
          'pixel_baselines': bool(e.pixel_baselines)})
      if e.pixel_baselines:
        with _stopwatch('knn_pixels', seconds):
          results.update(pixels.flat(pixels.knn_baselines(
              **pixel_data(), k=e.knn_k, temperature=e.knn_temperature,
              num_classes=n_cls)))
  if 'linear' in protocols:
    probe = dict(epochs=e.linear_epochs, batch_size=e.linear_batch_size,
                 lr=e.linear_lr, weight_decay=e.linear_weight_decay,
                 seed=config.seed)
    with _timed('linear', f'linear probe, {e.linear_epochs} epochs' +
                _ON_PIXELS[bool(e.pixel_baselines)], seconds):
      r = linear.evaluate(train_x, train_y, test_x, test_y,
                          num_classes=n_cls, **probe)
      results.update(linear_top1=r['top1'], linear_top5=r['top5'],
                     linear_train_top1=r['train_top1'],
                     linear_settings={k: r[k] for k in (
                         'epochs', 'lr', 'batch_size', 'optimizer',
                         'weight_decay')} | {'features': 'standardised',
                                             'pixel_baselines': bool(
                                                 e.pixel_baselines)})
      if e.pixel_baselines:
        with _stopwatch('linear_pixels', seconds):
          results.update(pixels.flat(pixels.linear_baseline(
              **pixel_data(), num_classes=n_cls, **probe)))
  if 'fewshot' in protocols:
    with _timed('fewshot', 'few-shot ridge regression', seconds):
      results.update(fewshot.evaluate(train_x, train_y, test_x, test_y,
                                      num_classes=n_cls))
  if 'finetune' in protocols:
    with _timed('finetune', f'fine-tuning, {e.finetune_epochs} epochs',
                seconds):
      r = finetune.evaluate(
          p.method, f.state, *view(ev.train_split), *view(ev.eval_split),
          num_classes=n_cls, epochs=e.finetune_epochs, lr=e.finetune_lr,
          batch_size=e.finetune_batch_size,
          layer_decay=e.finetune_layer_decay,
          weight_decay=e.finetune_weight_decay,
          warmup_epochs=e.finetune_warmup_epochs, seed=config.seed)
      results.update(finetune_top1=r.pop('top1'),
                     finetune_top5=r.pop('top5'), finetune_settings=r)
  if 'diagnostics' in protocols:
    with _timed('diagnostics', 'collapse diagnostics', seconds):
      diag = diagnostics.evaluate(test_x)
      results['diagnostics'] = {k: v for k, v in diag.items()
                                if k != 'singular_values'}
      results['singular_values'] = diag['singular_values']
  results['eval_seconds'] = time.perf_counter() - t0
  results['protocols'] = eval_results.describe_protocols(results, protocols,
                                                         seconds)
  results = eval_results.with_baselines(results)
  if write and jax.process_index() == 0:
    return eval_results.write(workdir, results)
  return results


format_table = eval_table.format_table  # Report, notebook, tests.


def main(argv):
  """`python -m ssl_jax.evaluate` (its flags: eval_cli.py, cli_flags.py)."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  workdir = cli_flags.WORKDIR.value
  with config_lib.user_errors_exit():
    cli_flags.initialize()
    config = None
    if eval_cli.READOUT.value:  # Another readout of the same weights.
      config = load_config(workdir)
      config.eval.readout = eval_cli.READOUT.value
    results = run(workdir, protocols=eval_cli.PROTOCOLS_FLAG.value,
                  config=config)
  print(format_table(results), flush=True)
  print(f'Written to {os.path.join(workdir, eval_results.RESULTS)} (earlier '
        f'runs: {eval_results.HISTORY})')
