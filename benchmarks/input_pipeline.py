"""Input-pipeline throughput alone (host tf.data: gather, crops, batch).

  python benchmarks/input_pipeline.py --config configs/simclr_fashion_mnist.py \
      [--batches 200] [--out results.jsonl]

Reports images/s that the host can feed, to compare with the train step's
images/s (step_throughput.py): the step is input-bound if this is lower.
"""

import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from ssl_jax import train

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_BATCHES = flags.DEFINE_integer('batches', 200, 'Timed batches.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON row here.')


def measure(config, batches: int) -> dict:
  p = train.plan(config)
  t0 = time.perf_counter()
  stream = train.train_stream(p, config, 0)
  next(stream)  # Start-up: loading the split, building the graph.
  startup = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(batches):
    next(stream)
  seconds = time.perf_counter() - t0
  return {'dataset': config.data.name, 'in_memory': config.data.in_memory,
          'views': len(p.method.views), 'batch_size': config.batch_size,
          'batches': batches, 'startup_seconds': startup,
          'images_per_second': batches * config.batch_size / seconds}


def main(argv):
  del argv
  config = _CONFIG.value
  with config.unlocked():
    config.total_steps, config.total_epochs = 10**6, None
  row = measure(config, _BATCHES.value)
  machine.report(row, _OUT.value)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
