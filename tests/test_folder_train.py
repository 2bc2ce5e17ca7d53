"""The trainer on a folder of images (smoke config): refusals before
anything is written, resume, the data fingerprint, unreadable files.

One compile for the module (the straight and the resumed run share the
step's shapes); the refusals stop before compiling.
"""

import json
import os
import sys

import jax
import numpy as np
import pytest

from conftest import load_config
from ssl_jax import checkpoint
from ssl_jax import config_lib
from ssl_jax import metrics
from ssl_jax import train
from ssl_jax.data import folder

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'data'))
from image_folders import add_bad_files, write_folder  # pylint: disable=g-import-not-at-top,wrong-import-position


def folder_config(path, **data):
  """The SimCLR smoke config on a folder: batch 8 (8 fake devices), 4
  steps, a checkpoint every 2."""
  config = load_config('smoke')
  config.data.name = 'folder'
  config.data.path = str(path)
  config.data.update(data)
  config.batch_size = 8
  config.total_steps = 4
  config.warmup_steps = 1
  config.log_every_steps = 2
  config.checkpoint.every_steps = 2
  return config


def _nothing_written(workdir):
  return not os.path.exists(workdir)


@pytest.mark.parametrize('make, message', [
    (lambda p: p / 'missing', 'does not exist'),
    (lambda p: (p / 'empty').mkdir() or p / 'empty', 'it is empty'),
    (lambda p: p / 'docs', 'holds 1 entries'),
])
def test_unusable_folders_are_refused_before_anything_is_written(
    tmp_path, make, message):
  (tmp_path / 'docs').mkdir()
  (tmp_path / 'docs' / 'readme.txt').write_text('no images here')
  path = make(tmp_path)
  workdir = str(tmp_path / 'run')
  with pytest.raises(config_lib.UserError, match=message) as e:
    train.run(folder_config(path), workdir)
  assert str(path) in str(e.value)
  assert _nothing_written(workdir)


def test_probe_without_labels_is_a_config_error(tmp_path):
  write_folder(tmp_path / 'images')
  config = folder_config(tmp_path / 'images')
  config.probe.enabled = True
  with pytest.raises(config_lib.ConfigError,
                     match='probe.enabled=True needs labels'):
    train.run(config, str(tmp_path / 'run'))
  assert _nothing_written(str(tmp_path / 'run'))
  config = folder_config(tmp_path / 'images', labels='csv')
  with pytest.raises(config_lib.ConfigError, match='labels_csv'):
    train.run(config, str(tmp_path / 'run'))


def test_resume_equals_straight_run_and_the_fingerprint_guards_it(tmp_path):
  images = tmp_path / 'images'
  write_folder(images, per_class=8)
  add_bad_files(images)  # 18 files, 2 unreadable: skipped, counted.
  config = folder_config(images, max_bad_fraction=0.2)
  straight = train.run(config, str(tmp_path / 'straight'))
  workdir = str(tmp_path / 'resumed')
  train.run(config, workdir, stop_at_step=2)
  assert checkpoint.latest_step(workdir) == 2
  resumed = train.run(config, workdir)
  jax.tree.map(np.testing.assert_array_equal,
               jax.tree.map(np.asarray, straight.params),
               jax.tree.map(np.asarray, resumed.params))
  # No labels: the probe was off, and the run recorded that it was.
  assert 'probe' not in resumed.params or not resumed.params['probe']
  recorded = json.load(open(os.path.join(workdir, 'config.json')))
  assert recorded['probe']['enabled'] is False
  rows = metrics.read_jsonl(os.path.join(workdir, 'train_metrics.jsonl'))
  assert 'probe_top1' not in rows[-1]
  assert all('skipped_images' in r for r in rows)
  record = json.load(open(os.path.join(workdir, 'data.json')))['runs']
  assert [r['num_examples'] for r in record] == [18]

  # Files added: refused (nothing written), unless allow_changed.
  write_folder(images / 'more', per_class=1, classes=('new',))
  with pytest.raises(config_lib.ConfigError,
                     match=r'records 18 images .* now has 19'):
    train.run(config, workdir)
  assert len(json.load(open(os.path.join(workdir, 'data.json')))['runs']) == 1
  config.data.allow_changed = True
  train.run(config, workdir)  # Trained to the end: nothing to do.
  record = json.load(open(os.path.join(workdir, 'data.json')))['runs']
  assert [r['num_examples'] for r in record] == [18, 19]


def test_too_many_unreadable_files_stop_the_run(tmp_path):
  images = tmp_path / 'images'
  write_folder(images, per_class=4)
  add_bad_files(images)  # 2 of 10.
  config = folder_config(images, max_bad_fraction=0.1)
  p = train.plan(config)
  with pytest.raises(folder.DatasetError, match='max_bad_fraction=0.1'):
    for _ in train.train_stream(p, config, 0):
      pass
