"""Train-step throughput: images/s after compile, and compile time.

  python benchmarks/step_throughput.py --config configs/simclr_fashion_mnist.py \
      [--config.batch_size=128 ...] [--steps 20] [--out results.jsonl]

Builds the real step of the config (same method, optimizer, parallel mode),
feeds it one real batch from the input pipeline over and over (so the input
pipeline is not measured: see input_pipeline.py), and appends one JSON row
with the machine to --out.
"""

import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

import jax

from ssl_jax import config_lib
from ssl_jax import parallel
from ssl_jax import train

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top

# Other benchmarks (scaling.py, mfu.py, conv_cpu.py, peer_torch.py) import
# this module for build()/measure() and reuse these four flags.
_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps after compile.')
_OUT = flags.DEFINE_string('out', None, 'Append the JSON row here.')
_LABEL = flags.DEFINE_string('label', '', 'Free text stored with the row.')


def build(config, batch=None):
  """(train_step, state, host batch): the config's real step, as train.py
  builds it, its initial state and one real batch from the pipeline (or
  `batch`, to skip loading the dataset again)."""
  p = train.plan(config)
  state = p.parallel.init_state(p.init_fn)
  abstract = p.parallel.abstract_state(p.init_fn)
  factory = train.step_factory(p, config)
  if isinstance(p.parallel, parallel.JitMode):
    # The jitted function kept on the step for compiled_flops (XLA's cost
    # analysis): the benchmark's own attributes, not the trainer's.
    jitted = p.parallel.jit_step(factory, abstract)
    put_batch = p.parallel.put_batch

    def train_step(state, batch):
      return jitted(state, put_batch(batch))

    train_step.jitted, train_step.put_batch = jitted, put_batch
  else:
    train_step = p.parallel.make_step(factory, abstract)
  if batch is None:
    batch = next(train.train_stream(p, config, 0))
  return train_step, state, batch


def compiled_flops(train_step, state, batch) -> tuple[float | None, float]:
  """(FLOPs of one global step by XLA's cost analysis, seconds to
  lower+compile); (None, nan) under pmap (no `jitted`).

  XLA counts the SPMD-partitioned program of one device; the mesh spans all
  devices with equal shares, so the step's FLOPs are that times the count.
  """
  if not hasattr(train_step, 'jitted'):
    return None, float('nan')
  flops, seconds = machine.xla_flops(train_step.jitted, state,
                                     train_step.put_batch(batch))
  return (flops * jax.device_count() if flops else None), seconds


def measure(config, steps: int) -> dict:
  """Times `steps` train steps of `config` after one compiling step."""
  train_step, state, batch = build(config)
  flops, compile_seconds = compiled_flops(train_step, state, batch)
  t0 = time.perf_counter()
  state, metrics = train_step(state, batch)  # Compiles again (no cache).
  jax.block_until_ready(metrics)
  first_step_seconds = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(steps):
    state, metrics = train_step(state, batch)
  jax.block_until_ready(metrics)
  seconds = (time.perf_counter() - t0) / steps
  return {
      'method': config.method.name, 'backbone': dict(config.backbone),
      'batch_size': config.batch_size, 'dtype': config.dtype,
      'mode': config.parallel.mode, 'steps': steps,
      'images_per_second': config.batch_size / seconds,
      'step_ms': 1000 * seconds, 'compile_seconds': compile_seconds,
      'first_step_seconds': first_step_seconds,
      'gflop_per_image': flops / config.batch_size / 1e9 if flops else None,
      'achieved_gflops': flops / seconds / 1e9 if flops else None,
  }


def main(argv):
  del argv
  config = _CONFIG.value
  config_lib.prefer_overridden_durations(
      config, config_flags.get_override_values(flags.FLAGS['config']))
  row = measure(config, _STEPS.value)
  row['label'] = _LABEL.value
  machine.report(row, _OUT.value)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
