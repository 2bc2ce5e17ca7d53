"""Runs (or collects) every method on Fashion-MNIST and writes README's table.

  python benchmarks/results_table.py [--root workdirs/results] \
      [--methods simclr,byol] [--set total_epochs=1 ...] [--collect-only] \
      [--readme README.md] [--block results-table]

For each registered method with a `configs/<method>_fashion_mnist.py`, trains
its default config in `<root>/<method>` through the CLI (timed), evaluates it
(kNN, linear, few-shot, diagnostics), and rewrites the table between the
`<!-- results-table -->` markers in README.md, with the machine: the pixel
baselines as rows and, per method, whether it beats the best of them. A workdir
that already holds an evaluation is collected, not retrained, unless
--rerun. Numbers vary run to run by the noise stated under the table
(different hardware changes wall times, not accuracies, beyond that noise).
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
sys.path.insert(0, REPO)

PROTOCOLS = 'knn,linear,fewshot,diagnostics'


def _run(args) -> float:
  t0 = time.perf_counter()
  subprocess.run([sys.executable, '-m', *args], cwd=REPO, check=True)
  return time.perf_counter() - t0


def run_method(method: str, root: str, rerun: bool,
               collect_only: bool, overrides=()) -> dict | None:
  """Trains + evaluates one method (or reads its earlier results)."""
  config = os.path.join(REPO, 'configs', f'{method}_fashion_mnist.py')
  workdir = os.path.join(root, method)
  results_path = os.path.join(workdir, 'eval', 'results.json')
  timing_path = os.path.join(workdir, 'timing.json')
  if rerun or not os.path.exists(results_path):
    if collect_only:
      return None
    if rerun and os.path.exists(workdir):
      subprocess.run(['rm', '-rf', workdir], check=True)
    train_s = _run(['ssl_jax.main', f'--config={config}',
                    f'--workdir={workdir}',
                    *(f'--config.{kv}' for kv in overrides)])
    eval_s = _run(['ssl_jax.evaluate', f'--workdir={workdir}',
                   f'--protocols={PROTOCOLS}'])
    with open(timing_path, 'w') as f:
      json.dump({'train_seconds': train_s, 'eval_seconds': eval_s}, f)
  with open(results_path) as f:
    results = json.load(f)
  with open(os.path.join(workdir, 'config.json')) as f:
    cfg = json.load(f)
  timing = {}
  if os.path.exists(timing_path):
    with open(timing_path) as f:
      timing = json.load(f)
  return {'method': method, 'results': results, 'config': cfg,
          'timing': timing}


def _backbone(cfg: dict) -> str:
  b = cfg['backbone']
  if b['name'] == 'resnet':
    return f"ResNet-{b['depth']} ×{b['width']:g}"
  if b['name'] == 'vit':
    return f"ViT d{b['dim']}×{b['depth']} /{b['patch_size']}"
  return b['name']


def _epochs(cfg: dict, results: dict) -> str:
  if cfg.get('total_epochs'):
    return f"{cfg['total_epochs']:g}"
  return f"{results['step']} steps"


def _beats(r: dict) -> str:
  """The column 'beats best pixel baseline': yes/no with the margins."""
  m = r.get('margin_over_best_pixel_baseline')
  if not m or 'knn_top1' not in m or 'linear_top1' not in m:
    return '—'
  verdict = 'yes' if m['knn_top1'] > 0 and m['linear_top1'] > 0 else 'no'
  return f"{verdict} (kNN {m['knn_top1']:+.1f}, linear {m['linear_top1']:+.1f})"


def table(rows: list[dict]) -> str:
  head = ('| method | backbone | epochs | train wall time | kNN top-1 | '
          'linear top-1 | 5-shot | RankMe | beats best pixel baseline |\n'
          '|---|---|---|---|---|---|---|---|---|')
  lines = [head]
  baselines = {}
  for row in rows:
    r, cfg, t = row['results'], row['config'], row['timing']
    baselines = r.get('baselines', baselines)
    wall = (f"{t['train_seconds'] / 60:.1f} min" if t.get('train_seconds')
            else '—')
    # Rows read another way than pooled say so (config.eval.readout).
    readout = ', map readout' if r.get('readout') == 'map' else ''
    lines.append(
        f"| {row['method']} | {_backbone(cfg)}{readout} | {_epochs(cfg, r)} "
        f"| {wall} "
        f"| {r['knn_top1']:.4f} | {r['linear_top1']:.4f} "
        f"| {r.get('fewshot_5shot_top1_mean', float('nan')):.4f} "
        f"| {r.get('diagnostics', {}).get('rankme', float('nan')):.1f} "
        f"| {_beats(r)} |")
  for b in baselines.values():  # Pixel baselines: the rows to beat.
    knn_cell, linear_cell = ((f"{b['top1']:.4f}", '—') if b['protocol'] ==
                             'knn' else ('—', f"{b['top1']:.4f}"))
    lines.append(f"| baseline: {b['label']} | — | — | — | {knn_cell} | "
                 f"{linear_cell} | — | — | — |")
  return '\n'.join(lines)


def main():
  from ssl_jax import methods  # pylint: disable=g-import-not-at-top
  import doc_blocks  # pylint: disable=g-import-not-at-top
  import machine  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default=os.path.join(REPO, 'workdirs',
                                                     'results'))
  parser.add_argument('--methods', default=None)
  parser.add_argument('--rerun', action='store_true')
  parser.add_argument('--set', action='append', default=[],
                      metavar='KEY=VALUE',
                      help='Config override for every method (e.g. '
                      'total_epochs=1: a shorter table; its epochs column '
                      'says so).')
  parser.add_argument('--collect-only', action='store_true')
  parser.add_argument('--readme', default=os.path.join(REPO, 'README.md'))
  parser.add_argument('--block', default='results-table',
                      help='The markers whose table is rewritten (another '
                      'block holds a table of methods run on another day).')
  args = parser.parse_args()
  names = (args.methods.split(',') if args.methods else
           [m for m in methods.available() if os.path.exists(
               os.path.join(REPO, 'configs', f'{m}_fashion_mnist.py'))])
  rows = [r for m in names
          if (r := run_method(m, args.root, args.rerun, args.collect_only,
                              args.set))]
  m = machine.describe()
  # Methods not run this time keep their rows from the block's earlier
  # runs (a table of ten methods at their default epochs takes hours).
  order = list(methods.available())  # The baselines' rows stay last.
  old = doc_blocks.read_block(args.readme, args.block).split('\n\nMachine:')[0]
  new = table(rows)
  merged = doc_blocks.merge_table_rows(old, new, order)
  text = (merged + f"\n\nMachine: {m['cpu']}, {m['cpu_cores']} cores, "
          f"{m['platform']}, jax {m['jax']}; table written "
          f"{time.strftime('%Y-%m-%d')} by benchmarks/results_table.py"
          + (' (rows of methods not run this time kept from earlier runs).'
             if len(merged.splitlines()) > len(new.splitlines())
             else '.'))
  print(text)
  doc_blocks.write_block(args.readme, args.block, text)


if __name__ == '__main__':
  main()
