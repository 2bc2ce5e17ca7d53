"""Optimizers and learning-rate schedules (optax).

Params are `{'model': ..., 'probe': ...}`: the model gets the method's
optimizer (LARS / AdamW / SGD) with weight decay and LARS trust ratio kept off
biases and normalisation parameters (every array of ndim <= 1, as BYOL and
SimCLR exclude them); the online probe gets its own partition (SGD with
momentum, own lr, no weight decay) through `optax.multi_transform`.

Note on LARS: optax.lars puts the lr inside the momentum buffer (as SimCLR's
TF code); the BYOL/MoCo v3 form puts it outside. They agree at constant lr and
differ slightly during warm-up and decay (docs/methods.md#optimizers).
"""

import jax
import jax.numpy as jnp
import optax

from ssl_jax import config_lib


def peak_lr(config) -> float:
  """Base lr scaled by the global batch (linear: lr x B / 256)."""
  scaling = config.optim.lr_scaling
  ratio = config.batch_size / 256
  factor = {'linear': ratio, 'sqrt': ratio**0.5, 'none': 1.0}[scaling]
  return config.optim.lr * factor


def lr_schedule(config, total_steps: int, warmup_steps: int):
  """Linear warm-up from 0, then half-cosine to lr * end_lr_ratio."""
  peak = peak_lr(config)
  if warmup_steps >= total_steps:
    raise config_lib.ConfigError(
        f'Warm-up ({warmup_steps} steps) must be shorter than training '
        f'({total_steps} steps).')
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak, warmup_steps=warmup_steps,
      decay_steps=total_steps, end_value=peak * config.optim.end_lr_ratio)


def decay_mask(params):
  """True for arrays that get weight decay / trust ratio (ndim > 1)."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


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


def _model_optimizer(config, schedule, total_steps: int):
  o = config.optim
  wd = weight_decay_schedule(config, total_steps)
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


def make(config, total_steps: int, warmup_steps: int):
  """Returns (optimizer over {'model', 'probe'} params, model lr schedule)."""
  schedule = lr_schedule(config, total_steps, warmup_steps)
  probe_schedule = optax.cosine_decay_schedule(config.probe.lr, total_steps)
  tx = optax.multi_transform(
      {'model': _model_optimizer(config, schedule, total_steps),
       'probe': optax.sgd(probe_schedule, momentum=config.probe.momentum)},
      {'model': 'model', 'probe': 'probe'})
  return tx, schedule


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
