"""Evaluation without labels, and on a separate labelled set
(`config.eval_data`), after pretraining on an unlabelled folder."""

import os
import sys

import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import eval_data
from ssl_jax import evaluate
from ssl_jax import report
from ssl_jax import train
from test_folder_train import folder_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'data'))
from image_folders import write_folder  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_label_free_protocols_then_a_labelled_eval_set(tmp_path):
  write_folder(tmp_path / 'unlabelled', per_class=8)
  write_folder(tmp_path / 'labelled', per_class=10, seed=1)
  config = folder_config(tmp_path / 'unlabelled')
  config.total_steps = 2
  config.eval.batch_size = 8
  config.eval.knn_k = 3
  workdir = str(tmp_path / 'run')
  train.run(config, workdir)

  # The training folder, unlabelled: diagnostics run, kNN is named.
  results = evaluate.run(workdir, protocols=('knn', 'diagnostics'))
  assert results['need_labels'] == ['knn']
  assert 'knn_top1' not in results and 'rankme' in results['diagnostics']
  pictures = report.run(workdir, map_method='pca', num_queries=2,
                        top_k=2).pictures
  assert all(os.path.getsize(p) > 0 for p in pictures.values())

  # eval_data may change on a finished workdir (recorded, nothing trained).
  config.eval_data.name = 'folder'
  config.eval_data.path = str(tmp_path / 'labelled')
  train.run(config, workdir)
  # Evaluation rebuilds the model from data.json: the training images
  # need not be there any more.
  os.rename(tmp_path / 'unlabelled', tmp_path / 'moved')
  results = evaluate.run(workdir, protocols=('knn',))
  assert 0 <= results['knn_top1'] <= 1
  assert '20 images' in results['eval_data']  # 16 train + 4 test.
  assert results['protocols']['knn']['eval_split'] == eval_data.TEST


def test_eval_data_keys_are_checked(tmp_path):
  config = folder_config(tmp_path)
  config.eval_data.name = 'folder'
  with pytest.raises(config_lib.ConfigError, match='config.eval_data.path'):
    train.plan(config)
  config.eval_data.path = str(tmp_path / 'typo')
  with pytest.raises(config_lib.ConfigError, match='typo.*is not a folder'):
    train.plan(config)


def test_the_split_keeps_each_class_in_both_parts():
  labels = np.array([0] * 10 + [1] * 5 + [2])
  train_part, test_part = eval_data._split(labels, 0.2)  # pylint: disable=protected-access
  assert np.bincount(labels[test_part], minlength=3).tolist() == [2, 1, 0]
  assert sorted(np.concatenate([train_part, test_part])) == list(range(16))
