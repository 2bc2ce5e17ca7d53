"""Train-step throughput against the number of devices and processes.

  python benchmarks/scaling.py [--config configs/simclr_fashion_mnist.py:smoke]
      [--config.x=y ...] [--steps 10] [--devices 1,2,4,8]
      [--global_batch B] [--per_device_batch b] [--out results.jsonl]

Measures images/s of the real train step (step_throughput.measure: the
config's method, optimizer and parallel mode, one real batch fed over and
over) for each device count in --devices,
  * at a fixed global batch (--global_batch, default config.batch_size):
    strong scaling, the same work split over more devices;
  * at a fixed per-device batch (--per_device_batch, default global batch /
    the largest device count): weak scaling, global batch = b x devices;
and for two processes x 4 devices over loopback at the fixed global batch
(the multi-host path: jax.distributed, gloo collectives, per-process data).
One JSON row per run, with the machine, is appended to --out; a markdown
table is printed at the end.

Each run is its own subprocess, because the device count is fixed when JAX
starts. On a CPU-only machine the devices are fake (--cpu_devices, i.e.
jax_num_cpu_devices); on GPUs the first n are made visible
(CUDA_VISIBLE_DEVICES); on other accelerators only the full count is run.
The two-process run always uses fake CPU devices.

On one CPU, fake devices share the same cores (2 on the machine this was
written on): beyond using cores that one device's small kernels leave idle,
more devices cannot go faster, so there the figures show the overhead of the
mesh (collectives, sharding, smaller per-device kernels), not speed-up. Real
speed-up needs real devices. Pass overrides as --config.x=y (one token).
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags
from ml_collections import config_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
# Reuse the single-run benchmark: its measure() and its flags --config,
# --steps, --out and --label (defining them twice would clash).
import step_throughput  # pylint: disable=g-import-not-at-top,wrong-import-position
from ssl_jax import cli_flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from ssl_jax import config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from ssl_jax import train  # pylint: disable=g-import-not-at-top,wrong-import-position

_DEVICES = flags.DEFINE_list('devices', ['1', '2', '4', '8'],
                             'Device counts, one subprocess each.')
_GLOBAL_BATCH = flags.DEFINE_integer(
    'global_batch', None, 'Fixed global batch (default: config.batch_size).')
_PER_DEVICE_BATCH = flags.DEFINE_integer(
    'per_device_batch', None,
    'Fixed per-device batch (default: global batch / largest device count).')
_TWO_PROCESS = flags.DEFINE_bool(
    'two_process', True, 'Also run 2 processes x 4 fake CPU devices.')
_TIMEOUT = flags.DEFINE_integer('timeout', 1200, 'Seconds per run.')
_WORKER = flags.DEFINE_string('worker', None,
                              'Internal: run one measurement (regime name).')

_DEFAULT_CONFIG = os.path.join(REPO, 'configs', 'simclr_fashion_mnist.py')
_ROW_PREFIX = 'SCALING_ROW '


# ------------------------------------------------------------------ worker
def _worker(regime: str) -> None:
  """One measurement in this process (devices set up by the CLI flags)."""
  config = flags.FLAGS.config
  config_lib.prefer_overridden_durations(
      config, config_flags.get_override_values(flags.FLAGS['config']))
  cli_flags.initialize()  # --cpu_devices, --coordinator_address, ...
  import jax  # pylint: disable=g-import-not-at-top
  import machine  # pylint: disable=g-import-not-at-top
  # As train.run does: TF off accelerators, partitionable RNG.
  train._hygiene()  # pylint: disable=protected-access
  row = step_throughput.measure(config, flags.FLAGS.steps)
  row.update(regime=regime, num_devices=jax.device_count(),
             num_processes=jax.process_count(),
             per_device_batch=config.batch_size // jax.device_count(),
             label=flags.FLAGS.label, machine=machine.describe(),
             load_average_1m=os.getloadavg()[0],  # Others sharing the CPU.
             time=time.strftime('%Y-%m-%dT%H:%M:%S'))
  if jax.process_index() == 0:
    print(_ROW_PREFIX + json.dumps(row), flush=True)


# ------------------------------------------------------------------ parent
def _config_args(argv) -> list[str]:
  """The --config flags of this command line (the file first), to pass on
  to the workers."""
  out, it = [], iter(argv)
  for arg in it:
    if arg == '--config':
      out.append(f'--config={next(it)}')
    elif arg.startswith('--config=') or arg.startswith('--config.'):
      out.append(arg)
  return sorted(out, key=lambda a: not a.startswith('--config='))  # Stable.


def _probe_platform() -> tuple[str, int]:
  """(backend, device count) without starting JAX here (GPUs stay free)."""
  out = subprocess.run(
      [sys.executable, '-c',
       'import jax; print(jax.default_backend(), jax.device_count())'],
      check=True, capture_output=True, text=True).stdout.split()
  return out[-2], int(out[-1])


def _row(output: str) -> dict:
  lines = [l for l in output.splitlines() if l.startswith(_ROW_PREFIX)]
  return json.loads(lines[-1][len(_ROW_PREFIX):])


def _fail(what: str, outputs) -> None:
  for out in outputs:
    print(out[-4000:], file=sys.stderr)
  sys.exit(f'scaling.py: {what} failed (output above).')


def _run_one(base, regime, batch, devices, platform) -> dict:
  env = dict(os.environ)
  cmd = base + [f'--worker={regime}', f'--config.batch_size={batch}']
  if platform == 'cpu':
    cmd.append(f'--cpu_devices={devices}')
  elif platform == 'gpu':  # The first n of the GPUs this process may use.
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    ids = visible.split(',') if visible else map(str, range(devices))
    env['CUDA_VISIBLE_DEVICES'] = ','.join(list(ids)[:devices])
  # The caller's directory: config and data paths may be relative to it.
  result = subprocess.run(cmd, env=env, capture_output=True,
                          text=True, timeout=_TIMEOUT.value)
  if result.returncode:
    _fail(f'{devices} devices, {regime}', [result.stdout + result.stderr])
  return _row(result.stdout)


def _run_two_processes(base, batch) -> dict:
  import portpicker  # pylint: disable=g-import-not-at-top
  port = portpicker.pick_unused_port()
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  procs = [subprocess.Popen(
      base + ['--worker=two_process', f'--config.batch_size={batch}',
              '--cpu_devices=4', f'--coordinator_address=127.0.0.1:{port}',
              '--num_processes=2', f'--process_id={i}'],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      text=True) for i in range(2)]
  try:
    outs = [p.communicate(timeout=_TIMEOUT.value)[0] for p in procs]
  finally:
    for p in procs:
      p.kill()  # No-op once finished; a hung peer must not outlive us.
  if any(p.returncode for p in procs):
    _fail('2 processes x 4 devices', outs)
  return _row(outs[0])


def _table(rows) -> str:
  """Markdown; 'vs 1 device': images/s over the 1-device run's, same
  regime (the two-process run is compared with fixed global batch)."""
  base = {r['regime']: r['images_per_second'] for r in rows
          if r['num_devices'] == 1 and r['num_processes'] == 1}
  base['two_process'] = base.get('fixed_global')
  # No compile column: measure() compiles for its cost analysis before it
  # times the first step, so its compile_seconds is not the compile time.
  # The load average shows how much else shared the CPU during a run.
  lines = ['| regime | processes x devices | global batch | per-device '
           'batch | images/s | step ms | vs 1 device | load 1 min |',
           '|---|---|---|---|---|---|---|---|']
  for r in rows:
    ref = base.get(r['regime'])
    ratio = f'{r["images_per_second"] / ref:.2f}' if ref else '-'
    per_process = r['num_devices'] // r['num_processes']
    lines.append(
        f'| {r["regime"]} | {r["num_processes"]} x {per_process} | '
        f'{r["batch_size"]} | {r["per_device_batch"]} | '
        f'{r["images_per_second"]:.1f} | {r["step_ms"]:.0f} | {ratio} | '
        f'{r["load_average_1m"]:.1f} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  if _WORKER.value:
    _worker(_WORKER.value)
    return
  base = [sys.executable, os.path.abspath(__file__),
          *_config_args(sys.argv[1:]), f'--steps={flags.FLAGS.steps}',
          f'--label={flags.FLAGS.label}']
  platform, available = _probe_platform()
  counts = [int(d) for d in _DEVICES.value]
  if platform not in ('cpu', 'gpu'):
    counts = [available]  # Sub-slicing other accelerators is not portable.
  counts = [n for n in counts if platform == 'cpu' or n <= available]
  global_batch = _GLOBAL_BATCH.value or flags.FLAGS.config.batch_size
  per_device = _PER_DEVICE_BATCH.value or max(1, global_batch // max(counts))

  rows, measured = [], {}
  runs = [('fixed_global', global_batch, n) for n in counts]
  runs += [('fixed_per_device', per_device * n, n) for n in counts]
  for regime, batch, n in runs:
    if (batch, n) in measured:  # The same run in both regimes: reuse it.
      row = dict(measured[batch, n], regime=regime)
    else:
      print(f'{regime}: {n} device(s), global batch {batch}...', flush=True)
      row = measured[batch, n] = _run_one(base, regime, batch, n, platform)
    rows.append(row)
  if _TWO_PROCESS.value:
    print(f'two_process: 2 x 4 devices, global batch {global_batch}...',
          flush=True)
    rows.append(_run_two_processes(base, global_batch))

  if flags.FLAGS.out:
    with open(flags.FLAGS.out, 'a') as f:
      f.writelines(json.dumps(row) + '\n' for row in rows)
  m = rows[0]['machine']
  print(f'\n{m["cpu"]}, {m["cpu_cores"]} cores, {m["platform"]} '
        f'({m["device_kind"]}), jax {m["jax"]}, {rows[0]["time"][:10]}, '
        f'{flags.FLAGS.steps} timed steps, method {rows[0]["method"]}\n')
  print(_table(rows))


if __name__ == '__main__':
  # A default config given on the command line, not by set_default: only
  # then does config_flags accept --config.x=y overrides.
  if not any(a == '--config' or a.startswith('--config=')
             for a in sys.argv[1:]):
    sys.argv.insert(1, f'--config={_DEFAULT_CONFIG}')
  flags.FLAGS.set_default('steps', 10)
  app.run(main)
