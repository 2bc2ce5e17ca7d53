"""What machine a benchmark ran on, recorded beside every figure."""

import os
import platform

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
