"""XLA TPU's compile-time estimates for every ImageNet config (no TPU).

  python benchmarks/tpu_aot.py [--only simclr,mae_l_fsdp] [--out rows.jsonl]
      [--table docs/tpu.md]

For each row below, `ssl_jax.aot` compiles the config's real train step,
the backbone's forward + backward alone on the same views, and the device
augmentation and masks alone, for a TPU
slice described by libtpu, on this machine, and appends both reports to
--out (one JSON line per program; rows already there are kept and not
compiled again, so an interrupted run continues). Then it writes the
markdown tables between the `<!-- tpu-aot -->` and `<!-- tpu-fsdp -->`
markers of --table (rows not in --out keep their lines there).

Every time, rate and MFU is XLA TPU's cost-model estimate at compile
time, not a measurement. Each compile runs in its own process (a
ResNet-50 step takes 2-4 min on 2 cores; programs are large).
"""

import dataclasses
import json
import os
import subprocess
import sys

from absl import app
from absl import flags

import doc_blocks

_ONLY = flags.DEFINE_list('only', None, 'Row names to run (default all).')
_OUT = flags.DEFINE_string(
    'out', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                        'tpu_aot_rows.jsonl'),
    'JSON lines file (the committed reports by default).')
_TABLE = flags.DEFINE_string('table', None,
                             'Markdown file whose tpu-aot block is replaced.')
_WHAT = flags.DEFINE_list('what', ['train', 'backbone', 'augment'],
                          'Programs.')


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  config: str
  topology: str
  per_chip: int  # Images per chip: the paper's per-device batch.
  overrides: tuple = ()
  note: str = ''


# Per-chip batches are the per-device batches of each paper's own run:
# SimCLR, MAE and BYOL-style 4096-image runs on 64 TPU chips or GPUs = 64;
# DINO 16 GPUs x 64; Barlow Twins / VICReg 2048 on 32 GPUs = 64; SimSiam
# 8 GPUs x 64; I-JEPA 16 GPUs x 128. data2vec 2.0's own run is 16 GPUs x
# 16 images (x 16 masked clones each); it is compiled at 64 per chip here,
# like the others, where a TPU chip is well fed. LeJEPA's launch scripts give
# the global batch (512) but not the GPU count: 64 per chip too.
ROWS = (
    Row('simclr', 'configs/simclr_imagenet.py', 'v5p:2x2x1', 64),
    Row('simclr_s2d', 'configs/simclr_imagenet.py', 'v5p:2x2x1', 64,
        ('--config.backbone.space_to_depth_stem=True',),
        'space-to-depth stem'),
    Row('moco_v3', 'configs/moco_v3_imagenet.py', 'v5p:2x2x1', 64),
    Row('moco_v3_vit', 'configs/moco_v3_imagenet.py:backbone=vit',
        'v5p:2x2x1', 64),
    Row('byol', 'configs/byol_imagenet.py', 'v5p:2x2x1', 64),
    Row('simsiam', 'configs/simsiam_imagenet.py', 'v5p:2x2x1', 64),
    Row('barlow_twins', 'configs/barlow_twins_imagenet.py', 'v5p:2x2x1', 64),
    Row('vicreg', 'configs/vicreg_imagenet.py', 'v5p:2x2x1', 64),
    # The ResNet-50 methods with their state (parameters, optimizer, EMA
    # teacher) sharded over the slice's 4 chips: the large heads and
    # teachers are then read and updated a quarter per chip.
    Row('simclr_fsdp4', 'configs/simclr_imagenet.py', 'v5p:2x2x1', 64,
        ('--config.parallel.mesh_fsdp=4',), 'state sharded over 4 chips'),
    Row('byol_fsdp4', 'configs/byol_imagenet.py', 'v5p:2x2x1', 64,
        ('--config.parallel.mesh_fsdp=4',), 'state sharded over 4 chips'),
    Row('moco_v3_fsdp4', 'configs/moco_v3_imagenet.py', 'v5p:2x2x1', 64,
        ('--config.parallel.mesh_fsdp=4',), 'state sharded over 4 chips'),
    Row('barlow_twins_fsdp4', 'configs/barlow_twins_imagenet.py', 'v5p:2x2x1',
        64, ('--config.parallel.mesh_fsdp=4',), 'state sharded over 4 chips'),
    Row('vicreg_fsdp4', 'configs/vicreg_imagenet.py', 'v5p:2x2x1', 64,
        ('--config.parallel.mesh_fsdp=4',), 'state sharded over 4 chips'),
    # SimCLR's 4096 batch on 16 chips (256 per chip) instead of 64, and
    # BYOL's the same with its state sharded: per-step costs spread wider.
    Row('simclr_256', 'configs/simclr_imagenet.py', 'v5p:2x2x1', 256,
        note='256 per chip: the 4096 batch on 16 chips'),
    Row('byol_256_fsdp4', 'configs/byol_imagenet.py', 'v5p:2x2x1', 256,
        ('--config.parallel.mesh_fsdp=4',),
        '256 per chip, state sharded over 4 chips'),
    Row('dino', 'configs/dino_imagenet.py', 'v5p:2x2x1', 64),
    Row('dinov2', 'configs/dinov2_imagenet.py', 'v5p:2x2x1', 64,
        note='ViT-L/16; 64 per chip as the official per-GPU batch'),
    Row('swav', 'configs/swav_imagenet.py', 'v5p:2x2x1', 64),
    Row('mae', 'configs/mae_imagenet.py', 'v5p:2x2x1', 64),
    # The paper's per-GPU batch leaves a 95 GB v5p chip underfed (11 GB):
    # the same 4096-image global batch on 16 chips instead of 64.
    Row('mae_256', 'configs/mae_imagenet.py', 'v5p:2x2x1', 256,
        note='256 per chip: the 4096 batch on 16 chips'),
    Row('mae_256_fsdp4', 'configs/mae_imagenet.py', 'v5p:2x2x1', 256,
        ('--config.parallel.mesh_fsdp=4',),
        '256 per chip, state sharded over 4 chips'),
    Row('ijepa', 'configs/ijepa_imagenet.py', 'v5p:2x2x1', 128),
    Row('data2vec', 'configs/data2vec_imagenet.py', 'v5p:2x2x1', 64,
        note='64 per chip; the official run: 16 per GPU'),
    Row('lejepa', 'configs/lejepa_imagenet.py', 'v5p:2x2x1', 64,
        note='ViT-L/14; 64 per chip (the official batch: 512)'),
    # The two large ViTs on a 64-chip slice, data-parallel and with FSDP.
    Row('mae_l_dp', 'configs/mae_imagenet.py', 'v5p:4x4x4', 64,
        ('--config.parallel.mesh_fsdp=1',), 'ViT-L, data parallel'),
    Row('mae_l_fsdp8', 'configs/mae_imagenet.py', 'v5p:4x4x4', 64,
        ('--config.parallel.mesh_fsdp=8',), 'ViT-L, FSDP over 8'),
    Row('mae_l_fsdp64', 'configs/mae_imagenet.py', 'v5p:4x4x4', 64,
        ('--config.parallel.mesh_fsdp=64',), 'ViT-L, FSDP over 64'),
    Row('dino_b_dp', 'configs/dino_imagenet.py', 'v4:4x4x4', 32,
        ('--config.backbone.variant=base', '--config.parallel.mesh_fsdp=1'),
        'ViT-B/16, data parallel'),
    Row('dino_b_fsdp16', 'configs/dino_imagenet.py', 'v4:4x4x4', 32,
        ('--config.backbone.variant=base', '--config.parallel.mesh_fsdp=16'),
        'ViT-B/16, FSDP over 16'),
)


