"""Fashion-MNIST as a tfds builder that prepares from local IDX files.

tfds's own `fashion_mnist` builder downloads from the web and checks byte
checksums; Debian's `dataset-fashion-mnist` package ships the same images with
a different gzip header, so that builder rejects them (and retries the download
for minutes). This builder reads the four IDX files from `manual_dir` and
produces exactly tfds's `fashion_mnist` features (`image` uint8 28x28x1,
`label` ClassLabel(10)), so the rest of ssl_jax cannot tell them apart.

Paper: Xiao, Rasul, Vollgraf, "Fashion-MNIST", arXiv 1708.07747.
"""

import gzip
import os

import numpy as np
import tensorflow_datasets as tfds

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
INSTALL_HINT = (
    'On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` (puts the '
    f'IDX files in {DEBIAN_DIR}); or set config.data.manual_dir to a folder '
    'holding the four *-ubyte.gz files from github.com/zalandoresearch/'
    'fashion-mnist.')

_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
_CLASS_NAMES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049


def missing_files(manual_dir: str) -> list[str]:
  """Returns the IDX files absent from `manual_dir` (empty when complete)."""
  names = [name for pair in _FILES.values() for name in pair]
  return [n for n in names if not os.path.isfile(os.path.join(manual_dir, n))]


def _read_idx(path: str, magic: int) -> np.ndarray:
  """Reads a gzipped IDX file, checking its magic number and length."""
  with gzip.open(path, 'rb') as f:
    data = f.read()
  header = np.frombuffer(data[:4], '>u4')[0]
  if header != magic:
    raise ValueError(f'{path}: IDX magic {header}, expected {magic}.')
  ndim = magic & 0xFF
  dims = np.frombuffer(data[4:4 + 4 * ndim], '>u4').astype(int)
  array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if array.size != int(np.prod(dims)):
    raise ValueError(f'{path}: {array.size} values, header says {dims}.')
  return array.reshape(dims)


class FashionMnistOffline(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST prepared from local IDX files (no network)."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = INSTALL_HINT

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(28, 28, 1)),
            'label': tfds.features.ClassLabel(names=_CLASS_NAMES),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://github.com/zalandoresearch/fashion-mnist',
    )

  def _split_generators(self, dl_manager):
    manual_dir = os.fspath(dl_manager.manual_dir)
    if missing := missing_files(manual_dir):
      raise FileNotFoundError(
          f'Fashion-MNIST files {missing} not found in {manual_dir}. '
          + INSTALL_HINT)
    return {split: self._generate_examples(manual_dir, *files)
            for split, files in _FILES.items()}

  def _generate_examples(self, manual_dir, images_file, labels_file):
    images = _read_idx(os.path.join(manual_dir, images_file), _IMAGE_MAGIC)
    labels = _read_idx(os.path.join(manual_dir, labels_file), _LABEL_MAGIC)
    if len(images) != len(labels):
      raise ValueError(f'{len(images)} images but {len(labels)} labels.')
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {'image': image[..., None], 'label': int(label)}
