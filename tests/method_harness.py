"""Drives a method's real train step on synthetic batches (no dataset).

Method tests use it to check, cheaply, what the trainer relies on: the step
compiles once, jit over the mesh and pmap give the same parameters, and the
loss moves. Data come from a seeded generator shaped like the pipeline's
output (uint8 crops per view, labels, seed ids).
"""

import functools

import jax
import numpy as np

from ssl_jax import config_lib
from ssl_jax import methods
from ssl_jax import optim
from ssl_jax import parallel
from ssl_jax import step as step_lib
from ssl_jax import train

NUM_CLASSES = 10


def tiny_vit(config):
  """Swaps in a one-block ViT: compiles in a fraction of the ResNet's time,
  so method tests can afford jit and pmap runs."""
  config.backbone = config_lib.backbone_config(
      'vit', dim=16, depth=1, heads=2, patch_size=7, pool='mean')
  return config


def synthetic_batch(views, channels: int, batch: int, seed: int,
                    same_image: bool = False) -> dict:
  """Random uint8 crops per view; with `same_image`, every view of an example
  is the same image (resized to the view's size), as un-augmented views are."""
  rng = np.random.default_rng(seed)
  if same_image:
    base = rng.integers(0, 256, (batch, 4, 4, channels)).astype(np.uint8)
    out = {f'view{i}': np.repeat(np.repeat(
        base, -(-v.crop_size // 4), axis=1), -(-v.crop_size // 4),
                                 axis=2)[:, :v.crop_size, :v.crop_size]
           for i, v in enumerate(views)}
  else:
    out = {f'view{i}': rng.integers(0, 256, (batch, v.crop_size, v.crop_size,
                                             channels)).astype(np.uint8)
           for i, v in enumerate(views)}
  out['label'] = rng.integers(0, NUM_CLASSES, batch).astype(np.int32)
  out['seed_id'] = np.arange(batch, dtype=np.int32)
  return out


def _build(config, mode, channels, total_steps, traces):
  """The method, its abstract and real-state makers and the step factory
  for the parallel mode."""
  config = config.copy_and_resolve_references()
  config.parallel.mode = mode
  config_lib.validate(config, jax.device_count())
  par = parallel.make(config)
  method = methods.get(config.method.name)(
      config, bn_axis_name=par.bn_axis_name, total_steps=total_steps,
      steps_per_epoch=max(1, total_steps // 2))
  tx, schedule = optim.make(config, total_steps, 1,
                            frozen_start=method.frozen_start())
  init_fn = functools.partial(
      step_lib.init_state, method, tx, NUM_CLASSES,
      jax.random.PRNGKey(config.seed),
      train.sample_batch(method.views, channels),
      probe=config.probe.enabled)
  abstract = par.abstract_state(init_fn)
  factory = functools.partial(
      step_lib.make_train_step, method, tx, schedule, seed=config.seed,
      num_classes=NUM_CLASSES, probe=config.probe.enabled,
      on_trace=lambda: traces.append(1),
      grad_accum_steps=config.grad_accum_steps)
  return config, par, method, init_fn, abstract, factory


def run_steps(config, *, mode: str = 'jit', steps: int = 2,
              channels: int = 1, total_steps: int = 10,
              fixed_batch: bool = False, on_step=None):
  """Trains `steps` steps; returns (state as global arrays, metrics list).

  With `fixed_batch` every step sees the same images, each view of an
  example showing the same picture (for "the loss goes down" checks);
  otherwise each step draws new random crops. `on_step(state)` sees the
  state (as global arrays) after each step.
  """
  traces = []
  config, par, method, init_fn, abstract, factory = _build(
      config, mode, channels, total_steps, traces)
  train_step = par.make_step(factory, abstract)
  state = par.init_state(init_fn)
  history = []
  for i in range(steps):
    batch = synthetic_batch(method.views, channels, config.batch_size,
                            0 if fixed_batch else i, same_image=fixed_batch)
    state, metrics = train_step(state, batch)
    if on_step is not None:
      on_step(par.to_saveable(state))
    history.append({k: float(v) for k, v in jax.device_get(metrics).items()})
  assert len(traces) == 1, f'the step was traced {len(traces)} times'
  return par.to_saveable(state), history


def _lowered_step(config, channels: int, total_steps: int):
  config, par, method, _, abstract, factory = _build(
      config, 'jit', channels, total_steps, [])
  batch = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                     sharding=par.batch_sharding),
      synthetic_batch(method.views, channels, config.batch_size, 0))
  return par.jit_step(factory, abstract).lower(abstract, batch)


def lower_step(config, channels: int = 1, total_steps: int = 10):
  """Builds the method and lowers its jit step for the mesh, without
  compiling: returns the step's abstract (state, metrics) outputs."""
  return _lowered_step(config, channels, total_steps).out_info


def compiled_step_hlo(config, channels: int = 1, total_steps: int = 10):
  """The optimised HLO text of the jit step compiled for the mesh."""
  return _lowered_step(config, channels, total_steps).compile().as_text()


def assert_same_training(config, steps: int = 2, rtol=2e-4, atol=2e-5,
                         metrics=('loss',), **kwargs):
  """jit over the 8-device mesh and pmap give the same params and the same
  `metrics` (float32 round-off: rtol 1e-4)."""
  jit_state, jit_hist = run_steps(config, mode='jit', steps=steps, **kwargs)
  pmap_state, pmap_hist = run_steps(config, mode='pmap', steps=steps,
                                    **kwargs)
  for tree in ('params', 'mutables', 'extras'):
    jax.tree_util.tree_map_with_path(
        lambda path, a, b: np.testing.assert_allclose(
            a, b, rtol=rtol, atol=atol,
            err_msg=f'{tree}{jax.tree_util.keystr(path)}'),
        jax.tree.map(np.asarray, getattr(jit_state, tree)),
        jax.tree.map(np.asarray, getattr(pmap_state, tree)))
  for a, b in zip(jit_hist, pmap_hist):
    for name in metrics:
      np.testing.assert_allclose(a[name], b[name], rtol=1e-4, err_msg=name)
  return jit_state, jit_hist
