"""Where evaluation reads its images: `config.eval_data`, else `config.data`.

The usual workflow pretrains on many unlabelled images and evaluates on a
small labelled set, so evaluation may read another source than training:
`config.eval_data.name` = 'folder' or 'packed' (path, labels as for
config.data; split into a train and a test part, `test_fraction` of each
class, seeded) or a tfds name (its train_split / eval_split). Unset, the
training data is evaluated: a tfds dataset as always, a folder or packed
set split as above.

An unlabelled source still gives features: the label-free protocols run
(diagnostics; the report's uncoloured map and retrieval grid) and the
others are named as needing labels.
"""

import dataclasses

import ml_collections
import numpy as np

from ssl_jax.data import image_source
from ssl_jax.data import sources

# Protocols that score predictions against labels.
NEED_LABELS = ('knn', 'linear', 'fewshot', 'finetune')
TRAIN, TEST = 'train', 'test'  # The parts of a folder or packed set.


@dataclasses.dataclass
class EvalData:
  """The evaluation images: a tfds builder, or arrays by split."""
  name: str
  train_split: str
  eval_split: str
  builder: object  # A tfds builder, or None when `arrays` holds all.
  arrays: dict  # split -> (uint8 images, int32 labels), when in memory.
  num_classes: int
  class_names: list | None
  labelled: bool
  description: str


def _split(labels: np.ndarray, fraction: float, seed: int = 0):
  """(train, test) indices: `fraction` of each class (at least one while a
  class has two or more) is the test part; all of an unlabelled source is
  one class."""
  rng = np.random.default_rng(seed)
  test = []
  for c in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == c))
    count = int(round(fraction * len(members)))
    test.extend(members[:max(count, 1 if len(members) > 1 else 0)])
  test = np.sort(np.asarray(test, np.int64))
  return np.setdiff1d(np.arange(len(labels)), test), test


def _from_files(data_config, key, image_size, channels, fraction):
  source = image_source.open_source(data_config, key)
  images, labels = source.eval_arrays(image_size, channels)
  train, test = _split(labels, fraction)
  names = list(source.class_names) or None
  return EvalData(
      name=source.name, train_split=TRAIN, eval_split=TEST, builder=None,
      arrays={TRAIN: (images[train], labels[train]),
              TEST: (images[test], labels[test])},
      num_classes=source.num_classes, class_names=names,
      labelled=source.num_classes > 0,
      description=(f'{source.summary()}; {len(train)} train + {len(test)} '
                   f'test ({fraction:.0%} of each class)'))


def _from_tfds(data_config, key, channels, in_memory=True, builder=None):
  builder = builder or sources.get_builder(data_config)
  infos = [sources.split_info(builder, data_config[s])
           for s in ('train_split', 'eval_split')]
  if infos[0].image_shape[-1] != channels:
    raise sources.DatasetError(
        f'config.{key}.name={data_config.name!r} has '
        f'{infos[0].image_shape[-1]}-channel images; the model reads '
        f'{channels} (config.data.mean has {channels} values).')
  fixed = None not in infos[0].image_shape
  arrays = ({i.split: sources.load_in_memory(builder, i.split)
             for i in infos} if in_memory and fixed else {})
  names = getattr(builder.info.features['label'], 'names', None)
  return EvalData(
      name=data_config.name, train_split=infos[0].split,
      eval_split=infos[1].split, builder=builder, arrays=arrays,
      num_classes=infos[0].num_classes, class_names=list(names or []) or None,
      labelled=True, description=f'{infos[0].name} ({infos[0].split} and '
      f'{infos[1].split})')


def resolve(config, builder=None) -> EvalData:
  """The evaluation source of a run's config (DatasetError if unusable);
  `builder`: config.data's, already prepared (train.plan)."""
  channels = len(config.data.mean)
  image_size = config.data.image_size
  eval_config = config.get('eval_data')
  if eval_config is not None and eval_config.get('name'):
    if image_source.is_image_source(eval_config):
      return _from_files(eval_config, 'eval_data', image_size, channels,
                         eval_config.test_fraction)
    tfds_config = ml_collections.ConfigDict(dict(
        name=eval_config.name, data_dir=eval_config.get('data_dir'),
        train_split=eval_config.train_split,
        eval_split=eval_config.eval_split))
    return _from_tfds(tfds_config, 'eval_data', channels)
  if image_source.is_image_source(config.data):
    fraction = (eval_config or {}).get('test_fraction', 0.2)
    return _from_files(config.data, 'data', image_size, channels, fraction)
  return _from_tfds(config.data, 'data', channels,
                    in_memory=config.data.in_memory, builder=builder)


def of_plan(config, plan) -> EvalData:
  """config.data's splits as the plan has them: for Features made without
  an EvalData (by hand, in tests)."""
  names = plan.builder and getattr(
      plan.builder.info.features['label'], 'names', None)
  return EvalData(
      name=config.data.name, train_split=config.data.train_split,
      eval_split=config.data.eval_split, builder=plan.builder, arrays={},
      num_classes=plan.num_classes, class_names=list(names or []) or None,
      labelled=True, description=config.data.name)


def split_protocols(protocols, labelled: bool):
  """(protocols that can run, those that need labels the data lacks)."""
  if labelled:
    return tuple(protocols), ()
  skipped = tuple(p for p in protocols if p in NEED_LABELS)
  runnable = tuple(p for p in protocols if p not in NEED_LABELS)
  return runnable or ('diagnostics',), skipped
