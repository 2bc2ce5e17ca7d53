"""The data-wait fraction of a real run on a folder of generated JPEGs.

  python benchmarks/folder_data_wait.py [--config configs/simclr_fashion_mnist.py]
      [--size 28] [--images 4096] [--steps 200] [--log_every 20]
      [--out rows.jsonl]

Writes `--images` grayscale JPEGs of `--size` px (smooth noise,
folder_images.py) into a temporary folder and pretrains the config on it
(`config.data.name=folder`; by default the demo's config: its ResNet,
batch 128, two 28 px crops) for `--steps` steps, as `python -m
ssl_jax.main` would. Reports the trainer's own `data_wait_fraction`
(metrics.DataWait: the share of each logging window's wall time that the
loop spent waiting for its next batch, the compile excluded) and the run's
images/s, from its train_metrics.jsonl and train_summary.json. On a CPU
the step and the decoding share the same cores.
"""

import json
import os
import sys
import tempfile

from absl import app
from absl import flags

from ssl_jax import config_lib
from ssl_jax import metrics

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import folder_images  # pylint: disable=g-import-not-at-top,wrong-import-position
import machine  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CONFIG = flags.DEFINE_string(
    'config', os.path.join(REPO, 'configs', 'simclr_fashion_mnist.py'),
    'Config file (optionally :preset).')
_SIZE = flags.DEFINE_integer('size', 28, 'Side of the square JPEGs.')
_IMAGES = flags.DEFINE_integer('images', 4096, 'JPEGs in the folder.')
_STEPS = flags.DEFINE_integer('steps', 200, 'Training steps.')
_LOG_EVERY = flags.DEFINE_integer('log_every', 20,
                                  'Steps per data-wait window.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON row here.')


def run(config_path: str, root: str, workdir: str, steps: int,
        log_every: int) -> dict:
  """Trains on the folder `root`; the data-wait fraction of each window."""
  from ssl_jax import train  # pylint: disable=g-import-not-at-top
  config = config_lib.load_file(config_path)
  config.data.name, config.data.path = 'folder', root
  config.total_epochs, config.total_steps = None, steps
  config.warmup_epochs, config.warmup_steps = None, max(steps // 10, 1)
  config.log_every_steps = log_every
  config.checkpoint.every_steps = steps  # One save, at the end.
  train.run(config, workdir)
  rows = metrics.read_jsonl(os.path.join(workdir, 'train_metrics.jsonl'))
  with open(os.path.join(workdir, 'train_summary.json'),
            encoding='utf-8') as f:
    summary = json.load(f)
  waits = [r['data_wait_fraction'] for r in rows]
  return {'data_wait_fraction_per_window': waits,
          'data_wait_fraction_mean': sum(waits) / len(waits),
          'images_per_second': summary['images_per_second'],
          'compile_seconds': summary['compile_seconds'],
          'batch_size': config.batch_size, 'steps': steps,
          'log_every_steps': log_every}


def main(argv):
  del argv
  load_before = os.getloadavg()[0]
  with tempfile.TemporaryDirectory() as root:
    images = os.path.join(root, 'images')
    os.makedirs(images)
    folder_images.write_images(images, _IMAGES.value, _SIZE.value,
                               _SIZE.value, '.jpg', channels=1)
    row = run(_CONFIG.value, images, os.path.join(root, 'run'),
              _STEPS.value, _LOG_EVERY.value)
  row.update(config=os.path.relpath(_CONFIG.value, REPO),
             image_size=_SIZE.value, images=_IMAGES.value,
             load_average_before=load_before,
             load_average_after=os.getloadavg()[0])
  machine.report(row, _OUT.value)


if __name__ == '__main__':
  app.run(main)
