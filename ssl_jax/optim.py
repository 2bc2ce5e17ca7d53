"""Optimizers and learning-rate schedules (optax).

Params are `{'model': ..., 'probe': ...}`: the model gets the method's
optimizer (LARS / AdamW / SGD) with weight decay and LARS trust ratio kept off
biases and normalisation parameters (every array of ndim <= 1, as BYOL and
SimCLR exclude them); the online probe gets its own partition (SGD with
momentum, own lr, no weight decay) through `optax.multi_transform`.

Parameter groups (docs/methods.md#optimizers), as torch's param_groups: with
`optim.lr_biases` the arrays of ndim <= 1 follow the same schedule from their
own base lr (Barlow Twins' `--learning-rate-biases`); with
`optim.fix_pred_lr` the `predictor` part stays at the peak lr (SimSiam's
`--fix-pred-lr`). Each group is one optimizer of `optax.multi_transform`,
gradient clipping stays global. Without them the optimizer state has the
single-group layout of older checkpoints.

Per-array lr multipliers (DINOv2's `param_groups.py`): with
`optim.layer_decay` ld, an array in backbone layer i of L (models/__init__.py:
embedding 0, block j j + 1, final norm L + 1) takes ld^(L + 1 - i) of its
group's lr, anything outside the backbone (heads) 1, the layers of
fine-tuning's layer-wise decay (evals/finetune.py: layer_scales); with
`optim.patch_embed_lr_mult` the patch embedding takes that much more. The
multiplier scales the whole update, weight decay included, as a torch
param group's lr does. Unset (the default), the optimizer is unchanged.

Arrays frozen for the first updates (`make(frozen_start=...)`, DINO's last
layer in epoch 0) get an optimizer of their own that skips those updates
entirely, as torch's optimizers skip a parameter whose grad is None: no
update, no weight decay, and moments and step count untouched (Adam's bias
correction then starts at the first real update), on the schedules of the
global step.

Note on LARS: optax.lars puts the lr inside the momentum buffer (as SimCLR's
TF code); the BYOL/MoCo v3 form puts it outside. They agree at constant lr and
differ slightly during warm-up and decay (docs/methods.md#optimizers).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from ssl_jax import config_lib
from ssl_jax import models


def peak_lr(config, base: float | None = None) -> float:
  """Base lr (`optim.lr`, or `base`) scaled by the global batch B:
  'linear' lr x B / 256; 'sqrt' lr x sqrt(B), SimCLR's
  `learning_rate_scaling=sqrt` (0.075 x sqrt(4096) = 4.8 = 0.3 x 4096/256);
  'none' lr."""
  scaling = config.optim.lr_scaling
  batch = config.batch_size
  factor = {'linear': batch / 256, 'sqrt': batch**0.5, 'none': 1.0}[scaling]
  return (config.optim.lr if base is None else base) * factor


def lr_schedule(config, total_steps: int, warmup_steps: int,
                base: float | None = None,
                steps_per_epoch: int | None = None):
  """Linear warm-up from peak * start_lr_ratio (0 by default; I-JEPA's
  start_lr 2e-4 of 1e-3), then half-cosine to peak * end_lr_ratio.

  With `optim.lr_per_epoch` the lr changes once per epoch, every update of
  an epoch taking the per-step value at the epoch's first update (SimSiam's
  `adjust_learning_rate`, called once an epoch: epoch e of E gets
  peak (1 + cos(pi e / E)) / 2)."""
  o = config.optim
  peak = peak_lr(config, base)
  if warmup_steps >= total_steps:
    raise config_lib.ConfigError(
        f'Warm-up ({warmup_steps} steps) must be shorter than training '
        f'({total_steps} steps).')
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=peak * o.get('start_lr_ratio', 0.0), peak_value=peak,
      warmup_steps=warmup_steps, decay_steps=total_steps,
      end_value=peak * o.end_lr_ratio)
  if not o.get('lr_per_epoch'):
    return schedule
  if not steps_per_epoch:
    raise ValueError('optim.lr_per_epoch needs steps_per_epoch.')
  return lambda step: schedule(step // steps_per_epoch * steps_per_epoch)


def decay_mask(params):
  """True for arrays that get weight decay / trust ratio (ndim > 1)."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def decays(config, ndim: int) -> bool:
  """Whether an array of `ndim` dimensions gets weight decay (and, with
  LARS, the trust ratio): what `decay_mask` or its absence gives."""
  return ndim > 1 or not config.optim.exclude_norm_and_bias


def group_schedules(config, total_steps: int, warmup_steps: int,
                    steps_per_epoch: int | None = None) -> dict:
  """The lr schedule of each parameter group the config asks for: 'main'
  (every array in no other group) always; 'biases' (ndim <= 1) with
  optim.lr_biases; 'predictor' (constant at the peak lr, the official
  `fix_lr`) with optim.fix_pred_lr.
  """
  o = config.optim
  groups = {'main': lr_schedule(config, total_steps, warmup_steps,
                                steps_per_epoch=steps_per_epoch)}
  if o.get('lr_biases') is not None:
    groups['biases'] = lr_schedule(config, total_steps, warmup_steps,
                                   base=o.lr_biases,
                                   steps_per_epoch=steps_per_epoch)
  if o.get('fix_pred_lr'):
    groups['predictor'] = optax.constant_schedule(peak_lr(config))
  return groups


