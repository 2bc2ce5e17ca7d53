"""A folder of images as a source: discovery, labels, decoding, the stream.

No training here (nothing compiles): tests/test_folder_train.py runs the
trainer on folders.
"""

import os

import numpy as np
import pytest
from PIL import Image

from image_folders import NON_IMAGES, add_bad_files, write_csv, write_folder
from ssl_jax.data import folder
from ssl_jax.data import image_source
from ssl_jax.data import image_stream
from ssl_jax.data import pipeline
from ssl_jax.data import views

VIEWS = (views.ViewSpec(crop_size=10), views.ViewSpec(crop_size=6))


def _source(root, labels='subfolders'):
  return image_source.ImageSource(folder.index(str(root), labels))


def _stream(source, *, shard=pipeline.Shard(), start=0, total=5, batch=4,
            max_fraction=0.5, channels=3):
  ds = source.train(VIEWS, channels=channels, global_batch=batch, seed=3,
                    start_step=start, total_steps=total, shard=shard)
  return source.bad_files(ds.as_numpy_iterator(), max_fraction)


def test_recursive_discovery_sorted_with_other_files_counted(tmp_path):
  written = write_folder(tmp_path)
  index = folder.index(str(tmp_path))
  assert list(index.files) == written  # Nested, upper-case exts, sorted.
  assert {os.path.splitext(f)[1] for f in index.files} >= {
      '.jpg', '.png', '.webp', '.BMP', '.gif', '.JPEG'}
  assert index.ignored == len(NON_IMAGES)
  assert index.labels is None and index.num_classes == 0
  assert '12 images' in index.summary() and '3 other' in index.summary()


def test_labels_from_subfolders_and_from_csv(tmp_path):
  write_folder(tmp_path, classes=('b_dog', 'a_cat'))
  index = folder.index(str(tmp_path), 'subfolders')
  assert index.class_names == ('a_cat', 'b_dog')  # Sorted names.
  assert [index.labels[i] for i, f in enumerate(index.files)] == [
      0 if f.startswith('a_cat/') else 1 for f in index.files]
  csv_path = tmp_path / 'labels.csv'
  write_csv(csv_path, [(f, 'odd' if i % 2 else 'even')
                       for i, f in enumerate(index.files)])
  by_csv = folder.index(str(tmp_path), 'csv', str(csv_path))
  assert by_csv.class_names == ('even', 'odd')
  assert list(by_csv.labels) == [i % 2 for i in range(len(index.files))]
  assert by_csv.fingerprint != index.fingerprint  # Labels are in it.
  write_csv(csv_path, [(index.files[0], 'x')])
  with pytest.raises(folder.DatasetError, match='no label for 11 of the 12'):
    folder.index(str(tmp_path), 'csv', str(csv_path))


@pytest.mark.parametrize('make, found', [
    (lambda p: p / 'missing', 'does not exist'),
    (lambda p: p, 'it is empty'),
    (lambda p: (p / 'a.txt').write_text('x') and p, r'holds 1 entries \(a.txt'),
])
def test_unusable_paths_name_the_path_and_what_was_found(tmp_path, make,
                                                         found):
  root = make(tmp_path)
  with pytest.raises(folder.DatasetError, match=found) as e:
    folder.index(str(root))
  assert str(root) in str(e.value)


def test_images_directly_in_the_root_are_not_a_class(tmp_path):
  write_folder(tmp_path)
  (tmp_path / 'cat' / 'img00.jpg').rename(tmp_path / 'loose.jpg')
  with pytest.raises(folder.DatasetError, match="loose.jpg.*outside any class"):
    folder.index(str(tmp_path), 'subfolders')


def test_fingerprint_changes_with_files_not_with_the_folder_path(tmp_path):
  written = write_folder(tmp_path / 'a')
  first = folder.index(str(tmp_path / 'a')).fingerprint
  os.rename(tmp_path / 'a', tmp_path / 'b')
  assert folder.index(str(tmp_path / 'b')).fingerprint == first
  os.remove(tmp_path / 'b' / written[-1])
  assert folder.index(str(tmp_path / 'b')).fingerprint != first


@pytest.mark.parametrize('channels', [1, 3])
def test_every_mode_decodes_to_the_configured_channels(tmp_path, channels):
  write_folder(tmp_path)  # L, RGB, RGBA, P, I;16 in five formats.
  images, labels = _source(tmp_path).eval_arrays(8, channels)
  assert images.shape == (12, 8, 8, channels) and images.dtype == np.uint8
  assert labels.tolist() == [0] * 6 + [1] * 6
  batch = next(_stream(_source(tmp_path), channels=channels))
  assert batch['view0'].shape == (4, 10, 10, channels)
  assert set(batch) == {'view0', 'view1', 'label', 'seed_id'}


