"""Compile the real training step for a TPU slice on a machine without one.

  python -m ssl_jax.aot --config configs/simclr_imagenet.py \
      --topology v5p:2x2x1 [--what train|embed|backbone] [--out report.json] \
      [--config.parallel.mesh_fsdp=4 ...]

The trainer's own plan (method, optimizer, shardings) and step factory
(`train.plan`, `train.make_step`) are lowered for the abstract devices of the
slice (`tpu_chips.get_slice`, which needs the `libtpu` package but no TPU)
and compiled by XLA TPU. Nothing runs. Printed and written as JSON:

  chips, devices, hosts, the mesh; per-chip memory (arguments, outputs,
  temporaries, total) against the chip's HBM; FLOPs per step and per image;
  XLA TPU's estimated step time ("unavailable" when it gives none), the
  roofline time max(FLOPs / peak, bytes accessed / HBM bandwidth); the
  estimated images/s per chip and MFU against the chip's bf16 peak; where
  the estimate goes: the model scopes (forward/backward, blocks folded) with
  the largest share of XLA's per-instruction estimated cycles, and the
  share spent in layout copies (`hlo_cycles.py`).

Every time, rate and MFU here is XLA's compile-time estimate, not a
measurement. `--what=embed` compiles the evaluation embedding function
instead (so a user knows evaluation fits too); `--what=backbone` compiles
the backbone's forward + backward alone on the method's views, the floor the
step is compared with; `--what=augment` the device augmentation and masks
alone (docs/tpu.md).

Refused with a message naming what to change, before compiling where it can
be: a TPU kind or slice libtpu does not know, libtpu missing, a mesh that
does not fit the slice, a batch the slice cannot split, pmap mode, and a
config whose arguments (state + batch) or total memory exceed a chip's HBM
(the largest buffers named).
"""

import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from ssl_jax import config_lib
from ssl_jax import hlo_buffers
from ssl_jax import hlo_cycles
from ssl_jax import parallel
from ssl_jax import step as step_lib
from ssl_jax import tpu_chips
from ssl_jax import train
from ssl_jax.data import sources

WHATS = ('train', 'embed', 'backbone', 'augment')
ESTIMATE_NOTE = ("XLA TPU's compile-time estimate (cost model), not a "
                 'measurement')


class DoesNotFit(config_lib.UserError):
  """The program needs more memory per chip than the chip's HBM."""

  def __init__(self, message: str, report: dict):
    super().__init__(message)
    self.report = report


@dataclasses.dataclass
class Program:
  """A jitted function and abstract arguments to lower it with."""
  jitted: object
  args: tuple
  images_per_step: int  # Global.
  arg_names: tuple  # For naming the largest buffers.


def _dataset_info(config) -> sources.SplitInfo:
  info = sources.known_split_info(config.data.name, config.data.train_split)
  if info is not None:
    return info
  builder = sources.get_builder(config.data)  # A prepared dataset, if any.
  return sources.split_info(builder, config.data.train_split)


def _abstract(shape, dtype, sharding):
  return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _global_batch(p: train.Plan, config) -> dict:
  """The pipeline's global batch as abstract arrays split over the mesh."""
  one = train.sample_batch(p.method.views, len(config.data.mean), size=1)
  return {k: _abstract((config.batch_size,) + v.shape[1:], v.dtype,
                       p.parallel.batch_sharding) for k, v in one.items()}


def train_program(p: train.Plan, config) -> Program:
  """The trainer's step, for the abstract state and global batch."""
  abstract = p.parallel.abstract_state(p.init_fn)
  jitted = p.parallel.jit_step(train.step_factory(p, config), abstract)
  return Program(jitted, (abstract, _global_batch(p, config)),
                 config.batch_size, ('state', 'batch'))


def embed_program(p: train.Plan, config) -> Program:
  """The evaluation embedding, as evals/features.py jits it."""
  abstract = p.parallel.abstract_state(p.init_fn)
  size, channels = config.data.image_size, len(config.data.mean)
  images = _abstract((config.eval.batch_size, size, size, channels),
                     jnp.uint8, p.parallel.batch_sharding)
  jitted = jax.jit(step_lib.make_embed_fn(p.method, config.eval.readout),
                   out_shardings=p.parallel.replicated)
  return Program(jitted, (abstract, images), config.eval.batch_size,
                 ('state', 'images'))


