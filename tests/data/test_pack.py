"""`python -m ssl_jax.data.pack`: shards that give the folder's stream."""

import json
import os

import ml_collections
import numpy as np
import pytest

from image_folders import add_bad_files, write_folder
from ssl_jax import errors
from ssl_jax.data import folder
from ssl_jax.data import image_source
from ssl_jax.data import pack
from ssl_jax.data import pipeline
from ssl_jax.data import views

VIEWS = (views.ViewSpec(crop_size=10), views.ViewSpec(crop_size=6))


def _batches(source, shard=pipeline.Shard(), start=0):
  ds = source.train(VIEWS, channels=3, global_batch=4, seed=1,
                    start_step=start, total_steps=5, shard=shard)
  return list(source.bad_files(ds.as_numpy_iterator(), 0.5))


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert set(x) == set(y)
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])


def test_the_packed_set_gives_the_folder_stream(tmp_path, capsys):
  write_folder(tmp_path / 'src')
  pack.main(['--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'p'),
             '--labels', 'subfolders', '--records_per_shard', '5'])
  assert 'Packed 12 images into 3 shard(s)' in capsys.readouterr().out
  config = lambda name, path: ml_collections.ConfigDict(
      dict(name=name, path=path, labels='subfolders'))
  source = image_source.open_source(config('folder', str(tmp_path / 'src')))
  packed = image_source.open_source(config('packed', str(tmp_path / 'p')))
  assert packed.fingerprint == source.fingerprint  # Same files, labels.
  np.testing.assert_array_equal(packed.labels, source.labels)
  _assert_same(_batches(packed), _batches(source))
  # Per process: each reads its rows only, the same as the folder's.
  for i in range(2):
    _assert_same(_batches(packed, pipeline.Shard(i, 2), start=2),
                 _batches(source, pipeline.Shard(i, 2), start=2))
  np.testing.assert_array_equal(packed.eval_arrays(8, 1)[0],
                                source.eval_arrays(8, 1)[0])


def test_unreadable_files_are_left_out_and_named(tmp_path):
  write_folder(tmp_path / 'src', per_class=3)
  bad = add_bad_files(tmp_path / 'src')
  meta = pack.pack(str(tmp_path / 'src'), str(tmp_path / 'p'))
  assert meta['num_examples'] == 6 and sorted(meta['skipped']) == bad
  assert json.load(open(tmp_path / 'p' / pack.META)) == meta
  index = np.load(tmp_path / 'p' / pack.INDEX)
  assert (index['height'] >= 12).all() and (index['label'] == -1).all()


def test_bad_sources_and_destinations_are_refused_before_writing(tmp_path):
  with pytest.raises(folder.DatasetError, match='does not exist'):
    pack.pack(str(tmp_path / 'missing'), str(tmp_path / 'p'))
  assert not os.path.exists(tmp_path / 'p')
  write_folder(tmp_path / 'src', per_class=2)
  (tmp_path / 'p').mkdir()
  (tmp_path / 'p' / 'x').write_text('x')
  with pytest.raises(errors.UserError, match='not empty.*--overwrite'):
    pack.pack(str(tmp_path / 'src'), str(tmp_path / 'p'))
  with pytest.raises(folder.DatasetError, match='is not a packed set'):
    pack.PackedSource.open(str(tmp_path / 'src'))
