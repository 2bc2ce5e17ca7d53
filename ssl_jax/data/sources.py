"""Finding a tfds dataset by name and reading its splits.

Any tfds dataset is selected by `config.data.name` + `config.data.data_dir`
with no code change (`cifar10`, `imagenet2012`, ...). ssl_jax's own offline
builders (`fashion_mnist_offline`) are prepared on first use from local files;
other datasets must already be prepared in `data_dir` unless
`config.data.download=True`, so a test or a cluster job never hangs on a
download it cannot make.
"""

import collections
import dataclasses
import difflib
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from ssl_jax import config_lib
from ssl_jax.data import decoded_cache
# Importing registers the builder with tfds under `fashion_mnist_offline`.
from ssl_jax.data import fashion_mnist_offline

# Builders that ssl_jax prepares itself from a local manual_dir.
_OFFLINE_BUILDERS = {
    'fashion_mnist_offline': fashion_mnist_offline,
}


class DatasetError(config_lib.UserError):
  """The dataset or split asked for cannot be read."""


@dataclasses.dataclass(frozen=True)
class SplitInfo:
  """What the input pipeline needs to know about one split."""
  name: str
  split: str
  num_examples: int
  image_shape: tuple[int | None, int | None, int]
  num_classes: int


# Split sizes, image shapes and classes of well-known datasets (their tfds
# catalogue pages), so aot.py can plan a run for a machine that holds the
# data while this one does not.
_KNOWN = {
    'imagenet2012': ({'train': 1_281_167, 'validation': 50_000},
                     (None, None, 3), 1000),
    'cifar10': ({'train': 50_000, 'test': 10_000}, (32, 32, 3), 10),
    'cifar100': ({'train': 50_000, 'test': 10_000}, (32, 32, 3), 100),
    'fashion_mnist': ({'train': 60_000, 'test': 10_000}, (28, 28, 1), 10),
    'fashion_mnist_offline': ({'train': 60_000, 'test': 10_000},
                              (28, 28, 1), 10),
}


def known_split_info(name: str, split: str) -> SplitInfo | None:
  """The SplitInfo of a well-known dataset without reading it, or None."""
  if name not in _KNOWN or split not in _KNOWN[name][0]:
    return None
  splits, shape, classes = _KNOWN[name]
  return SplitInfo(name=name, split=split, num_examples=splits[split],
                   image_shape=shape, num_classes=classes)