def backbone_program(p: train.Plan, config) -> Program:
  """The backbone's forward + backward alone on the method's views (BatchNorm
  in training mode, the config's dtype): no augmentation, heads, loss or
  optimizer. Views of one size go through one call, the cheapest way to
  run them, so this is the floor a method's step is compared with."""
  backbone, par = p.method.backbone, p.parallel
  channels = len(config.data.mean)
  sizes = [v.crop_size for v in p.method.views]
  inputs = [_abstract((config.batch_size * sizes.count(s), s, s, channels),
                      jnp.float32, par.batch_sharding)
            for s in sorted(set(sizes), reverse=True)]
  variables = jax.eval_shape(
      lambda: backbone.init(jax.random.PRNGKey(0), jnp.zeros(
          (1,) + inputs[0].shape[1:]), train=False))
  variables = jax.tree.map(
      lambda x: _abstract(x.shape, x.dtype, NamedSharding(
          par.mesh, parallel.param_spec(x.shape, par.mesh.shape['fsdp']))),
      variables)

  def fwd_bwd(variables, inputs):
    params = variables['params']
    others = {k: v for k, v in variables.items() if k != 'params'}

    def loss(params):
      total = 0.0
      for x in inputs:
        out, _ = backbone.apply({'params': params, **others}, x, train=True,
                                mutable=list(others))
        total = total + jnp.mean(out.astype(jnp.float32))
      return total

    return jax.grad(loss)(params)

  # Images are the batch's source images, as for the train step, so the
  # two programs' images/s compare directly.
  return Program(jax.jit(fwd_bwd), (variables, inputs), config.batch_size,
                 ('params', 'views'))


def augment_program(p: train.Plan, config) -> Program:
  """The device augmentation of every view, and the masks of the masked
  methods (a method's `masks(rng, n, example_ids)`), alone: the step's
  input preparation, which should be a small part of it."""
  method = p.method

  def prepare(batch):
    rng = jax.random.PRNGKey(config.seed)
    views = step_lib.augment_views(method, batch, rng)
    masks = (method.masks(rng, batch['seed_id'].shape[0], batch['seed_id'])
             if hasattr(method, 'masks') else ())
    return views, masks

  return Program(jax.jit(prepare), (_global_batch(p, config),),
                 config.batch_size, ('batch',))


_PROGRAMS = {'train': train_program, 'embed': embed_program,
             'backbone': backbone_program, 'augment': augment_program}


def _shard_bytes(leaf) -> int:
  shape = leaf.sharding.shard_shape(leaf.shape)
  return int(np.prod(shape)) * jnp.dtype(leaf.dtype).itemsize


def largest_arguments(program: Program, count: int = 5) -> list[dict]:
  """The largest per-device argument buffers, by path."""
  rows = []
  for name, arg in zip(program.arg_names, program.args):
    for path, leaf in jax.tree_util.tree_leaves_with_path(arg):
      rows.append({'name': name + jax.tree_util.keystr(path),
                   'shape': list(leaf.shape), 'dtype': str(leaf.dtype),
                   'bytes_per_device': _shard_bytes(leaf)})
  rows.sort(key=lambda r: -r['bytes_per_device'])
  return rows[:count]


def _gib(n: float) -> str:
  return f'{n / 2**30:.2f} GiB'


def _argument_bytes(program: Program) -> int:
  return sum(_shard_bytes(leaf) for leaf in jax.tree.leaves(program.args))


def _cost(compiled) -> dict:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) and cost else cost
  return dict(cost or {})


