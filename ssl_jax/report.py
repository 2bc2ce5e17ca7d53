"""A workdir's report: pictures and numbers in DIR/report/.

  python -m ssl_jax.report --workdir DIR [--map=tsne|pca] [--queries=8]

Writes into DIR/report/:
  curves.png        training curves from DIR/train_metrics.jsonl;
  embedding_2d.png  t-SNE (or PCA) of a class-stratified subset of the eval
                    split's backbone features, coloured by class;
  spectrum.png      singular values of the (centred) eval features;
  retrieval.png     eval-split queries and their top-k train neighbours by
                    cosine similarity of the same features kNN uses;
  report.md         all of them, with the evaluation numbers.

The features are those `evaluate` scores: the newest good checkpoint, the
evaluation view, `features.extract`. The numbers come from
DIR/eval/results.json when it has them for that checkpoint's step; the
protocols it lacks (of the default ones plus diagnostics) are evaluated
first on the same features and merged into it.
From Python, `ssl_jax.report.run(workdir)` returns a `Report`.
"""

if __name__ == '__main__':
  # The command line checks its flags before TensorFlow and JAX load
  # (seconds), then runs main() below; run_cli exits.
  from ssl_jax import eval_cli  # pylint: disable=g-import-not-at-top
  eval_cli.run_cli('report')

# pylint: disable=g-import-not-at-top,wrong-import-position
import dataclasses
import datetime
import os

import jax
import numpy as np
from absl import app
from absl import flags
from absl import logging

from ssl_jax import cli_flags
from ssl_jax import config_lib
from ssl_jax import console_log
from ssl_jax import eval_data
from ssl_jax import eval_cli
from ssl_jax import eval_results
from ssl_jax import evaluate
from ssl_jax import metrics as metrics_lib
from ssl_jax import plots
from ssl_jax.data import pipeline
from ssl_jax.evals import diagnostics

EVAL_PROTOCOLS = evaluate.DEFAULT_PROTOCOLS + ('diagnostics',)
PICTURES = {'curves': 'Training curves', 'embedding_2d': 'Embedding map',
            'spectrum': 'Singular value spectrum',
            'retrieval': 'Nearest-neighbour retrieval'}


@dataclasses.dataclass
class Report:
  """What `run` wrote: `pictures` maps PICTURES' names to PNG paths."""
  directory: str
  markdown: str
  pictures: dict[str, str]
  results: dict


def eval_images(builder, split: str, indices, *, image_size: int,
                arrays=None) -> np.ndarray:
  """uint8 evaluation views [len(indices), S, S, C] of examples of `split`.

  The same `pipeline.eval_batches` view the features were computed on. In
  memory this touches only the wanted rows; a streamed split is read in
  order until every wanted row has been seen.
  """
  indices = np.asarray(indices)
  if arrays is not None:
    images, labels = arrays
    batch, _, _ = next(pipeline.eval_batches(
        builder, split, batch_size=len(indices), image_size=image_size,
        arrays=(images[indices], labels[indices])))
    return batch
  found, offset = {}, 0
  wanted = set(indices.tolist())
  for batch, _, valid in pipeline.eval_batches(
      builder, split, batch_size=256, image_size=image_size):
    for row in range(int(valid.sum())):
      if offset + row in wanted:
        found[offset + row] = batch[row]
    offset += int(valid.sum())
    if len(found) == len(wanted):
      break
  return np.stack([found[i] for i in indices.tolist()])


def stratified_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
  """Sorted indices of n examples with class shares as in `labels`."""
  labels = np.asarray(labels)
  if n >= len(labels):
    return np.arange(len(labels))
  rng = np.random.default_rng(seed)
  # Each class's members, in random order, get evenly spaced keys in [0, 1):
  # the n smallest keys take every class in proportion to its size.
  keys = np.empty(len(labels))
  for c in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == c))
    keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
  return np.sort(np.argsort(keys, kind='stable')[:n])


