"""Config keys of image-file sources, the evaluation source and the probe.

  config.data.name = 'folder' | 'packed' | <any tfds name>
  config.data.path            the folder, or the packed set's folder
  config.data.labels          'none' | 'subfolders' | 'csv'   (folder only)
  config.data.labels_csv      path,label rows, paths relative to data.path
  config.data.max_bad_fraction  unreadable files tolerated (fraction of all)
  config.data.allow_changed   resume although the files changed
  config.eval_data            a separate evaluation source (name None: the
                              training data); a labelled folder, packed set
                              or tfds dataset
  config.probe.enabled        None: on when the training data has labels

Pure Python, so it is checked before anything compiles or is written.
"""

import os

import ml_collections
from ml_collections import config_dict

from ssl_jax import errors

IMAGE_SOURCES = ('folder', 'packed')
LABELS = ('none', 'subfolders', 'csv')


def data_keys() -> dict:
  """The image-source keys base_config() adds to config.data."""
  return dict(
      path=config_dict.placeholder(str),
      labels='none',
      labels_csv=config_dict.placeholder(str),
      # More unreadable files than this fraction of all stops the run.
      max_bad_fraction=0.01,
      # Resuming on files other than the workdir's record (data_record.py).
      allow_changed=False,
  )


def eval_data_config() -> ml_collections.ConfigDict:
  """config.eval_data: where evaluation reads its labelled images."""
  return ml_collections.ConfigDict(dict(
      name=config_dict.placeholder(str),  # None: evaluate on config.data.
      path=config_dict.placeholder(str),
      labels='subfolders',
      labels_csv=config_dict.placeholder(str),
      data_dir=config_dict.placeholder(str),  # tfds only.
      train_split='train',  # tfds only.
      eval_split='test',  # tfds only.
      # A folder or packed set is split into kNN/linear train and test
      # parts: this fraction of each class (seeded, stable) is the test.
      test_fraction=0.2,
  ))


def _err(key, value, allowed):
  return errors.ConfigError(f'config.{key}={value!r} is invalid: {allowed}.')


def _check_image_keys(data, key: str) -> None:
  if data.get('path') in (None, ''):
    raise errors.ConfigError(
        f"config.{key}.name={data.name!r} reads files: set "
        f'config.{key}.path to the folder (--config.{key}.path=/data/x).')
  if data.name == 'folder' and data.get('labels') not in LABELS:
    raise _err(f'{key}.labels', data.get('labels'),
               f'allowed values are {LABELS}')
  if data.name == 'folder' and data.get('labels') == 'csv' and not data.get(
      'labels_csv'):
    raise errors.ConfigError(
        f'config.{key}.labels=csv needs config.{key}.labels_csv: a CSV file '
        f'of path,label rows (paths relative to config.{key}.path).')


def validate(config) -> None:
  """Checks the data, eval_data and probe keys' values (not the files)."""
  data = config.data
  if data.get('name') in IMAGE_SOURCES:
    _check_image_keys(data, 'data')
    fraction = data.get('max_bad_fraction')
    if not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
      raise _err('data.max_bad_fraction', fraction, 'a fraction in [0, 1)')
  if data.get('allow_changed') not in (True, False, None):
    raise _err('data.allow_changed', data.allow_changed, 'True or False')
  enabled = config.probe.get('enabled')
  if enabled not in (True, False, None):
    raise _err('probe.enabled', enabled,
               'True, False or None (None: on when the data has labels)')
  eval_data = config.get('eval_data')
  if eval_data is not None and eval_data.get('name') in IMAGE_SOURCES:
    _check_image_keys(eval_data, 'eval_data')
    fraction = eval_data.get('test_fraction')
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
      raise _err('eval_data.test_fraction', fraction, 'a fraction in (0, 1)')


def check_eval_path(config) -> None:
  """An eval_data folder that does not exist is refused when training
  starts, not found out after the run."""
  eval_data = config.get('eval_data')
  if (eval_data is not None and eval_data.get('name') in IMAGE_SOURCES
      and not os.path.isdir(eval_data.path)):
    raise errors.ConfigError(
        f'config.eval_data.path={eval_data.path!r} is not a folder (it '
        'does not exist or is a file): evaluation would read it.')


def resolve_probe(config, num_classes: int) -> None:
  """Sets config.probe.enabled (None: whether the data has labels) in
  place, so the workdir records what ran; True without labels is an
  error."""
  enabled = config.probe.get('enabled')
  if enabled and not num_classes:
    raise errors.ConfigError(
        'config.probe.enabled=True needs labels, and the training data has '
        f'none (config.data.name={config.data.name!r}, '
        f'labels={config.data.get("labels")!r}). Set '
        'config.data.labels=subfolders or csv, or leave probe.enabled unset '
        '(None: on only with labels) or False.')
  if enabled is None:
    config.probe.enabled = bool(num_classes)