def default_data_dir(data_dir: str | None) -> str:
  return os.path.expanduser(
      data_dir or os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets'))


def get_builder(data_config) -> tfds.core.DatasetBuilder:
  """Returns a prepared builder, preparing an offline one if needed.

  Raises:
    DatasetError: unknown name, missing local files, or a remote dataset that
      is not prepared in `data_dir` while downloads are off.
  """
  name = data_config.name
  data_dir = default_data_dir(data_config.get('data_dir'))
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DatasetError(unknown_dataset_message(name)) from None
  if _is_prepared(builder):
    return builder
  if name in _OFFLINE_BUILDERS:
    module = _OFFLINE_BUILDERS[name]
    manual_dir = data_config.get('manual_dir') or module.DEBIAN_DIR
    if missing := module.missing_files(manual_dir):
      raise DatasetError(
          f'Dataset {name!r}: files {missing} missing from '
          f'config.data.manual_dir={manual_dir!r}. {module.INSTALL_HINT}')
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder
  if data_config.get('download', False):
    builder.download_and_prepare()
    return builder
  raise DatasetError(
      f'Dataset {name!r} is not prepared in data_dir={data_dir!r} and '
      'config.data.download is False. Prepare it there (`tfds build '
      f'{name} --data_dir={data_dir}`, or copy a prepared copy), point '
      'config.data.data_dir at one, or set config.data.download=True.')


def check_data_dir(data_config) -> None:
  """A data_dir that was given must exist, unless create_data_dir says to
  make it: a mistyped path would otherwise get a new tree with the dataset
  prepared (or downloaded) into it. The default folder (data_dir None:
  $TFDS_DATA_DIR or ~/tensorflow_datasets) may be created. The trainer
  checks a run's config with it; `get_builder` itself creates data_dir."""
  data_dir = data_config.get('data_dir')
  if data_dir is None or data_config.get('create_data_dir', False):
    return
  if not tf.io.gfile.isdir(data_dir):
    what = 'is not a folder' if tf.io.gfile.exists(data_dir) else (
        'does not exist')
    raise DatasetError(
        f'config.data.data_dir={data_dir!r} {what}. Fix the path, leave '
        'data_dir unset for the default ($TFDS_DATA_DIR or '
        '~/tensorflow_datasets), or set config.data.create_data_dir=True to '
        'create it.')


def unknown_dataset_message(name: str) -> str:
  """A short answer to an unknown dataset name (tfds's own lists every
  dataset it knows, hundreds of lines)."""
  close = difflib.get_close_matches(
      name, tfds.list_builders(with_community_datasets=False), n=3)
  hint = f' Close tfds names: {", ".join(close)}.' if close else ''
  return (f'config.data.name={name!r} is not a tfds dataset. Offline (no '
          f'download needed): {", ".join(sorted(_OFFLINE_BUILDERS))}.{hint} '
          'Any tfds name works once prepared in config.data.data_dir (or '
          'with config.data.download=True).')


def _is_prepared(builder) -> bool:
  # A prepared dataset has dataset_info.json in its versioned folder.
  return tf.io.gfile.exists(os.path.join(builder.data_dir,
                                         'dataset_info.json'))


def split_info(builder, split: str) -> SplitInfo:
  """Checks that `split` exists and is non-empty; returns its shape info."""
  info = builder.info
  try:
    num_examples = info.splits[split].num_examples
  except (KeyError, ValueError):
    raise DatasetError(
        f'Dataset {info.name!r} has no split {split!r}; it has '
        f'{sorted(info.splits.keys())}.') from None
  if num_examples == 0:
    raise DatasetError(f'Split {split!r} of {info.name!r} is empty.')
  image = info.features['image']
  if image.dtype != np.uint8 or len(image.shape) != 3:
    raise DatasetError(
        f'{info.name!r}: expected uint8 HxWxC images, found dtype '
        f'{image.dtype} shape {image.shape}.')
  return SplitInfo(
      name=info.name, split=split, num_examples=num_examples,
      image_shape=tuple(image.shape),
      num_classes=info.features['label'].num_classes)


# Splits already read in this process, most recent last. Decoding 60k
# Fashion-MNIST images takes about 3.3 s on 2 cores (loading the kept
# decoded file, 0.03 s); a notebook or test that trains, resumes and
# evaluates in one process would otherwise read the same split each time.
_LOADED = collections.OrderedDict()
_MAX_LOADED = 4


def load_in_memory(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
  """Reads a whole split of fixed-size images as (images, labels) arrays.

  The arrays are read-only and kept for the process (the last
  `_MAX_LOADED` splits): a second call for the same prepared dataset and
  split returns them without reading again. The decoded split is also kept
  in the dataset's folder for the next process (decoded_cache.py).
  """
  key = (str(builder.data_dir), builder.info.full_name, split)
  if key in _LOADED:
    _LOADED.move_to_end(key)
    return _LOADED[key]
  arrays = decoded_cache.read(builder, split, _read_split)
  for array in arrays:
    array.setflags(write=False)
  _LOADED[key] = arrays
  if len(_LOADED) > _MAX_LOADED:
    _LOADED.popitem(last=False)
  return arrays


def _read_split(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
  info = split_info(builder, split)
  if None in info.image_shape:
    raise DatasetError(
        f'{info.name!r} has images of varying size {info.image_shape}: set '
        'config.data.in_memory=False to stream it.')
  data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  images, labels = data['image'], data['label'].astype(np.int32)
  if images.shape[1:] != info.image_shape or images.dtype != np.uint8:
    raise DatasetError(
        f'{info.name!r}/{split}: images have shape {images.shape[1:]} '
        f'{images.dtype}, the dataset info says {info.image_shape} uint8.')
  return images, labels
