"""Augmentation split as BYOL does it, measured against all-on-host.

  python benchmarks/augment_split.py --config configs/simclr_fashion_mnist.py
  python benchmarks/augment_split.py --config configs/simclr_imagenet.py \
      --synthetic 512 [--batches 5] [--out results.jsonl]

Ours (the shipped split): the host's tf.data pipeline only crops and
resizes (uint8 out); flip, colour jitter in random order, grayscale, blur
and solarize run on the device inside the jitted step
(ssl_jax/data/augment.py). The alternative measured here puts those same
operations, as torchvision/solo-learn do, into the host pipeline: a
per-image tf.data map after the crops, written with tf.image / tf.nn ops
(this file's `host_augment`: the same operations and probabilities, its
own random draws), float32 out.

Reports, per configuration:
  host img/s, crops only        what the shipped pipeline can feed
  host img/s, all on host       the same with the rest of the augmentation
  device ms per batch           augment_views jitted alone on the device
  step img/s                    the config's real step (step_throughput)
so the two placements read against what the step consumes. --synthetic N
feeds N random uint8 images of the dataset's raw size (256 px for the
ImageNet config) through the same in-memory pipeline instead of the
dataset: only throughput is measured, and no ImageNet copy is needed.
"""

import sys
import time
import types

from absl import app
from absl import flags
import jax
import numpy as np
import tensorflow as tf

from ssl_jax import methods
from ssl_jax import step as step_lib
from ssl_jax import train
from ssl_jax.data import augment
from ssl_jax.data import pipeline
from ssl_jax.data import views as views_lib

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top
import step_throughput  # pylint: disable=g-import-not-at-top

_BATCHES = flags.DEFINE_integer('batches', 20, 'Timed host batches.')
_SYNTHETIC = flags.DEFINE_integer(
    'synthetic', 0, 'Random images of this count at --synthetic_size '
    'instead of the dataset (throughput only).')
_SYNTHETIC_SIZE = flags.DEFINE_integer('synthetic_size', 256,
                                       'Side of the --synthetic images.')
# --config, --steps (timed train steps; 0 skips the step) and --out are
# step_throughput.py's flags (defining them twice would clash).


def _blur(x, sigma, size):
  radius = size // 2
  offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
  kernel = tf.exp(-0.5 * (offsets / sigma) ** 2)
  kernel /= tf.reduce_sum(kernel)
  channels = x.shape[-1]
  x = tf.pad(x[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]],
             mode='REFLECT')
  rows = tf.tile(tf.reshape(kernel, [size, 1, 1, 1]), [1, 1, channels, 1])
  cols = tf.tile(tf.reshape(kernel, [1, size, 1, 1]), [1, 1, channels, 1])
  x = tf.nn.depthwise_conv2d(x, rows, [1, 1, 1, 1], 'VALID')
  return tf.nn.depthwise_conv2d(x, cols, [1, 1, 1, 1], 'VALID')[0]


def host_augment(image, spec):
  """One uint8 crop -> float32 in [0, 1]: flip, jitter, gray, blur,
  solarize with the view's probabilities (augment.augment_one's work)."""
  x = tf.cast(image, tf.float32) / 255.0
  coin = lambda p: tf.random.uniform([]) < p
  color = x.shape[-1] == 3
  luma = tf.constant([0.299, 0.587, 0.114])
  gray = lambda y: (tf.reduce_sum(y * luma, -1, keepdims=True) if color
                    else y)
  x = tf.cond(coin(spec.flip_p), lambda: x[:, ::-1], lambda: x)
  blend = lambda y, other, factor: (y - other) * factor + other

  def jitter(y):  # Inside the cond: computed only when it applies.
    b, c, s, h = spec.jitter
    u = tf.random.uniform([4], -1.0, 1.0)
    ops = [lambda y: y * (1 + b * u[0]),
           lambda y: blend(y, tf.reduce_mean(gray(y)), 1 + c * u[1])]
    if color:
      ops += [lambda y: blend(y, gray(y), 1 + s * u[2]),
              lambda y: tf.image.adjust_hue(y, h * u[3])]
    order = tf.random.shuffle(tf.range(len(ops)))
    for position in range(len(ops)):
      y = tf.clip_by_value(tf.switch_case(
          order[position], [lambda f=f: f(y) for f in ops]), 0.0, 1.0)
    return y

  x = tf.cond(coin(spec.jitter_p), lambda: jitter(x), lambda: x)
  if color:
    x = tf.cond(coin(spec.gray_p),
                lambda: tf.broadcast_to(gray(x), tf.shape(x)), lambda: x)
  if spec.blur_p > 0:
    sigma = tf.random.uniform([], *spec.blur_sigma)
    size = augment.blur_kernel_size(spec.crop_size)
    x = tf.cond(coin(spec.blur_p), lambda: _blur(x, sigma, size),
                lambda: x)
  if spec.solarize_p > 0:
    x = tf.cond(coin(spec.solarize_p),
                lambda: tf.where(x >= 0.5, 1.0 - x, x), lambda: x)
  return x