def pick_queries(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
  """n query indices: one example each of n random classes (sorted by class),
  then random others if there are fewer classes than queries."""
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  classes = np.sort(rng.choice(np.unique(labels),
                               min(n, len(np.unique(labels))), replace=False))
  picked = [int(rng.choice(np.flatnonzero(labels == c))) for c in classes]
  rest = np.setdiff1d(np.arange(len(labels)), picked)
  extra = rng.choice(rest, min(n - len(picked), len(rest)), replace=False)
  return np.asarray(picked + sorted(extra.tolist()), np.int64)


def nearest_neighbours(queries: np.ndarray, gallery: np.ndarray, k: int):
  """(indices [Q, k], cosine similarities [Q, k]), most similar first."""
  norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True),
                                  1e-12)
  sims = norm(np.asarray(queries, np.float32)) @ norm(
      np.asarray(gallery, np.float32)).T
  k = min(k, sims.shape[1])
  top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
  order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind='stable')
  top = np.take_along_axis(top, order, 1)
  return top, np.take_along_axis(sims, top, 1)


def read_results(workdir: str) -> dict | None:
  return eval_results.read(workdir)


def training_rows(workdir: str) -> list[dict]:
  """The logged training steps (one row each); says so when there are none
  (the curves are then empty)."""
  path = os.path.join(workdir, 'train_metrics.jsonl')
  rows = (plots.dedupe_steps(metrics_lib.read_jsonl(path))
          if os.path.isfile(path) else [])
  if not rows and jax.process_index() == 0:
    print(f'No training metrics in {path} (' +
          ('empty' if os.path.isfile(path) else 'missing') +
          '): the training-curves picture is left empty.', flush=True)
  return rows


def _numbers(results: dict) -> list[tuple[str, str]]:
  """Every numeric result (diagnostics flattened), formatted."""
  flat = dict(results) | {f'diagnostics.{k}': v for k, v in
                          results.get('diagnostics', {}).items()}
  fmt = lambda v: f'{v:.4f}' if isinstance(v, float) else str(v)
  return [(k, fmt(v)) for k, v in flat.items()
          if isinstance(v, (int, float)) and not k.endswith('_seconds')]


def _markdown(workdir, results, rows, notes) -> str:
  head = (f"# {results['method']} on {results['dataset']}, step "
          f"{results['step']}\n\n"
          f"Workdir `{os.path.abspath(workdir)}`; report written "
          f"{datetime.datetime.now().isoformat(timespec='seconds')}.\n")
  table = ['| result | value |', '|---|---|'] + [
      f'| {k} | {v} |' for k, v in _numbers(results)]
  parts = [head, '## Evaluation\n', '```text\n' + evaluate.format_table(
      results) + '\n```\n', '\n'.join(table) + '\n']
  if rows:
    last = rows[-1]
    keys = ('loss', 'ssl_loss', 'probe_top1', 'embedding_std')
    parts.append(f"Last logged training step {last['step']}: " + ', '.join(
        f'{k} {last[k]:.4f}' for k in keys if k in last) +
                 f", {last.get('images_per_second', float('nan')):.1f} "
                 'images/s.\n')
  for name, heading in PICTURES.items():
    parts.append(f'## {heading}\n\n![{heading}]({name}.png)\n\n'
                 f'{notes[name]}\n')
  return '\n'.join(parts)


