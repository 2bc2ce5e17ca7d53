"""The offline Fashion-MNIST builder: tfds's features, from local IDX files."""

import gzip
import os

import ml_collections
import numpy as np
import pytest

from ssl_jax.data import decoded_cache
from ssl_jax.data import fashion_mnist_offline
from ssl_jax.data import sources


def _write_idx(path, array, magic):
  dims = np.array(array.shape, '>u4').tobytes()
  with gzip.open(path, 'wb') as f:
    f.write(np.array([magic], '>u4').tobytes() + dims + array.tobytes())


def _fake_manual_dir(root, n_train=12, n_test=6):
  rng = np.random.default_rng(0)
  for split, n in (('train', n_train), ('test', n_test)):
    images_name, labels_name = fashion_mnist_offline._FILES[split]
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    _write_idx(os.path.join(root, images_name), images, 2051)
    _write_idx(os.path.join(root, labels_name), labels, 2049)
  return root


def _config(data_dir, manual_dir):
  return ml_collections.ConfigDict(dict(
      name='fashion_mnist_offline', data_dir=str(data_dir),
      manual_dir=str(manual_dir)))


def test_prepares_from_idx_files_with_tfds_fashion_mnist_features(tmp_path):
  (tmp_path / 'idx').mkdir()
  manual = _fake_manual_dir(tmp_path / 'idx')
  builder = sources.get_builder(_config(tmp_path / 'tfds', manual))
  features = builder.info.features
  assert features['image'].shape == (28, 28, 1)
  assert features['image'].np_dtype == np.uint8
  assert features['label'].num_classes == 10
  images, labels = sources.load_in_memory(builder, 'train')
  assert images.shape == (12, 28, 28, 1) and images.dtype == np.uint8
  assert sorted(labels.tolist()) == sorted((np.arange(12) % 10).tolist())
  # Read once per process: the same read-only arrays come back.
  again = sources.load_in_memory(builder, 'train')
  assert again[0] is images and again[1] is labels
  assert not images.flags.writeable and not labels.flags.writeable
  info = sources.split_info(builder, 'test')
  assert info.num_examples == 6 and info.num_classes == 10


def test_missing_files_say_how_to_install(tmp_path):
  with pytest.raises(sources.DatasetError, match='apt-get install '
                     'dataset-fashion-mnist'):
    sources.get_builder(_config(tmp_path / 'tfds', tmp_path))


def test_unprepared_remote_dataset_is_refused_without_download(tmp_path):
  config = ml_collections.ConfigDict(dict(name='mnist',
                                          data_dir=str(tmp_path),
                                          download=False))
  with pytest.raises(sources.DatasetError, match='not prepared'):
    sources.get_builder(config)


def test_unknown_dataset_and_split(tmp_path, fmnist_data_dir):
  config = ml_collections.ConfigDict(dict(name='no_such_dataset_xyz',
                                          data_dir=str(tmp_path)))
  with pytest.raises(sources.DatasetError, match='not a tfds dataset'):
    sources.get_builder(config)
  builder = sources.get_builder(ml_collections.ConfigDict(dict(
      name='fashion_mnist_offline', data_dir=fmnist_data_dir)))
  with pytest.raises(sources.DatasetError, match="no split 'validation'"):
    sources.split_info(builder, 'validation')


def test_real_debian_files_give_60k_and_10k(fmnist_data_dir):
  builder = sources.get_builder(ml_collections.ConfigDict(dict(
      name='fashion_mnist_offline', data_dir=fmnist_data_dir)))
  assert builder.info.splits['train'].num_examples == 60000
  assert builder.info.splits['test'].num_examples == 10000
  images, labels = sources.load_in_memory(builder, 'test')
  assert np.bincount(labels).tolist() == [1000] * 10
  assert 60 < images.mean() < 80  # Fashion-MNIST's mean pixel is ~72.9.


def _counting_decoder(monkeypatch):
  """sources' decoder, wrapped to count its calls."""
  calls = []
  decode = sources._read_split

  def counted(builder, split):
    calls.append(split)
    return decode(builder, split)

  monkeypatch.setattr(sources, '_read_split', counted)
  return calls


def _load_in_a_new_process(builder, split):
  sources._LOADED.clear()  # What a new process starts with.
  return sources.load_in_memory(builder, split)


def test_decoded_split_is_kept_for_the_next_process_and_redone_when_stale(
    tmp_path, monkeypatch):
  (tmp_path / 'idx').mkdir()
  builder = sources.get_builder(
      _config(tmp_path / 'tfds', _fake_manual_dir(tmp_path / 'idx')))
  calls = _counting_decoder(monkeypatch)
  split = 'train[:50%]'  # Any split string names its own file.
  images, labels = _load_in_a_new_process(builder, split)
  kept = decoded_cache.path(builder, split)
  assert calls == [split] and os.path.exists(kept)
  assert os.stat(kept).st_mode & 0o044 == 0o044  # Others may read it too.
  assert images.shape == (6, 28, 28, 1)
  # The next process reads the kept arrays: no decoding, the same values.
  again = _load_in_a_new_process(builder, split)
  assert calls == [split]
  np.testing.assert_array_equal(again[0], images)
  np.testing.assert_array_equal(again[1], labels)
  assert not again[0].flags.writeable
  # The tfrecords changed (prepared again): decoded again, file replaced.
  record = builder.info.splits[split].file_instructions[0].filename
  os.utime(record, ns=(0, os.stat(record).st_mtime_ns + 10**9))
  _load_in_a_new_process(builder, split)
  _load_in_a_new_process(builder, split)
  assert calls == [split, split]
  # A damaged file is decoded again, not an error.
  with open(kept, 'r+b') as f:
    f.truncate(100)
  np.testing.assert_array_equal(
      _load_in_a_new_process(builder, split)[0], images)
  assert calls == [split] * 3
  assert not [f for f in os.listdir(os.path.dirname(kept)) if '.tmp' in f]


def test_a_folder_that_cannot_be_written_still_loads(tmp_path, monkeypatch):
  (tmp_path / 'idx').mkdir()
  builder = sources.get_builder(
      _config(tmp_path / 'tfds', _fake_manual_dir(tmp_path / 'idx')))

  def full_disk(*args, **kwargs):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(np, 'savez', full_disk)
  images, _ = _load_in_a_new_process(builder, 'test')
  assert images.shape == (6, 28, 28, 1)
  folder = os.path.dirname(decoded_cache.path(builder, 'test'))
  assert not [f for f in os.listdir(folder) if f.startswith(
      decoded_cache.PREFIX)]
