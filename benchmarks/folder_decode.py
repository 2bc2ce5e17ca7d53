"""Host decode + random-resized-crop throughput of a folder of images, per
core (a tf.data private thread pool of one thread).

  python benchmarks/folder_decode.py [--kind jpeg224|png32] [--images 512]
      [--batches 20] [--out results.jsonl]

Writes a folder of generated images (JPEG 320x256 cropped to 224, or 32x32
PNG cropped to 32) into a temporary folder, then times the training stream
of `config.data.name=folder` (image_stream.py: read, decode, two crops,
batch) after one warm-up batch. Divide a step's images/s by this figure
for the host cores a method needs.
"""

import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags
from PIL import Image

from ssl_jax.data import folder
from ssl_jax.data import image_source
from ssl_jax.data import views

_KIND = flags.DEFINE_enum('kind', 'jpeg224', ['jpeg224', 'png32'],
                          'What the folder holds.')
_IMAGES = flags.DEFINE_integer('images', 512, 'Images in the folder.')
_BATCHES = flags.DEFINE_integer('batches', 20, 'Timed batches of 64.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON row here.')

_SHAPES = {'jpeg224': ((256, 320), '.jpg', 224), 'png32': ((32, 32), '.png',
                                                           32)}


def write_images(root: str, kind: str, count: int) -> None:
  (height, width), ext, _ = _SHAPES[kind]
  rng = np.random.default_rng(0)
  # Smooth noise: compresses like a photo, not like white noise.
  for i in range(count):
    small = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.BILINEAR)
    image.save(os.path.join(root, f'{i:06d}{ext}'))


def measure(root: str, kind: str, batches: int) -> dict:
  size = _SHAPES[kind][2]
  source = image_source.ImageSource(folder.index(root))
  two_views = (views.ViewSpec(crop_size=size), views.ViewSpec(crop_size=size))
  ds = source.train(two_views, channels=3, global_batch=64, seed=0,
                    start_step=0, total_steps=batches + 1)
  options = tf.data.Options()
  options.threading.private_threadpool_size = 1  # One core's worth.
  stream = ds.with_options(options).as_numpy_iterator()
  next(stream)
  t0 = time.perf_counter()
  for _ in range(batches):
    next(stream)
  seconds = time.perf_counter() - t0
  return {'kind': kind, 'images_per_second_per_core':
          batches * 64 / seconds, 'batches': batches, 'views': 2,
          'crop_size': size}


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as root:
    write_images(root, _KIND.value, _IMAGES.value)
    row = measure(root, _KIND.value, _BATCHES.value)
  print(json.dumps(row))
  if _OUT.value:
    with open(_OUT.value, 'a', encoding='utf-8') as f:
      f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
  app.run(main)