def group_of(config, path, param) -> str:
  """The group of the model parameter at `path` (keys from params['model']):
  the predictor first (the official puts all its arrays in one group)."""
  o = config.optim
  if o.get('fix_pred_lr') and getattr(path[0], 'key', None) == 'predictor':
    return 'predictor'
  if o.get('lr_biases') is not None and param.ndim <= 1:
    return 'biases'
  return 'main'


def _group_labels(config, frozen=None):
  """optax.multi_transform's labels: each model array's group_of (with
  '/frozen_start' where `frozen(path)`), 'probe' for the probe;
  fix_pred_lr without a predictor is refused (at init, before anything
  compiles)."""

  def labels(params):
    if 'predictor' not in params['model'] and config.optim.get(
        'fix_pred_lr'):
      raise config_lib.ConfigError(
          'config.optim.fix_pred_lr=True needs a method with a predictor; '
          f'config.method.name={config.method.name!r} has parts '
          f'{sorted(params["model"])}.')
    model = jax.tree_util.tree_map_with_path(
        lambda path, p: group_of(config, path, p) + (
            FROZEN_START if frozen and frozen(path) else ''),
        params['model'])
    return {'model': model,
            'probe': jax.tree.map(lambda _: 'probe', params['probe'])}
  return labels


# Suffix of the optimizer group of arrays that start late (`make`).
FROZEN_START = '/frozen_start'


def weight_decay_schedule(config, total_steps: int):
  """Constant weight decay, or a half cosine to `weight_decay_end` (DINO,
  I-JEPA: 0.04 -> 0.4)."""
  start, end = config.optim.weight_decay, config.optim.get('weight_decay_end')
  if end is None:
    return start

  def schedule(step):
    progress = jnp.minimum(step / max(total_steps, 1), 1.0)
    return end + (start - end) * (1 + jnp.cos(jnp.pi * progress)) / 2

  return schedule


def _model_optimizer(config, schedule, total_steps: int, offset: int = 0):
  """The configured optimizer at `schedule`, without clipping; with
  `offset`, its own count c reads the lr and weight decay of step
  c + offset (an optimizer that starts late, `skip_first`)."""
  o = config.optim
  wd = weight_decay_schedule(config, total_steps)
  if offset:
    schedule = _shifted(schedule, offset)
    wd = _shifted(wd, offset) if callable(wd) else wd
  # MoCo v3's ViT recipe and SimSiam's SGD decay every array; the others
  # keep biases and normalisation parameters out.
  mask = decay_mask if o.exclude_norm_and_bias else None
  if o.name == 'lars':
    tx = optax.lars(schedule, weight_decay=wd,
                    weight_decay_mask=mask or True,
                    trust_coefficient=o.trust_coefficient,
                    trust_ratio_mask=mask or True, momentum=o.momentum)
  elif o.name == 'adamw':
    tx = optax.adamw(schedule, b1=o.b1, b2=o.b2, weight_decay=wd, mask=mask)
  elif o.name == 'sgd':
    tx = optax.chain(optax.add_decayed_weights(wd, mask),
                     optax.sgd(schedule, momentum=o.momentum))
  else:
    raise config_lib.ConfigError(f'config.optim.name={o.name!r} not in '
                                 f'{config_lib.OPTIMIZERS}.')
  return tx


def _shifted(schedule, offset: int):
  return lambda count: schedule(count + offset)


class SkipFirstState(NamedTuple):
  count: jax.Array
  inner: optax.OptState


def skip_first(inner: optax.GradientTransformation,
               steps: int) -> optax.GradientTransformation:
  """Zero updates for the first `steps` calls, leaving `inner`'s state
  (moments, counts) as it was: torch's optimizers skip a parameter whose
  grad is None (DINO's `cancel_gradients_last_layer`)."""

  def init(params):
    return SkipFirstState(jnp.zeros((), jnp.int32), inner.init(params))

  def update(updates, state, params=None):
    new_updates, new_inner = inner.update(updates, state.inner, params)
    live = state.count >= steps
    pick = lambda new, old: jax.tree.map(
        lambda n, o: jnp.where(live, n, o), new, old)
    return (pick(new_updates, jax.tree.map(jnp.zeros_like, new_updates)),
            SkipFirstState(state.count + 1, pick(new_inner, state.inner)))

  return optax.GradientTransformation(init, update)


def _clipped(config, tx):
  """Gradient clipping in front of `tx` (over all model parameters)."""
  o = config.optim
  if o.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), tx)
  if o.get('grad_clip_per_tensor'):
    tx = optax.chain(clip_per_tensor(o.grad_clip_per_tensor), tx)
  return tx