def analyse(compiled, program: Program, tpu: tpu_chips.Slice,
            config, what: str, compile_seconds: float) -> dict:
  """The report's numbers from XLA's memory and cost analyses."""
  per_chip = tpu.devices_per_chip
  chip = tpu.chip
  mem = compiled.memory_analysis()
  memory = {
      'arguments': mem.argument_size_in_bytes,
      'outputs': mem.output_size_in_bytes,
      'aliased': mem.alias_size_in_bytes,
      'temporaries': mem.temp_size_in_bytes,
      'code': mem.generated_code_size_in_bytes,
  }
  memory = {k: v * per_chip for k, v in memory.items()}
  memory['total'] = (memory['arguments'] + memory['outputs'] -
                     memory['aliased'] + memory['temporaries'] +
                     memory['code'])
  memory['hbm'] = chip.hbm_bytes
  memory['fraction_of_hbm'] = memory['total'] / chip.hbm_bytes

  cost = _cost(compiled)
  flops = float(cost.get('flops', 0.0)) * per_chip
  bytes_accessed = float(cost.get('bytes accessed', 0.0)) * per_chip
  optimal = float(cost.get('optimal_seconds', -1.0))
  xla_seconds = optimal if optimal > 0 else None
  compute_s = flops / chip.peak_flops
  memory_s = bytes_accessed / chip.hbm_bytes_per_second
  roofline = max(compute_s, memory_s)
  step_s = xla_seconds if xla_seconds is not None else roofline
  images_per_chip = program.images_per_step / tpu.num_chips
  mesh = dict(zip(parallel.DATA_AXES, config_lib.mesh_shape(
      config, len(tpu.devices))))
  return {
      'what': what, 'config_method': config.method.name,
      'backbone': dict(config.backbone), 'dtype': config.dtype,
      'topology': tpu.name, 'device_kind': tpu.devices[0].device_kind,
      'chips': tpu.num_chips, 'devices': len(tpu.devices),
      'hosts': tpu.num_hosts, 'mesh': mesh,
      'global_batch': program.images_per_step,
      'images_per_chip': images_per_chip,
      'memory_per_chip_bytes': memory,
      'flops_per_chip_step': flops,
      'flops_per_image': flops / images_per_chip if images_per_chip else None,
      'bytes_accessed_per_chip_step': bytes_accessed,
      'xla_estimated_step_seconds': xla_seconds,
      'roofline_step_seconds': roofline,
      'roofline_bound': 'compute' if compute_s >= memory_s else 'memory',
      'step_seconds_used': step_s,
      'step_seconds_source': ('xla' if xla_seconds is not None
                              else 'roofline (XLA estimate unavailable)'),
      'images_per_second_per_chip': images_per_chip / step_s,
      'mfu': flops / step_s / chip.peak_flops,
      'chip': dataclasses.asdict(chip),
      'compile_seconds': compile_seconds,
      'note': ESTIMATE_NOTE,
  }


def _refuse_oversized_arguments(program: Program, tpu: tpu_chips.Slice,
                                what: str) -> None:
  """Before compiling: state + batch alone must fit a chip's HBM."""
  per_device_hbm = tpu.chip.hbm_bytes / tpu.devices_per_chip
  args = _argument_bytes(program)
  if args > per_device_hbm:
    largest = largest_arguments(program)
    raise DoesNotFit(
        f'The {what} program\'s arguments alone need {_gib(args)} per device'
        f', more than the {_gib(per_device_hbm)} of HBM a {tpu.chip.kind} '
        f'device has. Largest: ' + '; '.join(
            f"{r['name']} {r['dtype']}{r['shape']} "
            f"({_gib(r['bytes_per_device'])}/device)" for r in largest) +
        '. Lower config.batch_size, or shard the state over more chips '
        '(config.parallel.mesh_fsdp).', {'largest_arguments': largest})


def compile_for_tpu(config, topology: str, what: str = 'train') -> dict:
  """Compiles `what` of `config` for `topology`; returns the report dict.

  Raises:
    tpu_chips.TopologyError, config_lib.ConfigError: bad slice or config.
    DoesNotFit: the program does not fit a chip's HBM (`.report` holds the
      analysis).
  """
  if what not in WHATS:
    raise config_lib.ConfigError(f'--what={what!r}: choose one of {WHATS}.')
  if config.parallel.mode != 'jit':
    raise config_lib.ConfigError(
        f'config.parallel.mode={config.parallel.mode!r}: aot compiles the '
        "'jit' mode (pmap gives the same numbers, the mesh is what scales).")
  tpu = tpu_chips.get_slice(topology)
  with parallel.compiling_for('tpu'):
    p = train.plan(config, devices=tpu.devices,
                   dataset=_dataset_info(config))
    program = _PROGRAMS[what](p, config)
    _refuse_oversized_arguments(program, tpu, what)
    t0 = time.perf_counter()
    compiled = program.jitted.lower(*program.args).compile()
    seconds = time.perf_counter() - t0
  report = analyse(compiled, program, tpu, config, what, seconds)
  report['largest_arguments'] = largest_arguments(program)
  hlo_text = compiled.as_text()
  report['largest_values'] = hlo_buffers.largest(hlo_text,
                                                 tpu.devices_per_chip)
  report['estimate_by_scope'] = hlo_cycles.by_scope(hlo_text)
  memory = report['memory_per_chip_bytes']
  if memory['total'] > memory['hbm']:
    raise DoesNotFit(
        f"The {what} program needs {_gib(memory['total'])} per chip "
        f"(arguments {_gib(memory['arguments'])}, temporaries "
        f"{_gib(memory['temporaries'])}), more than the "
        f"{_gib(memory['hbm'])} of a {tpu.chip.kind} chip. Largest values: "
        + '; '.join(f"{v['shape']} {v['op']} ({_gib(v['bytes_per_chip'])})"
                    for v in report['largest_values'][:3]) +
        '. Lower config.batch_size, use config.grad_accum_steps, '
        'backbone.remat (ViT) or config.parallel.mesh_fsdp.', report)
  return report


