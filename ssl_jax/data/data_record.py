"""The workdir's record of the image files a run trained on: `data.json`.

A folder's contents can change between a run and its resume (files added,
removed, relabelled) while every config value stays the same; the stream
would then silently be another one (its permutation is over N files). The
first run of a workdir writes the source's fingerprint (folder.py) here; a
resume on other files is refused, naming both fingerprints and counts,
unless `--config.data.allow_changed=True`, which records the new one with
the step it started at. tfds datasets are versioned by tfds and have no
record.
"""

import json
import os

import jax

from ssl_jax import errors
from ssl_jax.data import image_source
from ssl_jax.data import sources

FILE = 'data.json'


def _entry(source, step: int) -> dict:
  return {'step': step, 'name': source.name, 'fingerprint':
          source.fingerprint, 'num_examples': source.num_examples,
          'num_classes': source.num_classes}


def read(workdir: str) -> dict | None:
  path = os.path.join(workdir, FILE)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise errors.UserError(f'{path} is not valid JSON ({e}): restore it, '
                           'or use another --workdir.') from None


def split_info(workdir: str, config):
  """The training SplitInfo of a workdir that ran on image files, from
  its record (None otherwise): evaluation and export rebuild the model
  without listing, or even having, the training images."""
  recorded = read(workdir)
  if recorded is None or not image_source.is_image_source(config.data):
    return None
  last = recorded['runs'][-1]
  return sources.SplitInfo(
      name=last['name'], split='train', num_examples=last['num_examples'],
      image_shape=(None, None, len(config.data.mean)),
      num_classes=last['num_classes'])


def check(workdir: str, source, data_config,
          checkpoint_step: int | None) -> bool:
  """Raises ConfigError when the workdir trained on other files (and holds
  a checkpoint) unless data_config.allow_changed; returns whether the
  files changed. Writes nothing."""
  recorded = read(workdir)
  if recorded is None or checkpoint_step is None:
    return False
  last = recorded['runs'][-1]
  if last['fingerprint'] == source.fingerprint:
    return False
  if not data_config.get('allow_changed', False):
    raise errors.ConfigError(
        f'{workdir} holds a run at step {checkpoint_step} on other files: '
        f'{FILE} records {last["num_examples"]} images (fingerprint '
        f'{last["fingerprint"]}), {source.summary()} now has '
        f'{source.num_examples} (fingerprint {source.fingerprint}): files '
        'were added, removed, replaced or relabelled. Restore them, use '
        'another --workdir, or add --config.data.allow_changed=True to '
        'continue on these files (the stream changes from the resumed '
        'step on).')
  return True


def record(workdir: str, source, start_step: int) -> None:
  """Writes the first record, or appends a changed fingerprint."""
  if jax.process_index() > 0:
    return
  recorded = read(workdir) if start_step else None
  runs = recorded['runs'] if recorded else []
  if runs and runs[-1]['fingerprint'] == source.fingerprint:
    return
  runs.append(_entry(source, start_step))
  path = os.path.join(workdir, FILE)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump({'runs': runs}, f, indent=2)
  os.replace(path + '.tmp', path)
