"""Host CPU cores a TPU v5p host (4 chips) needs to feed each ImageNet
config from image files.

  python benchmarks/host_cores.py [--only simclr,dino] [--images 256]
      [--batches 8] [--out rows.jsonl]

For each config of docs/tpu.md's table on `v5p:2x2x1` (one host, 4 chips):
its crops (the method's views: two 224 px for most, DINO's two 224 px and
eight 96 px, one 224 px for MAE, I-JEPA and data2vec) are timed on this
machine's one core on ImageNet-sized JPEGs (500x375, folder_images.py:
read, decode, crops, batch, as image_stream.py does on the host; colour
augmentation and masks run on the chips), and the table's images/s per
chip is read. Cores = 4 x (images/s per chip) / (images per CPU-second of
the one tf.data thread): on a busy machine the thread waits for a core,
so the rate per wall second (shown too, in brackets) understates what a
core of its own does. The chips' rate is XLA TPU's compile-time estimate,
not a measurement. Prints a markdown table.
"""

import json
import os
import sys
import tempfile

from absl import app
from absl import flags

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax.data import views as views_lib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import folder_images  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOPOLOGY, CHIPS = 'v5p:2x2x1', 4  # One v5p host.
RATE_COLUMN = 'est. img/s/chip'
_ONLY = flags.DEFINE_list('only', None, 'Configs to run (default all).')
_IMAGES = flags.DEFINE_integer('images', 256, 'JPEGs in the folder.')
_BATCHES = flags.DEFINE_integer('batches', 8, 'Timed batches of 64.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON rows here.')


def chip_rates(doc: str) -> dict[str, float]:
  """Config name -> estimated images/s per chip on TOPOLOGY, from the
  markdown table of `doc` that has RATE_COLUMN."""
  with open(doc, encoding='utf-8') as f:
    lines = f.read().splitlines()
  start = next(i for i, l in enumerate(lines)
               if l.startswith('|') and RATE_COLUMN in l)
  header = [c.strip() for c in lines[start].strip('|').split('|')]
  column = header.index(RATE_COLUMN)
  rates = {}
  for line in lines[start + 2:]:
    if not line.startswith('|'):
      break
    cells = [c.strip() for c in line.strip('|').split('|')]
    if cells[1].startswith(TOPOLOGY + ','):
      rates[cells[0].split()[0]] = float(cells[column])
  return rates


def config_path(name: str) -> str:
  """'moco_v3_vit' -> configs/moco_v3_imagenet.py:backbone=vit."""
  if name.endswith('_vit'):
    return os.path.join(REPO, 'configs',
                        f'{name[:-4]}_imagenet.py:backbone=vit')
  return os.path.join(REPO, 'configs', f'{name}_imagenet.py')


def crops_of(name: str) -> tuple[views_lib.ViewSpec, ...]:
  config = config_lib.load_file(config_path(name))
  method = config_checks.method_class(config)
  return views_lib.views_from_config(config.aug, method.num_views)


def _describe(crops) -> str:
  """'2 x 224 + 8 x 96, bicubic_antialias' (the resize costs as much as
  the decode, or more, with antialiasing)."""
  sizes = [v.crop_size for v in crops]
  kinds = sorted({v.interpolation for v in crops})
  return ' + '.join(f'{sizes.count(s)} x {s}' for s in
                    sorted(set(sizes), reverse=True)) + ', ' + '/'.join(kinds)


def main(argv):
  del argv
  rates = chip_rates(os.path.join(REPO, 'docs', 'tpu.md'))
  names = _ONLY.value or list(rates)
  rows = []
  with tempfile.TemporaryDirectory() as root:
    (height, width), ext, _ = folder_images.SHAPES['imagenet']
    folder_images.write_images(root, _IMAGES.value, height, width, ext)
    for name in names:
      crops = crops_of(name)
      row = {'config': name, 'crops': _describe(crops),
             **folder_images.measure(root, crops, _BATCHES.value),
             'estimated_images_per_second_per_chip': rates[name],
             'load_average': os.getloadavg()[0]}
      host_rate = CHIPS * rates[name]
      row['cores_per_host'] = host_rate / row['images_per_cpu_second']
      row['cores_per_host_wall'] = (
          host_rate / row['images_per_second_per_core'])
      print(json.dumps(row), flush=True)
      rows.append(row)
  if _OUT.value:
    with open(_OUT.value, 'a', encoding='utf-8') as f:
      f.writelines(json.dumps(r) + '\n' for r in rows)
  print(f'\n| config | crops per image | img/s per CPU-second '
        '(per wall second) | img/s per chip, XLA estimate | host img/s '
        f'({CHIPS} chips) | cores per host (by wall rate) |')
  print('|---|---|---|---|---|---|')
  for r in rows:
    print(f"| {r['config']} | {r['crops']} | "
          f"{r['images_per_cpu_second']:.0f} "
          f"({r['images_per_second_per_core']:.0f}) | "
          f"{r['estimated_images_per_second_per_chip']:.0f} | "
          f"{CHIPS * r['estimated_images_per_second_per_chip']:.0f} | "
          f"{r['cores_per_host']:.0f} ({r['cores_per_host_wall']:.0f}) |")


if __name__ == '__main__':
  app.run(main)