def run(workdir: str, *, map_method: str = 'tsne', map_examples: int = 2000,
        num_queries: int = 8, top_k: int = 8, seed: int = 0,
        protocols=EVAL_PROTOCOLS) -> Report:
  """Writes DIR/report/{curves,embedding_2d,spectrum,retrieval}.png and
  report.md (see the module doc).

  Args:
    workdir: a training workdir with a checkpoint.
    map_method: 'tsne' or 'pca' (fast; smoke runs and tests).
    map_examples: eval examples in the map (class-stratified subset).
    num_queries: retrieval queries, from the eval split.
    top_k: train neighbours per query.
    seed: picks the map subset and the queries.
    protocols: what `evaluate.run` runs when results.json is absent or is
      not of the newest checkpoint.
  """
  if map_method not in plots.MAP_METHODS:
    raise config_lib.UserError(f'map_method={map_method!r}; allowed: '
                               f'{plots.MAP_METHODS}.')
  config = evaluate.load_config(workdir)
  console_log.follow(workdir)  # A readable workdir: its log.txt from now.
  feats = evaluate.extract_features(workdir, config)
  results = read_results(workdir)
  if missing := eval_results.missing(results, protocols, feats.step,
                                     feats.readout):
    print(f'Evaluating {",".join(missing)} of step {feats.step} first '
          '(not in eval/results.json).', flush=True)
    results = evaluate.run(workdir, protocols=missing, config=config,
                           features=feats)
  out = os.path.join(workdir, 'report')
  path = lambda name: os.path.join(out, f'{name}.png')
  report = Report(out, os.path.join(out, 'report.md'),
                  {n: path(n) for n in PICTURES}, results)
  if jax.process_index() > 0:
    return report  # Every process extracts (and evaluates); one writes.
  os.makedirs(out, exist_ok=True)
  # Evaluation's source: tfds, folder or packed.
  ev = feats.eval_data or eval_data.of_plan(config, feats.plan)
  names = ev.class_names
  what = f"{results['method']} step {feats.step}"
  notes = {}

  rows = training_rows(workdir)
  plots.training_curves(rows, path('curves'), title=what)
  notes['curves'] = (f'{len(rows)} log steps of `train_metrics.jsonl`; the '
                     'online probe is scored on training batches.')

  subset = stratified_subset(feats.test_y, map_examples, seed)
  points = plots.project_2d(feats.test_x[subset], method=map_method,
                            seed=seed)
  map_name = {'tsne': 't-SNE', 'pca': 'PCA'}[map_method]
  plots.embedding_map(points, feats.test_y[subset], path('embedding_2d'),
                      class_names=names, title=f'{map_name} of {len(subset)} '
                      f'{ev.eval_split} features, {what}')
  notes['embedding_2d'] = (
      f'{map_name} of {len(subset)} class-stratified `'
      f'{ev.eval_split}` examples (l2-normalised features).')

  diag = results.get('diagnostics')
  singular = results.get('singular_values')
  if diag is None or singular is None:  # results.json without diagnostics.
    diag = diagnostics.evaluate(feats.test_x)
    singular = diag.pop('singular_values')
  note = (f"RankMe {diag['rankme']:.1f} of {len(singular)} dims\n"
          f"normalised std {diag['normalized_std']:.3f}"
          + ('\nCOLLAPSED' if diag['collapsed'] else ''))
  plots.spectrum(singular, path('spectrum'), note=note, title=what)
  notes['spectrum'] = (note.replace('\n', ', ') + '; a fast drop means the '
                       'features use few directions (dimensional collapse).')

  queries = pick_queries(feats.test_y, num_queries, seed)
  idx, sims = nearest_neighbours(feats.test_x[queries], feats.train_x, top_k)
  image = lambda split, i: eval_images(
      feats.builder, split, i, image_size=config.data.image_size,
      arrays=feats.arrays.get(split))
  neighbour_images = image(ev.train_split, idx.ravel())
  neighbour_labels = feats.train_y[idx]
  plots.retrieval_grid(
      image(ev.eval_split, queries), feats.test_y[queries],
      neighbour_images.reshape(idx.shape + neighbour_images.shape[1:]),
      neighbour_labels, sims, path('retrieval'), class_names=names,
      title=f'{what}: top-{idx.shape[1]} cosine neighbours in '
      f'{ev.train_split}')
  precision = float(np.mean(neighbour_labels ==
                            feats.test_y[queries][:, None]))
  notes['retrieval'] = (
      f'{len(queries)} `{ev.eval_split}` queries, top-'
      f'{idx.shape[1]} of {len(feats.train_x)} `{ev.train_split}` '
      'examples by cosine similarity; ' + (
          f'same class: {precision:.3f} (green frame: same class, red: '
          'other).' if ev.labelled else 'no labels, so no frames.'))
  if not ev.labelled:
    notes['embedding_2d'] += ' No labels: one colour.'

  with open(report.markdown, 'w', encoding='utf-8') as f:
    f.write(_markdown(workdir, results, rows, notes))
  return report


def main(argv):
  """`python -m ssl_jax.report` (its flags: eval_cli.py, cli_flags.py; the
  protocols are those evaluated when results.json lacks them)."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  with config_lib.user_errors_exit():
    cli_flags.initialize()
    report = run(
        cli_flags.WORKDIR.value, map_method=eval_cli.MAP.value,
        map_examples=eval_cli.MAP_EXAMPLES.value,
        num_queries=eval_cli.QUERIES.value, top_k=eval_cli.TOP_K.value,
        protocols=tuple(dict.fromkeys([*eval_cli.PROTOCOLS_FLAG.value,
                                       'diagnostics'])))
  print(evaluate.format_table(report.results), flush=True)
  print(f'Written to {report.markdown}')
