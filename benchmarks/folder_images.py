"""Generated image folders, and the host's decode + crop rate on them:
shared by folder_decode.py, host_cores.py and folder_data_wait.py.

The images are smooth noise (noise at 1/8 of the size, upsampled): it
compresses like a photo, not like white noise. The rate is that of the
training stream of `config.data.name=folder` (image_stream.py: read,
decode, the random resized crops, batch) in a tf.data private thread pool
of one thread: one core's worth.
"""

import os
import time

import numpy as np
import tensorflow as tf
from PIL import Image

from ssl_jax.data import folder
from ssl_jax.data import image_source
from ssl_jax.data import views as views_lib

# kind: ((height, width), extension, crop size). 500x375: ImageNet's
# typical training image.
SHAPES = {'jpeg224': ((256, 320), '.jpg', 224),
          'imagenet': ((375, 500), '.jpg', 224),
          'png32': ((32, 32), '.png', 32)}


def write_images(root: str, count: int, height: int, width: int,
                 ext: str = '.jpg', channels: int = 3) -> None:
  """`count` images named 000000<ext> ... in root."""
  rng = np.random.default_rng(0)
  for i in range(count):
    small = rng.integers(0, 256, (max(height // 8, 1), max(width // 8, 1),
                                  channels), np.uint8)
    image = Image.fromarray(small[..., 0] if channels == 1 else small)
    image = image.resize((width, height), Image.BILINEAR)
    image.save(os.path.join(root, f'{i:06d}{ext}'))


def parse_crops(spec: str) -> tuple[views_lib.ViewSpec, ...]:
  """'224x2,96x8' -> two 224 px and eight 96 px crop specs."""
  crops = []
  for part in spec.split(','):
    size, count = (int(v) for v in part.split('x'))
    crops += [views_lib.ViewSpec(crop_size=size)] * count
  return tuple(crops)


def measure(root: str, crops, batches: int, channels: int = 3) -> dict:
  """Images/s of one tf.data thread (read, decode, `crops` (ViewSpecs),
  batch) per wall second, and per second of this process's CPU time: on a
  busy machine the thread waits for a core, so the wall figure is a lower
  bound and the CPU figure is what a core of its own would do."""
  source = image_source.ImageSource(folder.index(root))
  ds = source.train(crops, channels=channels, global_batch=64, seed=0,
                    start_step=0, total_steps=batches + 1)
  options = tf.data.Options()
  options.threading.private_threadpool_size = 1  # One core's worth.
  stream = ds.with_options(options).as_numpy_iterator()
  next(stream)
  t0, cpu0 = time.perf_counter(), time.process_time()
  for _ in range(batches):
    next(stream)
  wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
  return {'images_per_second_per_core': batches * 64 / wall,
          'images_per_cpu_second': batches * 64 / cpu,
          'cpu_seconds_per_wall_second': cpu / wall}
