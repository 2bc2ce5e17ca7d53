"""DINO (Caron et al., arXiv 2104.14294; facebookresearch/dino `main_dino.py`).

Self-distillation with no labels: a student (backbone + DINOHead) is trained
to match, on every crop, the sharpened and centred output of a teacher on the
*other* global crops; the teacher is an EMA of the student
(docs/methods.md#dino).

  student  all 2 + M crops. As the official MultiCropWrapper
           (models/multicrop.py): the two global crops go through the
           backbone in one call, the M local crops (same size) in another,
           and the head runs once on all features, so BatchNorm statistics
           are per crop size and the step compiles once.
  teacher  EMA of the student's backbone + head (`extras['teacher']`, a copy
           at init), on the 2 global crops only, under stop_gradient. With a
           ResNet its BatchNorm runs in train mode on its own statistics
           (`mutables['teacher']`, copied from the student at init), as the
           official teacher, which is never put in eval mode and whose
           buffers are not averaged.
  centre   `extras['center']` [K], zeros at init, updated after the step with
           the global mean of this step's raw teacher logits.

Schedules: teacher temperature per epoch (linspace(warmup, final, W) for the
first W epochs, then final), EMA momentum along a half cosine from ema_base to
1 per step, and the head's last layer frozen for the first
freeze_last_layer_epochs: the official sets its grad to None
(`cancel_gradients_last_layer`), so AdamW skips it entirely; here its
optimizer skips those updates (`frozen_start`, optim.skip_first: no update,
no weight decay, moments and Adam step count untouched).

The ViT student (not the teacher, as the official builds it with
drop_path_rate 0) runs with stochastic depth when config.backbone.drop_path
> 0 (official 0.1), each crop of each image from its own key
fold_in(fold_in(step key, example id), crop), so jit and pmap drop the same
branches; DINO's learned position table, resized bicubically for the local
crops, is `backbone.pos_embed='interpolated'` (configs/dino_imagenet.py).
Gradient clipping per tensor (official: 3.0) is
config.optim.grad_clip_per_tensor. Evaluation features (`embed`) are the
teacher's, the network the paper evaluates.
"""

import jax
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import optim
from ssl_jax.methods import base
from ssl_jax.models import dino_head
from ssl_jax.models import multicrop

_NUM_GLOBAL = 2


def _is_last_layer(path) -> bool:
  """Whether a model parameter path is the head's last layer."""
  return [getattr(p, 'key', None) for p in path[:2]] == ['head', 'last_layer']


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  for key in ('out_dim', 'head_hidden', 'head_bottleneck'):
    config_checks.positive(config, f'method.{key}', integer=True)
  for key in ('student_temp', 'teacher_temp', 'warmup_teacher_temp'):
    config_checks.positive(config, f'method.{key}')
  config_checks.non_negative(config, 'method.warmup_teacher_temp_epochs',
                             integer=True)
  config_checks.non_negative(config, 'method.freeze_last_layer_epochs')
  for key in ('center_momentum', 'ema_base'):
    config_checks.fraction(config, f'method.{key}')
  for key in ('head_use_bn', 'norm_last_layer'):
    config_checks.choice(config, f'method.{key}', (True, False))


# config.backbone values of the official ViT (`vision_transformer.py` leaves
# the patch embedding at torch's Conv2d default; models/vit_init.py).
# The official ViT's init: torch's default Conv2d init for the patch
# embedding, trunc-normal 0.02 for every Linear (vision_transformer.py
# `_init_weights`), zero biases.
VIT_INIT = dict(patch_init='torch', dense_init='trunc_normal')


def vit_positions_and_depth(crop_size: int, patch_size: int) -> dict:
  """config.backbone values of the official student ViT: a learned table of
  the global crops' grid with a CLS row, resized bicubically for other
  grids (`interpolate_pos_encoding`), and stochastic depth 0.1
  (main_dino.py `--drop_path_rate`)."""
  return dict(pos_embed='interpolated', pos_grid=crop_size // patch_size,
              drop_path=0.1)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for DINO: main_dino.py's defaults (ViT-S/16 vanilla)."""
  return ml_collections.ConfigDict(dict(
      name='dino',
      out_dim=65536,  # K, the number of prototypes.
      head_hidden=2048,
      head_bottleneck=256,
      head_use_bn=False,
      norm_last_layer=True,  # Freeze g = 1 (False in the boosted ViT-S run).
      student_temp=0.1,
      teacher_temp=0.04,  # Final teacher temperature (boosted: 0.07).
      warmup_teacher_temp=0.04,
      warmup_teacher_temp_epochs=0,  # Boosted: 30.
      center_momentum=0.9,
      ema_base=0.996,  # Teacher momentum, cosine to 1.
      freeze_last_layer_epochs=1.0,
  ))


def teacher_temperature(step, steps_per_epoch: int, warmup: float,
                        final: float, warmup_epochs: int):
  """DINO's per-epoch teacher temperature.

  The official `np.concatenate((np.linspace(warmup, final, W),
  np.ones(epochs - W) * final))[epoch]`; epoch = step // steps_per_epoch.
  Example: warmup 0.04, final 0.07, W = 30: epoch 1 -> 0.041034...,
  epoch 29 -> 0.07.
  """
  if warmup_epochs <= 0:
    return jnp.asarray(final, jnp.float32)
  epoch = step // max(steps_per_epoch, 1)
  fraction = epoch / max(warmup_epochs - 1, 1)
  ramp = warmup + (final - warmup) * fraction
  return jnp.where(epoch < warmup_epochs, ramp, final).astype(jnp.float32)


