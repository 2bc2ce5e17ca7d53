"""The MFU benchmark's FLOP count (XLA's cost analysis) against a hand
count for a dense layer."""

import os
import sys

import jax
import jax.numpy as jnp

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
import doc_blocks  # pylint: disable=g-import-not-at-top,wrong-import-position
import machine  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_dense_layer_flops_match_a_hand_count():
  batch, fan_in, fan_out = 8, 16, 4
  dense = jax.jit(lambda x, w, b: x @ w + b)
  flops, seconds = machine.xla_flops(
      dense, jnp.ones((batch, fan_in)), jnp.ones((fan_in, fan_out)),
      jnp.ones((fan_out,)))
  # A multiply and an add per weight per example, then the bias add.
  assert flops == 2 * batch * fan_in * fan_out + batch * fan_out
  assert seconds > 0


def test_all_on_host_augmentation_twin_does_the_device_work():
  """augment_split.py's tf.data twin of the device augmentation must do the
  same operations; its deterministic ones (probability 1, fixed sigma) give
  the device's values."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import augment_split  # pylint: disable=g-import-not-at-top
  from ssl_jax.data import augment  # pylint: disable=g-import-not-at-top
  from ssl_jax.data import views  # pylint: disable=g-import-not-at-top
  image = np.random.default_rng(0).integers(0, 256, (9, 9, 3), np.uint8)
  spec = views.ViewSpec(crop_size=9, flip_p=1.0, jitter_p=0.0, gray_p=0.0,
                        blur_p=1.0, blur_sigma=(0.8, 0.8), solarize_p=1.0)
  host = augment_split.host_augment(tf.constant(image), spec).numpy()
  device = augment.augment_one(jnp.asarray(image), jax.random.PRNGKey(0),
                               spec)
  np.testing.assert_allclose(host, device, atol=1e-5)


def test_a_rerun_of_some_rows_keeps_the_others_in_order():
  head = '| config | ms |\n|---|---|\n'
  old = head + '| a | 1 |\n| b | 2 |\n| gone | 9 |'
  merged = doc_blocks.merge_table_rows(old, head + '| b | 3 |\n| c | 4 |',
                                       order=['a', 'b', 'c'])
  assert merged == head + '| a | 1 |\n| b | 3 |\n| c | 4 |\n| gone | 9 |'


def test_results_table_marks_rows_read_as_a_map():
  """A row evaluated on the feature map (config.eval.readout) says so; the
  others' backbone cell is unchanged."""
  import results_table  # pylint: disable=g-import-not-at-top
  config = {'backbone': {'name': 'resnet', 'depth': 18, 'width': 0.125},
            'total_epochs': 3}
  results = {'step': 3, 'knn_top1': 0.8, 'linear_top1': 0.85}
  rows = [{'method': m, 'results': dict(results, readout=readout),
           'config': config, 'timing': {}}
          for m, readout in (('simclr', 'map'), ('byol', 'pooled'))]
  lines = results_table.table(rows).splitlines()
  assert lines[2].startswith('| simclr | ResNet-18 ×0.125, map readout | 3 |')
  assert lines[3].startswith('| byol | ResNet-18 ×0.125 | 3 |')
