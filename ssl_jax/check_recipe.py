"""Reproduction check: a config's recipe on one screen, nothing trained.

  python -m ssl_jax.check_recipe --config configs/barlow_twins_imagenet.py \
      [--config.batch_size=1024 ...] [--train_examples=N]

Prints the backbone (a ViT's positions and stochastic depth) and the
optimizer, then, for the first, second and last update (state steps 0, 1
and K - 1), each parameter group's effective learning rate, weight decay
and whether LARS's trust ratio scales it, the arrays whose update the
method freezes, the EMA momentum (and DINO's teacher temperature), and the
views with their crop resize: what a paper's recipe table states (recipe.py computes it;
docs/methods.md#reproduction-check, and each method's section for its
official values). Flags and config overrides are parsed as `ssl_jax.main`
parses them; bad input ends with one `FATAL:` line.
"""

import functools
import os

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ssl_jax import cli_flags
from ssl_jax import config_lib


def _num(x: float) -> str:
  return f'{x:.6g}'


def _optimizer(config, peak_lr: float) -> str:
  o = config.optim
  scaling = {'linear': f'{_num(o.lr)} x B/256 = ', 'none': '',
             'sqrt': f'{_num(o.lr)} x sqrt(B) = '}[o.lr_scaling]
  scaling += f'{_num(peak_lr)} peak'
  biases = o.get('lr_biases')
  kind = {'lars': f'LARS (momentum {o.momentum}, trust coefficient '
                  f'{o.trust_coefficient})',
          'adamw': f'AdamW ({o.b1}, {o.b2})',
          'sgd': f'SGD (momentum {o.momentum})'}[o.name]
  extra = [f'biases (ndim <= 1) {_num(biases)} base, '
           f'{_num(peak_lr * biases / o.lr)} peak'
           if biases is not None else '',
           'predictor at the peak lr' if o.get('fix_pred_lr') else '',
           f'warm-up from {_num(o.start_lr_ratio)} x peak'
           if o.get('start_lr_ratio') else '',
           'lr set once per epoch' if o.get('lr_per_epoch') else '',
           f'layer-wise lr decay {o.layer_decay}'
           if o.get('layer_decay') is not None else '',
           f'patch embedding lr x {o.patch_embed_lr_mult}'
           if o.get('patch_embed_lr_mult') is not None else '',
           f'global grad clip {o.grad_clip_norm}' if o.grad_clip_norm else '',
           f'per-tensor grad clip {o.grad_clip_per_tensor}'
           if o.get('grad_clip_per_tensor') else '']
  return ', '.join([f'{kind}, lr {scaling}, end lr {o.end_lr_ratio} x peak']
                   + [e for e in extra if e])


def _view(spec) -> str:
  return (f'{spec.crop_size} px, scale {spec.crop_scale}, flip {spec.flip_p}'
          f', jitter {spec.jitter} p {spec.jitter_p}, gray {spec.gray_p}, '
          f'blur {spec.blur_p}, solarize {spec.solarize_p}, resize '
          f'{spec.interpolation}')


def _views(views) -> list[str]:
  """One line per run of identical views (DINO's 8 local crops: one)."""
  lines, start = [], 0
  for i in range(1, len(views) + 1):
    if i == len(views) or views[i] != views[start]:
      which = (f'view {start + 1}' if i - start == 1
               else f'views {start + 1}-{i}')
      lines.append(f'  {which}: {_view(views[start])}')
      start = i
  return lines


def format_recipe(config, r) -> str:
  """The screen `main` prints for config `config` and Recipe `r`."""
  b = config.backbone
  size = {'resnet': f' (depth {b.get("depth")}, width {b.get("width")})',
          'vit': f' ({b.get("variant") or "dim " + str(b.get("dim"))}, '
                 f'patch {b.get("patch_size")}, patch_init '
                 f'{b.get("patch_init")}, positions {b.get("pos_embed")}'
                 + (f' {b.pos_grid}x{b.pos_grid}' if b.get('pos_grid') else '')
                 + (f', drop_path {b.drop_path}' if b.get('drop_path') else '')
                 + ')'}.get(b.name, '')
  epochs = (f' ({r.steps_per_epoch} per epoch: {r.train_examples:,} images '
            f'// batch {config.batch_size})' if r.train_examples else '')
  lines = [f'method {config.method.name}, backbone {b.name}{size}, '
           f'batch {config.batch_size}, {config.dtype}',
           f'optimizer: {_optimizer(config, r.peak_lr)}',
           f'{r.total_steps:,} steps{epochs}, warm-up {r.warmup_steps:,} '
           f'steps; "step" counts updates (0 = the first, {r.steps[-1]} = '
           'the last)', '',
           f'{"step":>9}  {"group":<10} {"ndim":<5} {"arrays":>6} '
           f'{"params":>12}  {"lr":<12} {"weight decay":<12} trust ratio']
  for row in r.rows:
    lines.append(f'{row.step:>9}  {row.group:<10} {row.ndim:<5} '
                 f'{row.arrays:>6} {row.params:>12,}  {_num(row.lr):<12} '
                 f'{_num(row.weight_decay):<12} '
                 f'{"yes" if row.trust_ratio else "no"}')
  for step, paths in r.frozen.items():
    if paths:
      lines.append(f'frozen at step {step}: {", ".join(paths)}')
  for name, values in (('EMA momentum', r.ema_momentum),
                       ('teacher temperature', r.teacher_temp)):
    if values:
      lines.append(f'{name}: ' + ', '.join(
          f'step {s} {_num(v)}' for s, v in values.items()))
  lines.append(f'views ({len(r.views)}):')
  return '\n'.join(lines + _views(r.views))


def main(argv, config_flag, train_examples_flag):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # optax logs constant schedules.
  with config_lib.user_errors_exit():
    config = config_flag.value
    config_lib.prefer_overridden_durations(
        config, config_flags.get_override_values(flags.FLAGS['config']))
    import jax  # pylint: disable=g-import-not-at-top
    if 'JAX_PLATFORMS' not in os.environ:
      # Only schedules and shapes are computed: leave accelerators alone.
      jax.config.update('jax_platforms', 'cpu')
    from ssl_jax import recipe  # pylint: disable=g-import-not-at-top
    result = recipe.compute(config, train_examples_flag.value)
    print(flags.FLAGS['config'].config_filename)
    print(format_recipe(config, result))


def run() -> None:
  """The command line. Its flags are defined here, not at import, so the
  module's formatting can be imported beside other CLIs' `--config`."""
  config_flag = config_flags.DEFINE_config_file(
      'config', None, 'Config file, optionally with :preset.',
      lock_config=True)
  train_examples = flags.DEFINE_integer(
      'train_examples', None,
      'Train split size, to turn epochs into steps (known for imagenet2012, '
      'cifar10 and Fashion-MNIST).')
  flags.mark_flags_as_required(['config'])
  app.run(functools.partial(main, config_flag=config_flag,
                            train_examples_flag=train_examples),
          flags_parser=cli_flags.parse_flags)


if __name__ == '__main__':
  run()
