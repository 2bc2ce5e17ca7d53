"""ssl_jax.report on a smoke run: every picture, the numbers, the CLI."""

import json
import os
import shutil
import struct

import ml_collections
import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver
from matplotlib import image as mpl_image

from conftest import load_config
from ssl_jax import evaluate
from ssl_jax import plots
from ssl_jax import report
from ssl_jax import train
from ssl_jax.data import sources

_PNG = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def workdir(fmnist_data_dir, tmp_path_factory):
  """A 2-step smoke run on slices of the splits (features in seconds)."""
  config = load_config('smoke')
  config.data.data_dir = fmnist_data_dir
  config.data.train_split = 'train[:2048]'
  config.data.eval_split = 'test[:1000]'
  config.total_steps = 2
  config.warmup_steps = 1
  config.log_every_steps = 1
  config.checkpoint.every_steps = 2
  path = str(tmp_path_factory.mktemp('report_run'))
  train.run(config, path)
  return path


def _copy(workdir, dest):
  shutil.copytree(workdir, dest, ignore=shutil.ignore_patterns('eval',
                                                               'report'))
  return str(dest)


def _assert_real_png(path, min_width=400, min_height=300):
  with open(path, 'rb') as f:
    head = f.read(24)
  assert head[:8] == _PNG and head[12:16] == b'IHDR', path
  width, height = struct.unpack('>II', head[16:24])
  assert width >= min_width and height >= min_height, (path, width, height)
  assert os.path.getsize(path) > 10_000, path
  pixels = mpl_image.imread(path)[..., :3]
  assert pixels.std() > 0.05, f'{path} is nearly one colour'


def test_report_evaluates_then_writes_every_picture(workdir, tmp_path):
  workdir = _copy(workdir, tmp_path / 'run')
  results_path = os.path.join(workdir, 'eval', 'results.json')
  assert not os.path.exists(results_path)
  rep = report.run(workdir, map_method='pca')  # t-SNE: its own test.
  with open(results_path) as f:  # Evaluated first, since it was absent.
    results = json.load(f)
  assert results['step'] == 2 and 'singular_values' in results
  assert rep.results == results
  assert sorted(os.listdir(rep.directory)) == sorted(
      [f'{n}.png' for n in report.PICTURES] + ['report.md'])
  for name in report.PICTURES:
    _assert_real_png(rep.pictures[name])
  with open(rep.markdown) as f:
    text = f.read()
  for name, heading in report.PICTURES.items():
    assert f'![{heading}]({name}.png)' in text
  for key in ('knn_top1', 'raw_pixel_knn_top1', 'linear_top1',
              'standardised_pixel_knn_top1',
              'standardised_pixel_linear_top1'):
    assert f'| {key} | {results[key]:.4f} |' in text, key
  assert 'kNN (SSL features)' in text and 'RankMe' in text
  assert 'SSL features vs the best pixel baseline' in text
  assert 'PCA of 1000 class-stratified `test[:1000]`' in text
  assert 'of 2048 `train[:2048]` examples' in text


def test_main_reads_existing_results(workdir, tmp_path, capsys):
  """The CLI's main: a results.json of the newest step is used as is (no
  re-evaluation); without diagnostics, the spectrum comes from the features.
  """
  workdir = _copy(workdir, tmp_path / 'run')
  results = {'step': 2, 'method': 'simclr', 'dataset': 'fashion_mnist_offline',
             'train_split': 'train[:2048]', 'eval_split': 'test[:1000]',
             'feature_dim': 32, 'knn_top1': 0.1234, 'knn_top5': 0.5678,
             'knn_settings': {'k': 20, 'temperature': 0.07},
             # Results of the run's own readout (another one is evaluated
             # again: test_results_of_another_readout_...).
             'readout': evaluate.load_config(workdir).eval.readout}
  os.makedirs(os.path.join(workdir, 'eval'))
  with open(os.path.join(workdir, 'eval', 'results.json'), 'w') as f:
    json.dump(results, f)
  with flagsaver.flagsaver():
    flags.FLAGS(['report', f'--workdir={workdir}', '--map=pca',
                 '--queries=3', '--top_k=5'])
    try:
      report.main(['report'])
    finally:
      flags.FLAGS.unparse_flags()
  out = capsys.readouterr().out
  assert 'kNN (SSL features)' in out and '0.1234' in out
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    assert json.load(f) == results
  with open(os.path.join(workdir, 'report', 'report.md')) as f:
    text = f.read()
  assert '| knn_top1 | 0.1234 |' in text and 'linear_top1' not in text
  assert 'PCA of 1000' in text and 'RankMe' in text
  assert '3 `test[:1000]` queries, top-5 of 2048' in text
  for name in report.PICTURES:
    _assert_real_png(os.path.join(workdir, 'report', f'{name}.png'),
                     min_width=300, min_height=200)


