"""Scale-out on 8 fake CPU devices: mesh shapes, gradient accumulation,
bfloat16 (two processes on loopback: test_multiprocess.py)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ssl_jax import methods
from ssl_jax.methods import base

import method_harness as harness
from conftest import load_config


class _PerExampleMethod(base.MethodBase):
  """A loss that is a mean of per-example terms, with no batch statistics
  (ViT, no BN): gradient accumulation must reproduce the whole batch."""
  num_views = 2

  def init(self, rng, views):
    params = self.backbone.init(rng, views[0])['params']
    return base.Variables(params, {}, {})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    del extras, rng, example_ids
    h1, h2 = (self.backbone.apply({'params': params}, v) for v in views[:2])
    return {'h1': h1, 'h2': h2, 'features': h1, 'embedding': h1}, mutables

  def objective(self, outputs, extras, step):
    loss = jnp.mean(jnp.sum((outputs['h1'] - 0.5 * outputs['h2'])**2, -1))
    return loss, {}, {}

  def embed(self, params, mutables, extras, images):
    return self.backbone.apply({'params': params}, images)


methods.register('per_example_test', _PerExampleMethod)


def _config(batch=32):
  config = harness.tiny_vit(load_config('smoke'))
  config.batch_size = batch
  return config


def _params(state):
  return jax.tree.map(np.asarray, state.params)


def test_accumulating_4_micro_batches_equals_one_batch_of_4x():
  config = _config()
  with config.unlocked():
    config.method = ml_collections.ConfigDict({'name': 'per_example_test'})
  config.probe.enabled = False
  config.optim.update(name='sgd', momentum=0.9, lr=0.5, weight_decay=0.0)
  whole, whole_hist = harness.run_steps(config, steps=2)
  config.grad_accum_steps = 4
  accum, accum_hist = harness.run_steps(config, steps=2)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               _params(whole), _params(accum))
  np.testing.assert_allclose(whole_hist[-1]['loss'], accum_hist[-1]['loss'],
                             rtol=1e-5)
  assert whole_hist[-1]['update_norm'] > 0


def test_accumulation_with_batch_coupled_loss_runs_and_agrees_in_pmap():
  # SimCLR's negatives come from each micro-batch: not the whole-batch
  # update, but jit and pmap must still agree (same micro-batches).
  config = _config()
  config.grad_accum_steps = 2
  harness.assert_same_training(config, steps=2)


@pytest.mark.parametrize('data,fsdp', [(4, 2), (2, 4)])
def test_mesh_shapes_give_the_same_training(data, fsdp):
  config = _config()
  config.backbone.update(dim=64, heads=2)  # Arrays big enough to shard.
  reference, _ = harness.run_steps(config, steps=2)
  config.parallel.update(mesh_data=data, mesh_fsdp=fsdp)
  sharded, _ = harness.run_steps(config, steps=2)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4,
                                                       atol=2e-5),
               _params(reference), _params(sharded))


def test_bfloat16_trains_without_nan_and_close_to_float32():
  config = _config()
  f32, f32_hist = harness.run_steps(config, steps=3)
  config.dtype = 'bfloat16'
  bf16, bf16_hist = harness.run_steps(config, steps=3)
  # Parameters and optimizer state stay float32.
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(bf16.params))
  losses = [h['loss'] for h in bf16_hist]
  assert np.all(np.isfinite(losses))
  np.testing.assert_allclose(losses, [h['loss'] for h in f32_hist],
                             rtol=0.05)
