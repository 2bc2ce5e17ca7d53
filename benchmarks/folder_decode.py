"""Host decode + random-resized-crop throughput of a folder of images, per
core (a tf.data private thread pool of one thread).

  python benchmarks/folder_decode.py [--kind jpeg224|imagenet|png32]
      [--crops 224x2[,96x8]] [--images 512] [--batches 20] [--out F.jsonl]

Writes a folder of generated images (JPEG 320x256 or ImageNet's typical
500x375, cropped to 224; or 32x32 PNG cropped to 32) into a temporary
folder, then times the training stream of `config.data.name=folder`
(folder_images.py) after one warm-up batch. `--crops` replaces the kind's
two crops (DINO's multi-crop: 224x2,96x8). Divide a step's images/s by
this figure for the host cores a method needs (host_cores.py does it for
the ImageNet configs).
"""

import json
import os
import sys
import tempfile

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import folder_images  # pylint: disable=g-import-not-at-top,wrong-import-position

_KIND = flags.DEFINE_enum('kind', 'jpeg224', list(folder_images.SHAPES),
                          'What the folder holds.')
_CROPS = flags.DEFINE_string('crops', None, 'SIZExCOUNT[,SIZExCOUNT]: the '
                             "crops of each image (default: two of the "
                             "kind's size).")
_IMAGES = flags.DEFINE_integer('images', 512, 'Images in the folder.')
_BATCHES = flags.DEFINE_integer('batches', 20, 'Timed batches of 64.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON row here.')


def main(argv):
  del argv
  (height, width), ext, size = folder_images.SHAPES[_KIND.value]
  crops = folder_images.parse_crops(_CROPS.value or f'{size}x2')
  with tempfile.TemporaryDirectory() as root:
    folder_images.write_images(root, _IMAGES.value, height, width, ext)
    row = folder_images.measure(root, crops, _BATCHES.value)
  row.update(kind=_KIND.value, batches=_BATCHES.value,
             crops=[v.crop_size for v in crops],
             load_average=os.getloadavg()[0])
  print(json.dumps(row))
  if _OUT.value:
    with open(_OUT.value, 'a', encoding='utf-8') as f:
      f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
  app.run(main)
