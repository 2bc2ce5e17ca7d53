"""The end-to-end demo, timed: pretrain, evaluate and report through the CLIs.

  python benchmarks/demo_e2e.py [--workdir W] [--out results.jsonl] \
      [-- --config.x=y ...]

Runs exactly what `bash launch/demo.sh` runs (without set-up), in a fresh
workdir, and records wall times, kNN / linear accuracies, the pixel
baselines (evals/pixels.py), the features' margin over the best of them, and
the machine. The demo's goal (issue 19): under 15 minutes on a 2-core CPU,
with kNN and linear top-1 3 points above the best pixel baseline.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))


def _timed(args) -> float:
  t0 = time.perf_counter()
  subprocess.run([sys.executable, '-m', *args], cwd=REPO, check=True)
  return time.perf_counter() - t0


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default=None)
  parser.add_argument('--config',
                      default=os.path.join(REPO, 'configs',
                                           'simclr_fashion_mnist.py'))
  parser.add_argument('--out', default=None)
  args, overrides = parser.parse_known_args()
  overrides = [o for o in overrides if o != '--']
  workdir = args.workdir or tempfile.mkdtemp(prefix='ssl_jax_demo_')
  if os.path.exists(workdir):
    shutil.rmtree(workdir)
  train_started_at = time.time()  # accuracy_curve.py times checkpoints.
  train_s = _timed(['ssl_jax.main', f'--config={args.config}',
                    f'--workdir={workdir}', *overrides])
  eval_s = _timed(['ssl_jax.evaluate', f'--workdir={workdir}',
                   '--protocols=knn,linear,fewshot,diagnostics'])
  report_s = _timed(['ssl_jax.report', f'--workdir={workdir}'])
  with open(os.path.join(workdir, 'eval', 'results.json')) as f:
    results = json.load(f)
  with open(os.path.join(workdir, 'train_summary.json')) as f:
    summary = json.load(f)
  import machine  # pylint: disable=g-import-not-at-top
  margin = results['margin_over_best_pixel_baseline']
  row = {'config': os.path.relpath(args.config, REPO),
         'overrides': overrides, 'workdir': workdir,
         'train_started_at': train_started_at, 'train_seconds': train_s,
         'eval_seconds': eval_s, 'report_seconds': report_s,
         'total_seconds': train_s + eval_s + report_s,
         'train_images_per_second': summary['images_per_second'],
         'compile_seconds': summary['compile_seconds'],
         'steps': summary['total_steps'],
         **{k: results[k] for k in ('knn_top1', 'linear_top1',
                                    'fewshot_5shot_top1_mean')},
         'rankme': results['diagnostics']['rankme'],
         'pixel_baselines': {name: b['top1'] for name, b in
                             results['baselines'].items()},
         'pixel_baseline_seconds': {
             name: entry.get('pixel_baseline_seconds')
             for name, entry in results['protocols'].items()
             if 'pixel_baseline_seconds' in entry},
         'margin_over_best_pixel_baseline': margin,
         'beats_best_pixel_baseline': margin['knn_top1'] > 0 and margin[
             'linear_top1'] > 0}
  machine.report(row, args.out)


if __name__ == '__main__':
  main()
