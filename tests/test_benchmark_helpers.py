"""The MFU benchmark's FLOP count (XLA's cost analysis) against a hand
count for a dense layer."""

import os
import sys

import jax
import jax.numpy as jnp

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
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