def test_processes_read_disjoint_rows_of_the_same_global_batches(tmp_path):
  write_folder(tmp_path)
  source = _source(tmp_path)
  whole = list(_stream(source))
  halves = [list(_stream(source, shard=pipeline.Shard(i, 2)))
            for i in range(2)]
  for step, batch in enumerate(whole):
    for key in batch:
      joined = np.concatenate([h[step][key] for h in halves])
      np.testing.assert_array_equal(joined, batch[key])
  # Resuming at step 3 gives steps 3 and 4 of the straight stream.
  for a, b in zip(whole[3:], _stream(source, start=3)):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def test_an_epoch_sees_every_image_once(tmp_path):
  write_folder(tmp_path, per_class=4)  # 8 images, batch 4: 2 per epoch.
  source = _source(tmp_path)
  labels = np.concatenate([b['label'] for b in _stream(source, total=2)])
  np.testing.assert_array_equal(np.sort(labels), [0] * 4 + [1] * 4)


def test_unreadable_files_are_skipped_logged_and_counted(tmp_path):
  write_folder(tmp_path)
  bad = add_bad_files(tmp_path)
  source = _source(tmp_path)  # 14 files, 2 bad.
  stream = _stream(source, total=8)  # Two epochs: every file is tried.
  batches = list(stream)
  assert len(batches) == 8 and all(len(b['label']) == 4 for b in batches)
  assert sorted(stream.bad.values()) == [str(tmp_path / b) for b in bad]
  assert stream.count == 2
  with pytest.raises(folder.DatasetError,
                     match=r'2 of 14 images could not be decoded.*'
                     r'max_bad_fraction=0.1'):
    list(_stream(source, total=8, max_fraction=0.1))
  images, _ = source.eval_arrays(8, 3)  # Evaluation leaves them out.
  assert len(images) == 12


def test_bad_files_error_names_the_key():
  stream = image_stream.BadFiles(
      iter([{'skipped': np.array([image_stream.RETRIES]),
             'tried': np.zeros((1, image_stream.RETRIES), int)}]),
      lambda i: f'/x/{i}', 100, 0.5)
  with pytest.raises(folder.DatasetError, match='4 images in a row could not be decoded'):
    next(stream)


def _written(path, image, **save):
  image.save(path, **save)
  with open(path, 'rb') as f:
    return f.read()


def test_pixels_of_every_mode_and_format_match_pil(tmp_path):
  # Shapes alone would pass a decoder that scrambles 16-bit or palette
  # images; here every pixel is compared with PIL's reading of the file.
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)  # H != W.
  grey, alpha = rgb[..., 0], rgb[..., 1]
  as_rgb = lambda g: np.repeat(g[..., None], 3, axis=-1)
  palette = Image.fromarray(rgb).quantize(16)
  cases = {  # name: (file bytes, the RGB pixels expected).
      'L.png': (Image.fromarray(grey), as_rgb(grey)),
      'LA.png': (Image.fromarray(np.dstack([grey, alpha]), 'LA'),
                 as_rgb(grey)),
      'RGB.png': (Image.fromarray(rgb), rgb),
      'RGBA.png': (Image.fromarray(np.dstack([rgb, alpha])), rgb),
      'P.png': (palette, np.asarray(palette.convert('RGB'))),
      # 16-bit: g * 257 is g in the high byte.
      'I16.png': (Image.fromarray(grey.astype(np.uint16) * 257), as_rgb(grey)),
      'RGB.bmp': (Image.fromarray(rgb), rgb),
      'RGB.webp': (Image.fromarray(rgb), rgb),
  }
  for name, (image, expected) in cases.items():
    save = {'lossless': True} if name.endswith('.webp') else {}
    contents = _written(str(tmp_path / name), image, **save)
    decoded = image_stream.decode(contents, 3).numpy()
    np.testing.assert_array_equal(decoded, expected, err_msg=name)
    # One channel: PIL's ITU-R 601 luma, to rounding.
    grey_decoded = image_stream.decode(contents, 1).numpy()[..., 0]
    luma = np.asarray(Image.fromarray(expected).convert('L'), np.int16)
    assert np.abs(grey_decoded - luma).max() <= 1, name

  # An animated GIF: its first frame.
  frames = [palette, Image.fromarray(255 - rgb).quantize(16)]
  contents = _written(str(tmp_path / 'anim.gif'), frames[0], save_all=True,
                      append_images=frames[1:])
  with Image.open(tmp_path / 'anim.gif') as gif:
    first = np.asarray(gif.convert('RGB'))
    gif.seek(1)
    assert not np.array_equal(np.asarray(gif.convert('RGB')), first)
  np.testing.assert_array_equal(image_stream.decode(contents, 3).numpy(),
                                first)
  # A JPEG: TF's default IDCT (integer, fast) and PIL's (accurate) differ
  # by a few levels (a wrong layout or colour conversion: by ~80).
  contents = _written(str(tmp_path / 'RGB.jpg'), Image.fromarray(rgb),
                      quality=95)
  expected = np.asarray(Image.open(tmp_path / 'RGB.jpg'), np.int16)
  assert np.abs(image_stream.decode(contents, 3).numpy() - expected).mean() < 4