def test_not_a_workdir_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='config.json not found'):
    report.run(str(tmp_path))


def test_streamed_eval_images_equal_in_memory_ones(fmnist_data_dir):
  builder = sources.get_builder(ml_collections.ConfigDict(
      {'name': 'fashion_mnist_offline', 'data_dir': fmnist_data_dir}))
  split, idx = 'test[:1000]', np.array([999, 3, 3, 500])
  arrays = sources.load_in_memory(builder, split)
  in_memory = report.eval_images(builder, split, idx, image_size=28,
                                 arrays=arrays)
  streamed = report.eval_images(builder, split, idx, image_size=28)
  assert in_memory.shape == (4, 28, 28, 1) and in_memory.dtype == np.uint8
  np.testing.assert_array_equal(streamed, in_memory)
  np.testing.assert_array_equal(in_memory, arrays[0][idx])  # 28 -> 28.


def test_stratified_subset_keeps_class_shares():
  labels = np.repeat([0, 1, 2], [600, 300, 100])
  idx = report.stratified_subset(labels, 100, seed=1)
  assert len(np.unique(idx)) == 100 and np.all(np.diff(idx) > 0)
  np.testing.assert_array_equal(np.bincount(labels[idx]), [60, 30, 10])
  np.testing.assert_array_equal(report.stratified_subset(labels, 5000),
                                np.arange(1000))


def test_queries_cover_distinct_classes_first():
  labels = np.repeat(np.arange(3), 10)
  q = report.pick_queries(labels, 5, seed=0)
  assert len(set(q.tolist())) == 5
  np.testing.assert_array_equal(labels[q[:3]], [0, 1, 2])


def test_nearest_neighbours_rank_by_cosine_not_distance():
  gallery = np.array([[10.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.1]])
  idx, sims = report.nearest_neighbours(np.array([[2.0, 0.0]]), gallery, 3)
  np.testing.assert_array_equal(idx, [[0, 3, 1]])
  np.testing.assert_allclose(sims, [[1.0, 1 / np.sqrt(1.01),
                                     1 / np.sqrt(2)]], rtol=1e-6)


def test_tsne_map_keeps_clusters_apart():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(3, 16)) * 5
  labels = np.repeat(np.arange(3), 30)
  points = plots.project_2d(centres[labels] + rng.normal(size=(90, 16)))
  assert points.shape == (90, 2)
  means = np.stack([points[labels == c].mean(0) for c in range(3)])
  spread = max(np.linalg.norm(points[labels == c] - means[c], axis=1).mean()
               for c in range(3))
  gaps = [np.linalg.norm(means[a] - means[b]) for a, b in ((0, 1), (0, 2),
                                                            (1, 2))]
  assert min(gaps) > 2 * spread


def test_curves_keep_the_last_row_of_a_relogged_step(tmp_path):
  rows = [{'step': 2, 'loss': 5.0}, {'step': 4, 'loss': 9.0},
          {'step': 4, 'loss': 4.0}, {'step': 3, 'loss': 4.5}]
  assert [r['loss'] for r in plots.dedupe_steps(rows)] == [5.0, 4.5, 4.0]
  path = plots.training_curves(rows, str(tmp_path / 'c.png'))
  _assert_real_png(path)
