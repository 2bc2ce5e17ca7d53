"""XLA convolution vs the matmul forms of models/cpu_conv.py, in one run.

  python benchmarks/conv_cpu.py --config configs/simclr_fashion_mnist.py \
      --steps 3 [--impls xla,im2col,wgrad] [--layers] [--rounds 3] \
      [--out r.jsonl]

For each `conv_impl` of the ResNet backbone, on the same parameters and the
same batch: the backbone's forward, its forward + backward, and the config's
real train step (benchmarks/step_throughput.py's build), timed in rounds
that alternate the implementations (the machine may be shared: compare
within a round). --layers also times every distinct convolution of the
backbone alone: forward, input gradient (dx) and weight gradient (dw).
Prints markdown tables; appends one JSON row to --out.
"""

import statistics
import sys
import time

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
from ml_collections import config_flags

from ssl_jax import config_lib
from ssl_jax.models import cpu_conv
from ssl_jax.models import resnet

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import machine  # pylint: disable=g-import-not-at-top
import step_throughput  # pylint: disable=g-import-not-at-top

_IMPLS = flags.DEFINE_list('impls', ['xla', 'im2col', 'wgrad'],
                           'conv_impl values to compare; the first is the '
                           'baseline of the ratios.')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Alternating rounds.')
_LAYERS = flags.DEFINE_bool('layers', False, 'Also time each conv alone.')
_STEP = flags.DEFINE_bool('step', True, 'Time the full train step.')
_BACKBONE = flags.DEFINE_bool('backbone', True,
                              'Time the backbone alone (forward, backward).')
# --config, --steps (timed calls per round), --out and --label are
# step_throughput.py's flags (defining them twice would clash).


def _time(fn, args, steps):
  """Seconds per call of fn(*args) (already compiled)."""
  t0 = time.perf_counter()
  for _ in range(steps):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / steps


def _alternate(fns, steps, rounds):
  """{name: [seconds per call, one per round]}, names interleaved."""
  times = {name: [] for name in fns}
  for _ in range(rounds):
    for name, (fn, args) in fns.items():
      times[name].append(_time(fn, args, steps))
  return times


def _images(config, n):
  size, channels = config.aug.crop_size, len(config.data.mean)
  return jax.random.normal(jax.random.PRNGKey(0), (n, size, size, channels))


def _backbone(config, impl):
  kwargs = {k: v for k, v in config.backbone.items() if k != 'name'}
  return resnet.ResNet(**dict(kwargs, conv_impl=impl))


def backbone_fns(config, impls, n):
  """Jitted forward and forward+backward of the backbone per impl."""
  x = _images(config, n)
  variables = _backbone(config, 'xla').init(jax.random.PRNGKey(0), x)
  fns = {}
  for impl in impls:
    model = _backbone(config, impl)

    def loss(params, x, model=model):
      out, _ = model.apply({**variables, 'params': params}, x,
                           mutable=['batch_stats'])
      return jnp.sum(out ** 2)

    fwd = jax.jit(loss)
    bwd = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready((fwd(variables['params'], x),
                           bwd(variables['params'], x)))
    fns[impl] = ((fwd, (variables['params'], x)),
                 (bwd, (variables['params'], x)))
  return fns


def conv_layers(config, n):
  """The distinct (input shape, conv attributes) of the backbone's convs."""
  seen = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, nn.Conv) and context.method_name == '__call__':
      pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
      key = (args[0].shape, module.features, pair(module.kernel_size),
             pair(module.strides or 1))
      seen[key] = seen.get(key, 0) + 1
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(_backbone(config, 'xla').init, jax.random.PRNGKey(0),
                   _images(config, n))
  return seen