def clip_per_tensor(max_norm: float) -> optax.GradientTransformation:
  """Scales each gradient array to norm <= max_norm on its own (DINO's
  `clip_gradients`), unlike optax's global-norm clip over all arrays."""

  def clip(updates, params=None):
    del params

    def one(g):
      norm = jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float32))))
      return g * jnp.minimum(1.0, max_norm / (norm + 1e-6)).astype(g.dtype)

    return jax.tree.map(one, updates)

  return optax.stateless(clip)


def lr_multipliers(config, model_params):
  """The lr multiplier of each model array (a tree like `model_params`;
  see the module docstring), or None when neither key is set."""
  o = config.optim
  decay, patch = o.get('layer_decay'), o.get('patch_embed_lr_mult')
  if decay is None and patch is None:
    return None
  from ssl_jax.evals import finetune  # pylint: disable=g-import-not-at-top
  backbone = models.build_backbone(config.backbone, jnp.float32)
  scales = finetune.layer_scales(model_params, backbone,
                                 1.0 if decay is None else decay)

  def with_patch(path, scale):
    keys = [getattr(k, 'key', None) for k in path]
    in_patch_embed = keys[0] == 'backbone' and 'patch_embed' in keys
    return scale * (patch if patch is not None and in_patch_embed else 1.0)

  return jax.tree_util.tree_map_with_path(with_patch, scales)


def _scale_model_updates(config, tx):
  """`tx`, then each model update times its lr multiplier (the probe's
  untouched); `tx` itself when the config sets none."""
  o = config.optim
  if o.get('layer_decay') is None and o.get('patch_embed_lr_mult') is None:
    return tx

  def scale(updates, params=None):
    del params
    factors = lr_multipliers(config, updates['model'])
    model = jax.tree.map(lambda u, f: u * jnp.asarray(f, u.dtype),
                         updates['model'], factors)
    return dict(updates, model=model)

  return optax.chain(tx, optax.stateless(scale))


def make(config, total_steps: int, warmup_steps: int,
         steps_per_epoch: int | None = None, frozen_start=None):
  """Returns (optimizer over {'model', 'probe'} params, the lr schedule of
  the model's main group).

  `frozen_start`: optional (is_frozen(path of a model array) -> bool,
  steps), a method's `frozen_start()`: those arrays' own optimizers skip the
  first `steps` updates (`skip_first`), then follow their group's schedules
  at the global step."""
  schedules = group_schedules(config, total_steps, warmup_steps,
                              steps_per_epoch)
  probe_schedule = optax.cosine_decay_schedule(config.probe.lr, total_steps)
  probe = optax.sgd(probe_schedule, momentum=config.probe.momentum)
  frozen, frozen_steps = frozen_start or (None, 0)
  if len(schedules) == 1 and not frozen_steps:
    # One group: the layout of older checkpoints.
    tx = optax.multi_transform(
        {'model': _clipped(config, _model_optimizer(
            config, schedules['main'], total_steps)), 'probe': probe},
        {'model': 'model', 'probe': 'probe'})
    return _scale_model_updates(config, tx), schedules['main']
  groups = {name: _model_optimizer(config, schedule, total_steps)
            for name, schedule in schedules.items()}
  if frozen_steps:
    groups.update({name + FROZEN_START: skip_first(_model_optimizer(
        config, schedule, total_steps, offset=frozen_steps), frozen_steps)
                   for name, schedule in schedules.items()})
  tx = optax.multi_transform(dict(groups, probe=probe),
                             _group_labels(config,
                                           frozen if frozen_steps else None))
  # Clipping sees every model gradient, as the single-group optimizer's.
  clip = _clipped(config, optax.identity())
  tx = optax.chain(optax.masked(clip, {'model': True, 'probe': False}), tx)
  return _scale_model_updates(config, tx), schedules['main']


# ------------------------------------------------------------ EMA (teachers)
def ema_cosine(step, total_steps: int, base: float, final: float = 1.0):
  """BYOL / MoCo v3 / DINO momentum: base -> final along a half cosine.

  m_k = final - (final - base) (cos(pi k / K) + 1) / 2; with base 0.996:
  k = 0 -> 0.996, K/2 -> 0.998, K -> 1 (docs/methods.md#schedules).
  """
  progress = jnp.minimum(step / max(total_steps, 1), 1.0)
  return final - (final - base) * (jnp.cos(jnp.pi * progress) + 1) / 2


def ema_linear(step, total_steps: int, base: float, final: float = 1.0):
  """I-JEPA / data2vec 2.0 momentum: linear from base to final over K steps,
  then flat (data2vec: K = its own ramp length)."""
  progress = jnp.minimum(step / max(total_steps, 1), 1.0)
  return base + (final - base) * progress


def ema_update(teacher, student, momentum):
  """teacher <- m teacher + (1 - m) student, leaf by leaf (no gradients)."""
  return jax.tree.map(
      lambda t, s: momentum * t + (1.0 - momentum) * jax.lax.stop_gradient(s),
      teacher, student)