def _images_per_second(ds, batch_size, batches):
  it = ds.as_numpy_iterator()
  next(it)  # Start-up: graph building, first prefetch.
  t0 = time.perf_counter()
  for _ in range(batches):
    next(it)
  return batches * batch_size / (time.perf_counter() - t0)


def _synthetic_datasets(config, views):
  """A maker of crop pipelines over --synthetic random images."""
  size, channels = _SYNTHETIC_SIZE.value, len(config.data.mean)
  images = np.random.default_rng(0).integers(
      0, 256, (_SYNTHETIC.value, size, size, channels), np.uint8)
  labels = np.zeros(len(images), np.int64)
  return lambda: pipeline.in_memory_train(
      images, labels, views, global_batch=config.batch_size, seed=0,
      start_step=0, total_steps=10**6)


def _host_rates(config, views, make):
  """(crops-only img/s, all-on-host img/s) of the datasets `make()`
  returns (the crop pipeline, built afresh for each measurement)."""

  def all_on_host(batch):
    for v, spec in enumerate(views):
      batch[f'view{v}'] = tf.map_fn(
          lambda im, spec=spec: host_augment(im, spec), batch[f'view{v}'],
          fn_output_signature=tf.float32)
    return batch

  on_host = make().map(all_on_host, num_parallel_calls=tf.data.AUTOTUNE)
  n, batches = config.batch_size, _BATCHES.value
  return (_images_per_second(make(), n, batches),
          _images_per_second(on_host, n, batches))


def _device_ms(config, method) -> float:
  """augment_views jitted alone, ms per batch of the config's shapes."""
  views = {f'view{v}': np.zeros((config.batch_size, s.crop_size,
                                 s.crop_size, len(config.data.mean)),
                                np.uint8)
           for v, s in enumerate(method.views)}
  batch = jax.device_put(dict(
      views, seed_id=np.arange(config.batch_size, dtype=np.int32)))
  run = jax.jit(lambda b, k: step_lib.augment_views(method, b, k))
  keys = list(jax.random.split(jax.random.PRNGKey(0), 21))
  jax.block_until_ready(run(batch, keys.pop()))
  t0 = time.perf_counter()
  for key in keys:
    out = run(batch, key)
  jax.block_until_ready(out)
  return 1000 * (time.perf_counter() - t0) / len(keys)


def main(argv):
  del argv
  config = flags.FLAGS.config
  with config.unlocked():
    config.total_steps, config.total_epochs = 10**6, None
  if _SYNTHETIC.value:  # No dataset: the method's views and data config.
    views = views_lib.views_from_config(
        config.aug, methods.get(config.method.name).num_views)
    method = types.SimpleNamespace(config=config, views=views)
    make = _synthetic_datasets(config, views)
  else:
    p = train.plan(config)
    method = p.method
    make = lambda: train.train_dataset(p, config, 0)
  crops_rate, host_rate = _host_rates(config, method.views, make)
  steps = flags.FLAGS.steps
  step = (step_throughput.measure(config, steps)['images_per_second']
          if steps and not _SYNTHETIC.value else None)
  row = dict(method=config.method.name, dataset=config.data.name,
             synthetic=_SYNTHETIC.value, views=len(method.views),
             crop_sizes=[s.crop_size for s in method.views],
             batch_size=config.batch_size,
             host_crops_only_images_per_second=crops_rate,
             host_all_augmentation_images_per_second=host_rate,
             device_augment_ms_per_batch=_device_ms(config, method),
             step_images_per_second=step)
  machine.report(row, flags.FLAGS.out)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
