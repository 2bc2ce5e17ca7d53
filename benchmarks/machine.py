"""What machine a benchmark ran on, recorded beside every figure."""

import json
import os
import platform
import sys
import time

import jax


def describe() -> dict:
  cpu = platform.processor() or 'unknown'
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  device = jax.devices()[0]
  return {
      'cpu': cpu,
      'cpu_cores': os.cpu_count(),
      'platform': device.platform,
      'device_kind': device.device_kind,
      'device_count': jax.device_count(),
      'process_count': jax.process_count(),
      'jax': jax.__version__,
      'python': platform.python_version(),
  }


def require_torch(script: str):
  """The torch module, or exit saying how to install it (the peer
  benchmarks only; the library never imports torch)."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit(f'{script} needs PyTorch: pip install torch==2.13.0 '
             '(the `bench` extra of setup.cfg).')
  return torch


def report(row: dict, out: str | None) -> None:
  """Adds the machine and time, prints the row, appends it to `out`."""
  row.update(machine=describe(), time=time.strftime('%Y-%m-%dT%H:%M:%S'))
  print(json.dumps(row, indent=2))
  if out:
    with open(out, 'a') as f:
      f.write(json.dumps(row) + '\n')


def xla_flops(jitted, *args) -> tuple[float | None, float]:
  """(FLOPs of one call of `jitted(*args)` by XLA's cost analysis of the
  compiled program, seconds to lower + compile).

  None when the backend gives no count. cost_analysis() is a dict in new
  jax, a list of one dict in old.
  """
  t0 = time.perf_counter()
  compiled = jitted.lower(*args).compile()
  seconds = time.perf_counter() - t0
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
  flops = float(cost.get('flops', 0.0)) if cost else 0.0
  return (flops or None), seconds
