"""One process of a multi-process read of a folder's training stream.

  python tests/data/folder_shard_reader.py --folder=DIR --out=ROWS.json \
      --coordinator_address=127.0.0.1:PORT --num_processes=2 --process_id=I

Starts like the pretraining CLI (cli_flags.initialize: jax.distributed on
loopback), plans the SimCLR smoke config on the folder (`train.plan`, which
lists the folder) and reads this process's part of the first global
batches through `train.train_dataset`, the trainer's own input, whose shard
is (jax.process_index(), jax.process_count()). Writes, per step, which
file each row holds and a digest of its crops. No step is compiled: the
input is all that the shard assignment touches, and a process start plus a
compile would cost a minute here (tests/test_multiprocess.py).
"""

import hashlib
import json
import os

from absl import app
from absl import flags

from ssl_jax import cli_flags
from ssl_jax import config_lib

STEPS = 3


def folder_config(path: str):
  """The SimCLR smoke config on `path`: batch 8, STEPS steps."""
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  config = config_lib.load_file(
      os.path.join(repo, 'configs', 'simclr_fashion_mnist.py') + ':smoke')
  config.data.name, config.data.path = 'folder', path
  config.batch_size, config.total_steps, config.warmup_steps = 8, STEPS, 1
  return config


def rows_read(config) -> list[dict]:
  """Per step of this process's stream: the file index each row holds
  (its first readable candidate), its position in the global batch, and a
  digest of its crops."""
  from ssl_jax import train  # pylint: disable=g-import-not-at-top
  p = train.plan(config)
  steps = []
  for batch in train.train_dataset(p, config, 0).as_numpy_iterator():
    files = [int(t[k]) for t, k in zip(batch['tried'], batch['skipped'])]
    crops = [hashlib.sha256(b''.join(batch[v][r].tobytes()
                                     for v in sorted(batch)
                                     if v.startswith('view'))).hexdigest()
             for r in range(len(files))]
    steps.append({'files': files, 'seed_id': batch['seed_id'].tolist(),
                  'crops': crops})
  return steps


def main(argv):
  del argv
  cli_flags.initialize()
  # jax after initialize(): it set the devices and the processes up.
  import jax  # pylint: disable=g-import-not-at-top
  rows = rows_read(folder_config(flags.FLAGS.folder))
  with open(flags.FLAGS.out, 'w', encoding='utf-8') as f:
    json.dump({'process_index': jax.process_index(),
               'process_count': jax.process_count(), 'steps': rows}, f)


if __name__ == '__main__':
  # Defined here, not at import: test_multiprocess.py imports this module
  # into a pytest worker whose other modules define their own --out.
  flags.DEFINE_string('folder', None, 'The folder of images.')
  flags.DEFINE_string('out', None, 'Where the rows go (JSON).')
  flags.mark_flags_as_required(['folder', 'out'])
  app.run(main)