def layer_rows(config, impls, n, steps, rounds):
  """Per distinct conv: ms of forward, dx, dw for each impl."""
  rows = []
  for (shape, features, kernel, strides), count in conv_layers(
      config, n).items():
    x = jax.random.normal(jax.random.PRNGKey(1), shape)
    w = jax.random.normal(jax.random.PRNGKey(2),
                          kernel + (shape[-1], features))
    fns = {}
    for impl in impls:
      conv = lambda x, w, impl=impl: cpu_conv.conv2d(x, w, strides, 'SAME',
                                                     impl)
      g = jnp.ones_like(conv(x, w))
      fns[f'{impl}/fwd'] = (jax.jit(conv), (x, w))
      fns[f'{impl}/dx'] = (jax.jit(lambda x, w, g, c=conv: jax.vjp(
          lambda x: c(x, w), x)[1](g)[0]), (x, w, g))
      fns[f'{impl}/dw'] = (jax.jit(lambda x, w, g, c=conv: jax.vjp(
          lambda w: c(x, w), w)[1](g)[0]), (x, w, g))
    for fn, args in fns.values():
      jax.block_until_ready(fn(*args))
    times = _alternate(fns, steps, rounds)
    out_pixels = shape[0] * -(-shape[1] // strides[0]) * -(
        -shape[2] // strides[1])
    rows.append(dict(
        input=list(shape), features=features, kernel=list(kernel),
        strides=list(strides), count=count,
        gflop=2 * out_pixels * kernel[0] * kernel[1] * shape[-1] * features
        / 1e9,
        ms={k: 1000 * statistics.median(v) for k, v in times.items()}))
  return rows


def step_fns(config, impls):
  """The real train step per impl, each from the same initial state."""
  fns, flops, batch = {}, {}, None
  for impl in impls:
    c = config.copy_and_resolve_references()
    with c.unlocked():
      c.backbone.conv_impl = impl
    train_step, state, batch = step_throughput.build(c, batch)
    flops[impl], compile_s = step_throughput.compiled_flops(train_step,
                                                            state, batch)
    holder = {'state': state}

    def run(train_step=train_step, holder=holder, batch=batch):
      holder['state'], metrics = train_step(holder['state'], batch)
      return metrics

    t0 = time.perf_counter()
    jax.block_until_ready(run())  # Compile (jit cache) and warm up.
    first = time.perf_counter() - t0
    jax.block_until_ready(run())
    fns[impl] = (run, ())
    flops[impl] = dict(flops=flops[impl], compile_seconds=compile_s,
                       first_call_seconds=first)
  return fns, flops


def _ratio_rows(times, impls, unit, images=None):
  """Markdown rows: per impl the per-round values and the ratio to the
  first impl in the same round (>1: faster than the baseline)."""
  base = times[impls[0]]
  lines = []
  for impl in impls:
    ratios = [b / t for b, t in zip(base, times[impl])]
    vals = ([images / t for t in times[impl]] if images
            else [1000 * t for t in times[impl]])
    lines.append(f'| {impl} | ' + ', '.join(f'{v:.1f}' for v in vals)
                 + f' {unit} | ' + ', '.join(f'{r:.2f}' for r in ratios)
                 + ' |')
  return lines


def main(argv):
  del argv
  config = flags.FLAGS.config
  config_lib.prefer_overridden_durations(
      config, config_flags.get_override_values(flags.FLAGS['config']))
  if config.backbone.name != 'resnet':
    raise app.UsageError('conv_cpu.py compares ResNet convolutions.')
  impls, steps, rounds = _IMPLS.value, flags.FLAGS.steps, _ROUNDS.value
  n = config.batch_size * 2  # SimCLR-like: two views in one forward.
  row = dict(config=dict(backbone=dict(config.backbone),
                         batch_size=config.batch_size,
                         crop_size=config.aug.crop_size,
                         method=config.method.name),
             impls=impls, steps=steps, rounds=rounds, label=flags.FLAGS.label)

  if _BACKBONE.value:
    fns = backbone_fns(config, impls, n)
    fwd = _alternate({i: f[0] for i, f in fns.items()}, steps, rounds)
    bwd = _alternate({i: f[1] for i, f in fns.items()}, steps, rounds)
    row.update(backbone_forward_s=fwd, backbone_fwd_bwd_s=bwd)
    print(f'\nBackbone on {n} images, ms per call per round; ratio '
          f'{impls[0]}/impl (>1 faster)\n| impl | forward | ratio |\n'
          '|---|---|---|')
    print('\n'.join(_ratio_rows(fwd, impls, 'ms')))
    print('| impl | forward+backward | ratio |\n|---|---|---|')
    print('\n'.join(_ratio_rows(bwd, impls, 'ms')))

  if _STEP.value:
    sfns, info = step_fns(config, impls)
    times = _alternate(sfns, steps, rounds)
    row.update(step_s=times, step_info=info)
    print(f'\nFull train step, images/s per round (batch '
          f'{config.batch_size}); ratio to {impls[0]} (>1 faster)\n'
          '| impl | images/s | ratio |\n|---|---|---|')
    print('\n'.join(_ratio_rows(times, impls, 'img/s', config.batch_size)))
    for impl in impls:
      print(f'{impl}: {info[impl]}')

  if _LAYERS.value:
    layers = layer_rows(config, impls, n, steps, rounds)
    row['layers'] = layers
    cols = [f'{i}/{p}' for i in impls for p in ('fwd', 'dx', 'dw')]
    print('\nPer conv (median ms)\n| input | out | k | s | x | GFLOP | '
          + ' | '.join(cols) + ' |\n|' + '---|' * (6 + len(cols)))
    for r in layers:
      print(f"| {r['input']} | {r['features']} | {r['kernel'][0]} | "
            f"{r['strides'][0]} | {r['count']} | {r['gflop']:.2f} | "
            + ' | '.join(f"{r['ms'][c]:.1f}" for c in cols) + ' |')
  machine.report(row, flags.FLAGS.out)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main)
