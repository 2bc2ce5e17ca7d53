"""Model FLOP utilisation of the train step: XLA FLOPs / step time / peak.

  python benchmarks/mfu.py --config configs/simclr_fashion_mnist.py \
      [--steps 10] [--peak_tflops X] [--out results.jsonl]

FLOPs per step: XLA's cost analysis of the compiled step, built as
step_throughput.py builds it (same method, optimizer, parallel mode). This
counts what XLA runs: the forward and backward, the augmentation and the
update, elementwise work included; the matmuls/convolutions dominate.
Peak: the table below for TPUs and GPUs (dense, per chip, in the config's
compute dtype); on a CPU it is measured in the same run, a jitted
float32 matmul after warm-up (a CPU has no published per-chip figure that
holds for a 2-core slice of a shared host). Prints a markdown row and
appends one JSON row to --out.
"""

import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags

from ssl_jax import config_lib

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top
import step_throughput  # pylint: disable=g-import-not-at-top

_PEAK = flags.DEFINE_float('peak_tflops', None,
                           'Override the peak (TFLOP/s per device).')
_MATMUL = flags.DEFINE_integer('matmul_size', 4096,
                               'Side of the CPU peak matmul.')
# --config, --steps, --out and --label are step_throughput.py's flags.

# Dense peak TFLOP/s per chip: (substring of jax's device_kind, bf16, fp32).
# Vendor figures: Google Cloud TPU system-architecture pages (v4: 275 bf16;
# v5e, device_kind 'TPU v5 lite': 197 bf16; v5p: 459 bf16). TPUs publish no
# fp32 figure: XLA's default precision runs an f32 matmul as bf16 passes on
# the MXU, so the bf16 peak is the ceiling for both. NVIDIA data sheets
# (dense, i.e. half the "with sparsity" numbers): A100 SXM bf16 312, TF32
# 156; H100 SXM bf16 989, TF32 495; H100 PCIe bf16 756, TF32 378. The fp32
# column is TF32 because jax's default matmul precision lets XLA use TF32
# tensor cores for f32 on these GPUs (plain FP32 is 19.5 / 67 / 51).
# Order matters: the first match wins ('H100 PCIe' before 'H100').
PEAK_TFLOPS = (
    ('TPU v4', 275.0, 275.0),
    ('TPU v5 lite', 197.0, 197.0),
    ('TPU v5e', 197.0, 197.0),
    ('TPU v5p', 459.0, 459.0),
    ('TPU v5', 459.0, 459.0),
    ('A100', 312.0, 156.0),
    ('H100 PCIe', 756.0, 378.0),
    ('H100', 989.0, 495.0),
)


def table_peak(device_kind: str, dtype: str) -> float | None:
  """Peak FLOP/s of one device of this kind from the table, or None."""
  for kind, bf16, fp32 in PEAK_TFLOPS:
    if kind.lower() in device_kind.lower():
      return 1e12 * (bf16 if dtype == 'bfloat16' else fp32)
  return None


def measured_matmul_peak(size: int, reps: int = 5) -> float:
  """FLOP/s of a jitted size x size float32 matmul, best of `reps`."""
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  jax.block_until_ready(mm(a))  # Compile and warm up.
  best = float('inf')
  for _ in range(reps):
    t0 = time.perf_counter()
    jax.block_until_ready(mm(a))
    best = min(best, time.perf_counter() - t0)
  return 2 * size**3 / best


def measure(config, steps: int) -> dict:
  """Step time, XLA FLOPs and MFU of `config`'s train step."""
  train_step, state, batch = step_throughput.build(config)
  flops, compile_s = step_throughput.compiled_flops(train_step, state, batch)
  holder = {'state': state}

  def run():
    holder['state'], metrics = train_step(holder['state'], batch)
    return metrics

  for _ in range(2):  # The first call compiles (or hits the cache).
    jax.block_until_ready(run())
  t0 = time.perf_counter()
  for _ in range(steps):
    metrics = run()
  jax.block_until_ready(metrics)
  seconds = (time.perf_counter() - t0) / steps

  device = jax.devices()[0]
  if _PEAK.value:
    peak, source = 1e12 * _PEAK.value, 'flag'
  elif device.platform == 'cpu':
    peak = measured_matmul_peak(_MATMUL.value)
    source = f'measured f32 matmul {_MATMUL.value}^2'
  else:
    peak, source = table_peak(device.device_kind, config.dtype), 'table'
  total_peak = peak * jax.device_count() if peak else None
  return {
      'method': config.method.name, 'backbone': dict(config.backbone),
      'batch_size': config.batch_size, 'dtype': config.dtype,
      'steps': steps, 'step_ms': 1000 * seconds,
      'images_per_second': config.batch_size / seconds,
      'compile_seconds': compile_s,
      'gflop_per_step': flops / 1e9 if flops else None,
      'achieved_gflops': flops / seconds / 1e9 if flops else None,
      'peak_gflops': total_peak / 1e9 if total_peak else None,
      'peak_source': source,
      'mfu': flops / seconds / total_peak if flops and total_peak else None,
  }


def markdown(row: dict) -> str:
  b = row['backbone']
  model = (f"ResNet-{b.get('depth')} x{b.get('width')}"
           if b['name'] == 'resnet' else f"ViT d{b.get('dim')} "
           f"x{b.get('depth')} /{b.get('patch_size')}")
  num = lambda v, f: format(v, f) if v is not None else 'n/a'
  return (
      '| method | model | batch | device | step ms | img/s | GFLOP/step | '
      'GFLOP/s | peak GFLOP/s | MFU | compile s |\n'
      '|---|---|---|---|---|---|---|---|---|---|---|\n'
      f"| {row['method']} | {model} | {row['batch_size']} | "
      f"{jax.devices()[0].device_kind} x{jax.device_count()} | "
      f"{row['step_ms']:.1f} | {row['images_per_second']:.1f} | "
      f"{num(row['gflop_per_step'], '.1f')} | "
      f"{num(row['achieved_gflops'], '.1f')} | "
      f"{num(row['peak_gflops'], '.0f')} | "
      f"{num(row['mfu'] and 100 * row['mfu'], '.1f')}% | "
      f"{row['compile_seconds']:.1f} |")


def main(argv):
  del argv
  config = flags.FLAGS.config
  config_lib.prefer_overridden_durations(
      config, config_flags.get_override_values(flags.FLAGS['config']))
  row = measure(config, flags.FLAGS.steps)
  row['label'] = flags.FLAGS.label
  print(markdown(row))
  machine.report(row, flags.FLAGS.out)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