def format_report(r: dict) -> str:
  """A few readable lines (the JSON has everything)."""
  m = r['memory_per_chip_bytes']
  ms = lambda s: f'{1e3 * s:.2f} ms' if s is not None else 'unavailable'
  return '\n'.join([
      f"{r['what']} step of {r['config_method']} on {r['topology']} "
      f"({r['chips']} chips, {r['devices']} devices, {r['hosts']} hosts), "
      f"mesh data={r['mesh']['data']} fsdp={r['mesh']['fsdp']}, "
      f"{r['images_per_chip']:g} images/chip, {r['dtype']}",
      f"memory per chip: {_gib(m['total'])} of {_gib(m['hbm'])} "
      f"({100 * m['fraction_of_hbm']:.1f}%): arguments "
      f"{_gib(m['arguments'])}, outputs {_gib(m['outputs'])}, temporaries "
      f"{_gib(m['temporaries'])}",
      f"FLOPs per chip-step {r['flops_per_chip_step'] / 1e12:.3f} T "
      f"({r['flops_per_image'] / 1e9:.2f} GFLOP/image); HBM bytes "
      f"{r['bytes_accessed_per_chip_step'] / 1e9:.1f} GB",
      f"estimated step {ms(r['xla_estimated_step_seconds'])} (XLA), "
      f"roofline {ms(r['roofline_step_seconds'])} "
      f"({r['roofline_bound']}-bound)",
      f"estimated {r['images_per_second_per_chip']:.0f} images/s/chip, "
      f"MFU {100 * r['mfu']:.1f}% of {r['chip']['bf16_tflops']:g} TFLOP/s "
      f"bf16 [{r['note']}]",
  ] + _where_the_estimate_goes(r.get('estimate_by_scope')))


def _where_the_estimate_goes(cycles) -> list[str]:
  if not cycles:
    return []
  top = ', '.join(f"{s['scope']} {100 * s['share']:.0f}%"
                  for s in cycles['scopes'][:5])
  return [f'where the estimate goes (share of XLA\'s per-instruction '
          f'cycles): {top}; layout copies '
          f"{100 * cycles['layout_copy_share']:.0f}%"]


def write(report: dict, path: str) -> None:
  with open(path, 'w') as f:
    json.dump(report, f, indent=2)


def _cli() -> None:
  """`python -m ssl_jax.aot`: flags are defined here, not at import, so
  the module imports cleanly beside other CLIs and benchmarks."""
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from ssl_jax import cli_flags  # pylint: disable=g-import-not-at-top

  config_flag = config_flags.DEFINE_config_file(
      'config', None, 'Config file, optionally with :preset.',
      lock_config=True)
  topology = flags.DEFINE_string(
      'topology', None, f'TPU slice KIND:AxB[xC], KIND in '
      f'{sorted(tpu_chips.CHIPS)} (e.g. v5p:2x2x1).')
  what = flags.DEFINE_enum('what', 'train', WHATS,
                           'The program to compile.')
  out = flags.DEFINE_string('out', None, 'Write the JSON report here.')
  flags.mark_flags_as_required(['config', 'topology'])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if not os.environ.get('JAX_PLATFORMS'):
      # Only compiled here, never run: tracing and planning need the CPU
      # alone, and on a TPU VM the chips stay free for training.
      jax.config.update('jax_platforms', 'cpu')
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    config = config_flag.value
    config_lib.prefer_overridden_durations(
        config, config_flags.get_override_values(flags.FLAGS['config']))
    with config_lib.user_errors_exit():
      report = compile_for_tpu(config, topology.value, what.value)
    print(format_report(report), flush=True)
    if out.value:
      write(report, out.value)
      print(f'Wrote {out.value}')

  app.run(main, flags_parser=cli_flags.parse_flags)


if __name__ == '__main__':
  _cli()