def _chips(topology: str) -> int:
  dims = [int(d) for d in topology.split(':')[1].split('x')]
  count = 1
  for d in dims:
    count *= d
  return count


def _done(path: str) -> set:
  if not os.path.exists(path):
    return set()
  with open(path) as f:
    return {(r['row'], r['what']) for r in map(json.loads, f) if 'row' in r}


def compile_row(row: Row, what: str, out: str) -> None:
  """One program of one row, in a subprocess; appends its JSON line."""
  tmp = f'{out}.{row.name}.{what}.json'
  batch = row.per_chip * _chips(row.topology)
  cmd = [sys.executable, '-m', 'ssl_jax.aot', f'--config={row.config}',
         f'--topology={row.topology}', f'--what={what}', f'--out={tmp}',
         f'--config.batch_size={batch}', *row.overrides]
  print('$', ' '.join(cmd), flush=True)
  result = subprocess.run(cmd, capture_output=True, text=True, check=False)
  report = {'row': row.name, 'what': what, 'note': row.note,
            'command': ' '.join(cmd[1:])}
  if result.returncode == 0:
    with open(tmp) as f:
      report.update(json.load(f))
    os.remove(tmp)
  else:
    fatal = [l for l in result.stderr.splitlines() if 'FATAL' in l]
    report['error'] = (fatal or result.stderr.splitlines()[-1:])[-1]
  print(report.get('error') or result.stdout, flush=True)
  with open(out, 'a') as f:
    f.write(json.dumps(report) + '\n')


def _ms(s):
  return f'{1e3 * s:.1f}' if s else 'unavailable'


