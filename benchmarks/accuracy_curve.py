"""Accuracy against wall time: kNN and linear top-1 of every checkpoint.

  python benchmarks/demo_e2e.py --workdir W --out demo.jsonl -- \\
      --config.checkpoint.every_steps=468 --config.checkpoint.keep=100
  python benchmarks/accuracy_curve.py --demo_row demo.jsonl --out curve.jsonl

Reads a run that `demo_e2e.py` timed (its last row in --demo_row: the
workdir and when training started) and evaluates each checkpoint kept in the
workdir with the run's own kNN and linear-probe settings, without the pixel
baselines (they do not depend on the checkpoint: the demo's row has them).
A checkpoint's wall time is its directory's modification time (written when
the save finished) minus the training process's start, so it includes
start-up and compilation, as a user waits for them. Checkpointing every
epoch costs the run a few tenths of a second per save at the demo's size.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))

from ssl_jax import checkpoint  # pylint: disable=g-import-not-at-top
from ssl_jax import evaluate  # pylint: disable=g-import-not-at-top


def _last_row(path: str) -> dict:
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  if not rows or 'train_started_at' not in rows[-1]:
    sys.exit(f'{path}: no demo_e2e.py row with train_started_at in it.')
  return rows[-1]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--demo_row', required=True,
                      help='demo_e2e.py --out file; its last row is used.')
  parser.add_argument('--out', default=None)
  args = parser.parse_args()
  demo = _last_row(args.demo_row)
  workdir = demo['workdir']
  steps = checkpoint.manager(workdir, evaluate.load_config(workdir),
                             create=False).all_steps()
  if not steps:
    sys.exit(f'{workdir}: no checkpoints.')
  import machine  # pylint: disable=g-import-not-at-top
  for step in sorted(steps):
    config = evaluate.load_config(workdir)
    config.eval.pixel_baselines = False
    saved = os.path.getmtime(os.path.join(workdir, 'checkpoints', str(step)))
    features = evaluate.extract_features(workdir, config, step=step)
    results = evaluate.run(workdir, protocols=('knn', 'linear'),
                           config=config, write=False, features=features)
    machine.report({'config': demo['config'], 'overrides': demo['overrides'],
                    'step': step, 'total_steps': demo['steps'],
                    'train_wall_seconds': saved - demo['train_started_at'],
                    'knn_top1': results['knn_top1'],
                    'linear_top1': results['linear_top1'],
                    'best_pixel_baselines': demo['pixel_baselines']},
                   args.out)


if __name__ == '__main__':
  main()