class Method(base.MethodBase):
  """DINO: multi-crop student, EMA teacher on the global crops, centring."""
  num_views = _NUM_GLOBAL
  supports_local_crops = True

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    m = config.method
    if not isinstance(m.warmup_teacher_temp_epochs, int) or (
        m.warmup_teacher_temp_epochs < 0):
      raise config_lib.ConfigError(
          'config.method.warmup_teacher_temp_epochs='
          f'{m.warmup_teacher_temp_epochs!r} must be an integer >= 0.')
    for key in ('student_temp', 'teacher_temp', 'warmup_teacher_temp'):
      if not m[key] > 0:
        raise config_lib.ConfigError(
            f'config.method.{key}={m[key]!r} must be > 0.')
    self.model = multicrop.MultiCrop(self.backbone, dino_head.DINOHead(
        out_dim=m.out_dim, hidden=m.head_hidden,
        bottleneck=m.head_bottleneck, use_bn=m.head_use_bn,
        norm_last_layer=m.norm_last_layer, dtype=self.dtype,
        bn_axis_name=self.bn_axis_name))
    self.freeze_steps = int(round(m.freeze_last_layer_epochs *
                                  self.steps_per_epoch))

  # ------------------------------------------------------------- schedules
  def teacher_temp(self, step):
    m = self.config.method
    return teacher_temperature(step, self.steps_per_epoch,
                               m.warmup_teacher_temp, m.teacher_temp,
                               m.warmup_teacher_temp_epochs)

  def momentum(self, step):
    return optim.ema_cosine(step, self.total_steps, self.config.method.ema_base)

  # ----------------------------------------------------------------- hooks
  def _groups(self, views, teacher: bool):
    """Same-size crops as one batch each, image-major (models/multicrop.py);
    the teacher sees the global crops only."""
    return multicrop.crop_groups(views, _NUM_GLOBAL, globals_only=teacher)

  def init(self, rng, views):
    variables = self.model.init(rng, self._groups(views, teacher=False),
                                train=True)
    params, student_mutables = base.split_variables(variables)
    # The teacher starts as a copy of the student (official load_state_dict,
    # buffers included); copies, so no two state leaves share a buffer.
    copy = lambda tree: jax.tree.map(jnp.copy, tree)
    mutables = {'student': student_mutables,
                'teacher': copy(student_mutables)}
    extras = {'teacher': copy(params),
              'center': jnp.zeros((self.config.method.out_dim,),
                                  jnp.float32)}
    return base.Variables(params, mutables, extras)

  def _drop_keys(self, views, rng, example_ids):
    """The student's stochastic-depth keys, one per crop of each image,
    grouped as `_groups` (None without drop_path or outside training)."""
    if not self.config.backbone.get('drop_path'):
      return None
    return multicrop.crop_drop_keys(views, _NUM_GLOBAL, rng, example_ids)

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    student_vars = mutables['student']
    drop_keys = self._drop_keys(views, rng, example_ids) if train else None
    (h, z, logits), student_vars = self.model.apply(
        {'params': params, **student_vars}, self._groups(views, False),
        train=train, drop_keys=drop_keys, mutable=list(student_vars))
    teacher_vars = mutables['teacher']
    (_, _, teacher_logits), teacher_vars = self.model.apply(
        {'params': extras['teacher'], **teacher_vars},
        self._groups(views, True), train=train, mutable=list(teacher_vars))
    # Batch axis first (the pmap trainer all-gathers along axis 0).
    outputs = {
        'student_logits': logits,  # [N, 2 + M, K]
        'teacher_logits': jax.lax.stop_gradient(teacher_logits),
        'features': h[:, 0],  # Student backbone, global crop 0.
        'embedding': z[:, 0],  # Student bottleneck, global crop 0.
    }
    return outputs, {'student': student_vars, 'teacher': teacher_vars}

  def objective(self, outputs, extras, step):
    m = self.config.method
    temp = self.teacher_temp(step)
    loss = losses.dino(jnp.swapaxes(outputs['student_logits'], 0, 1),
                       jnp.swapaxes(outputs['teacher_logits'], 0, 1),
                       extras['center'], m.student_temp, temp)
    metrics = {'dino': loss, 'teacher_temp': temp,
               'ema_momentum': self.momentum(step)}
    return loss, metrics, {'teacher_logits': outputs['teacher_logits']}

  def update_extras(self, extras, params, aux, step):
    teacher = optim.ema_update(extras['teacher'], params, self.momentum(step))
    center = losses.dino_center(aux['teacher_logits'], extras['center'],
                                self.config.method.center_momentum)
    return {'teacher': teacher, 'center': center}

  def frozen_start(self):
    """(is the last layer, steps): the optimizer skips those arrays for the
    first freeze epochs (optim.make), as AdamW skips a grad of None."""
    return (_is_last_layer, self.freeze_steps) if self.freeze_steps else None

  def embed(self, params, mutables, extras, images):
    """The teacher's backbone features: the network the paper evaluates."""
    del params
    return self.model.apply({'params': extras['teacher'],
                             **mutables['teacher']}, images,
                            method=multicrop.MultiCrop.features)

  def backbone_variables(self, params, mutables, extras) -> dict:
    """The teacher's backbone (what `embed` evaluates)."""
    del params
    variables = {'params': extras['teacher']['backbone']}
    stats = mutables['teacher'].get('batch_stats', {})
    if 'backbone' in stats:
      variables['batch_stats'] = stats['backbone']
    return variables