def _ratio(a: dict, b: dict, percent: bool = False) -> str:
  """a's step time over b's, both XLA's estimate or, where either has
  none, both rooflines (so a ratio never mixes the two)."""
  if not a.get('roofline_step_seconds') or not b.get('roofline_step_seconds'):
    return 'n/a'
  key = ('xla_estimated_step_seconds'
         if a['xla_estimated_step_seconds'] and b['xla_estimated_step_seconds']
         else 'roofline_step_seconds')
  note = '' if key.startswith('xla') else ' (roofline)'
  value = a[key] / b[key]
  return (f'{100 * value:.1f}%' if percent else f'{value:.2f}x') + note


def table(rows: list[dict]) -> str:
  """The markdown table: one line per config, step beside backbone."""
  by = {(r['row'], r['what']): r for r in rows}
  lines = [
      '| config | slice, mesh | img/chip | GB/chip | est. ms/step | '
      'est. img/s/chip | est. MFU | backbone alone: ms, MFU | step / '
      'backbone | aug. + masks / step | roofline ms (bound) |',
      '|---|---|---|---|---|---|---|---|---|---|---|']
  for row in ROWS:
    r = by.get((row.name, 'train'))
    if r is None:
      continue
    name = row.name + (f' ({row.note})' if row.note else '')
    if 'error' in r:
      lines.append(f'| {name} | {row.topology} | {row.per_chip} | '
                   f"{r['error']} |  |  |  |  |  |  |  |")
      continue
    b = by.get((row.name, 'backbone'), {})
    a = by.get((row.name, 'augment'), {})
    mem = r['memory_per_chip_bytes']['total'] / 1e9
    backbone = (f"{_ms(b['step_seconds_used'])}, {100 * b['mfu']:.0f}%"
                if b.get('step_seconds_used') else 'n/a')
    est = _ms(r['xla_estimated_step_seconds'])
    lines.append(
        f"| {name} | {row.topology}, {r['mesh']['data']}x"
        f"{r['mesh']['fsdp']} | {row.per_chip} | {mem:.1f} | {est} | "
        f"{r['images_per_second_per_chip']:.0f} | {100 * r['mfu']:.1f}% | "
        f"{backbone} | {_ratio(r, b)} | {_ratio(a, r, percent=True)}"
        f" | {_ms(r['roofline_step_seconds'])} ({r['roofline_bound']}) |")
  return '\n'.join(lines)


# The rows that show per-chip memory falling with mesh_fsdp.
FSDP_ROWS = ('mae_l_dp', 'mae_l_fsdp8', 'mae_l_fsdp64', 'dino_b_dp',
             'dino_b_fsdp16')


def fsdp_table(rows: list[dict]) -> str:
  """Per-chip memory of the large ViTs, data-parallel against FSDP."""
  by = {r['row']: r for r in rows
        if r.get('what') == 'train' and 'error' not in r}
  lines = ['| config | slice, mesh | arguments GiB/chip | vs data-parallel '
           '| total GiB/chip (of HBM) | est. ms/step | est. MFU |',
           '|---|---|---|---|---|---|---|']
  for name in FSDP_ROWS:
    r = by.get(name)
    if r is None:
      continue
    note = next(row.note for row in ROWS if row.name == name)
    dp = by.get(name.split('_fsdp')[0].replace('_dp', '') + '_dp', r)
    mem, dp_mem = r['memory_per_chip_bytes'], dp['memory_per_chip_bytes']
    lines.append(
        f"| {note} | {r['topology']}, {r['mesh']['data']}x"
        f"{r['mesh']['fsdp']} | {mem['arguments'] / 2**30:.2f} | "
        f"{mem['arguments'] / dp_mem['arguments']:.2f}x | "
        f"{mem['total'] / 2**30:.1f} ({100 * mem['fraction_of_hbm']:.0f}%) | "
        f"{_ms(r['xla_estimated_step_seconds'])} | {100 * r['mfu']:.1f}% |")
  return '\n'.join(lines)


def main(argv):
  del argv
  rows = [r for r in ROWS if not _ONLY.value or r.name in _ONLY.value]
  done = _done(_OUT.value)
  for row in rows:
    for what in _WHAT.value:
      if (row.name, what) not in done:
        compile_row(row, what, _OUT.value)
  with open(_OUT.value) as f:
    reports = [json.loads(line) for line in f]
  text, fsdp = table(reports), fsdp_table(reports)
  print(text, fsdp, sep='\n\n')
  if _TABLE.value:
    # Rows not in --out keep their lines (a rerun of some rows).
    names = [r.name + (f' ({r.note})' if r.note else '') for r in ROWS]
    notes = [r.note for r in ROWS if r.name in FSDP_ROWS]
    for marker, new, order in (('tpu-aot', text, names),
                               ('tpu-fsdp', fsdp, notes)):
      old = doc_blocks.read_block(_TABLE.value, marker)
      doc_blocks.write_block(_TABLE.value, marker,
                             doc_blocks.merge_table_rows(old, new, order))


if __name__ == '__main__':
  app.run(main)
