"""DINOv2 (Oquab et al., arXiv 2304.07193; facebookresearch/dinov2
`train/ssl_meta_arch.py`, docs/methods.md#dinov2).

DINO's image-level self-distillation plus iBOT's masked-patch
self-distillation, with an EMA teacher on the two global crops:

  student  ViT on all 2 + M crops (multicrop.py: a group per crop size),
           its global crops with block masks (data/masking.py: ibot_masks;
           the masked patch embeddings replaced by the ViT's mask token),
           stochastic depth per crop. DINO head on every crop's CLS token;
           the iBOT head (its own, or the DINO head's when
           `separate_ibot_head` is False, the official default) on the
           masked patch tokens of the global crops.
  teacher  EMA of the student (backbone and heads; momentum on a half
           cosine from ema_base to 1), unmasked global crops, no drop-path.
           Its DINO head on the CLS tokens, its iBOT head on the patch
           tokens at the student's masked positions.
  centre   `centering='sinkhorn_knopp'` (the paper, vitg14.yaml): three
           Sinkhorn-Knopp iterations over the global batch of teacher
           outputs, the iBOT ones over the masked patches only;
           `'centering'` (ssl_default_config.yaml): DINO's softmax of
           (t - c) / tau_t with EMA centres (0.9) of the teacher's CLS
           outputs and of its masked-patch outputs (`extras`).
  loss     dino_weight x DINO + koleo_weight x KoLeo + ibot_weight x iBOT:
           DINO over the pairs (teacher crop i, student crop j != i), the
           official sum over pairs / (2 + max(2M, 1)) (the mean over pairs
           with local crops; 2/3 of it without); KoLeo summed over the two
           global crops of the student's CLS tokens, each within groups of
           `koleo_batch` consecutive images of the global batch (the
           official per-GPU batch: what a "GPU" is here, independent of the
           device count, so jit and pmap agree); iBOT: per crop the mean
           over its masked patches, then the mean over all global crops.

Static shapes: each global crop's masked patches are gathered into
int(T max ratio) slots in raster order, `patch_valid` marking the real ones
(the official packs them into one buffer of the batch's `upperbound`).
Schedules: teacher temperature warmup_teacher_temp -> teacher_temp linearly
per step over warmup_teacher_temp_epochs (the official CosineScheduler's
warm-up, np.linspace), then constant; the heads' last layers get no update
for freeze_last_layer_epochs (the official sets their lr to 0: no update,
no decay, Adam's moments still accumulate). Layer-wise lr decay and the
patch embedding's multiplier are config.optim.layer_decay /
patch_embed_lr_mult (optim.py). Evaluation features (`embed`) and the
online probe's are the teacher's (the official evaluates the teacher).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import losses
from ssl_jax import models
from ssl_jax import optim
from ssl_jax.data import masking
from ssl_jax.methods import base
from ssl_jax.models import dino_head
from ssl_jax.models import multicrop

_NUM_GLOBAL = 2
CENTERINGS = ('sinkhorn_knopp', 'centering')
_HEADS = ('dino_head', 'ibot_head')


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for DINOv2: ssl_default_config.yaml's values."""
  return ml_collections.ConfigDict(dict(
      name='dinov2',
      out_dim=65536,  # dino.head_n_prototypes.
      head_hidden=2048,
      head_bottleneck=256,
      separate_ibot_head=False,  # ibot.separate_head (vitg14: True).
      ibot_out_dim=65536,  # Only with a separate iBOT head.
      ibot_head_hidden=2048,
      ibot_head_bottleneck=256,
      centering='centering',  # train.centering (vitg14: 'sinkhorn_knopp').
      center_momentum=0.9,
      student_temp=0.1,
      teacher_temp=0.07,
      warmup_teacher_temp=0.04,
      warmup_teacher_temp_epochs=30.0,
      ema_base=0.992,  # momentum_teacher, cosine to 1.
      freeze_last_layer_epochs=1.0,
      dino_weight=1.0,
      koleo_weight=0.1,
      ibot_weight=1.0,
      mask_probability=0.5,
      mask_ratio=(0.1, 0.5),
      koleo_batch=64,  # train.batch_size_per_gpu.
  ))


def validate_config(config) -> None:
  """Checks config.method (and that the backbone is a ViT with a CLS
  token) before anything is built."""
  m, check = config.method, config_checks.check
  for key in ('out_dim', 'head_hidden', 'head_bottleneck', 'ibot_out_dim',
              'ibot_head_hidden', 'ibot_head_bottleneck', 'koleo_batch'):
    config_checks.positive(config, f'method.{key}', integer=True)
  for key in ('student_temp', 'teacher_temp', 'warmup_teacher_temp'):
    config_checks.positive(config, f'method.{key}')
  for key in ('warmup_teacher_temp_epochs', 'freeze_last_layer_epochs',
              'dino_weight', 'koleo_weight', 'ibot_weight'):
    config_checks.non_negative(config, f'method.{key}')
  for key in ('center_momentum', 'ema_base', 'mask_probability'):
    config_checks.fraction(config, f'method.{key}')
  config_checks.pair(config, 'method.mask_ratio', high=1)
  config_checks.choice(config, 'method.centering', CENTERINGS)
  config_checks.choice(config, 'method.separate_ibot_head', (True, False))
  b = config.backbone
  check(models.token_output(models.backbone_class(b.name)) and
        b.get('cls_token', False), 'backbone.name', b.name,
        'DINOv2 needs a ViT with a CLS token (patch tokens, mask token)')
  per_step = config.batch_size // max(config.get('grad_accum_steps', 1), 1)
  check(per_step % m.koleo_batch == 0 and per_step // m.koleo_batch >= 1,
        'method.koleo_batch', m.koleo_batch, 'must divide the batch of a '
        f'step (config.batch_size / grad_accum_steps = {per_step})')
  check(m.koleo_batch >= 2, 'method.koleo_batch', m.koleo_batch,
        'must be >= 2 (KoLeo needs a nearest neighbour)')


def teacher_temperature(step, warmup_steps: int, warmup: float,
                        final: float):
  """np.linspace(warmup, final, W)[step] for step < W, then `final`."""
  if warmup_steps <= 0:
    return jnp.asarray(final, jnp.float32)
  ramp = warmup + (final - warmup) * step / max(warmup_steps - 1, 1)
  return jnp.where(step < warmup_steps, ramp, final).astype(jnp.float32)


def _is_last_layer(path) -> bool:
  keys = [getattr(p, 'key', None) for p in path[:2]]
  return keys[0] in _HEADS and keys[1] == 'last_layer'


def patch_slots(masks, num_slots: int):
  """(indices [B, S], valid [B, S]) of each row's masked patches, raster
  order first (a stable sort), padded with unmasked ones marked invalid."""
  slots = jnp.argsort(~masks, axis=-1, stable=True)[:, :num_slots]
  return slots, jnp.take_along_axis(masks, slots, axis=-1)


class _Model(nn.Module):
  """ViT per crop group; DINO head on the CLS tokens, iBOT head on the
  global crops' patch tokens at `slots`."""
  backbone: nn.Module
  dino_head: nn.Module
  ibot_head: nn.Module | None  # None: the DINO head.

  def __call__(self, groups, slots, masks=None, drop_keys=None):
    keys = drop_keys or [None] * len(groups)
    tokens = self.backbone(groups[0], return_tokens=True, masks=masks,
                           drop_keys=keys[0])
    n = groups[0].shape[0] // _NUM_GLOBAL
    cls = [tokens[:, 0].reshape(n, _NUM_GLOBAL, -1)]
    for x, k in zip(groups[1:], keys[1:]):
      local = self.backbone(x, return_tokens=True, drop_keys=k)[:, 0]
      cls.append(local.reshape(n, -1, local.shape[-1]))
    crops = jnp.concatenate(cls, axis=1)  # [N, C, D], image-major.
    z, logits = self.dino_head(crops.reshape(-1, crops.shape[-1]))
    patches = tokens[:, self.backbone.num_prefix_tokens:]
    picked = jnp.take_along_axis(patches, slots[..., None], axis=1)
    head = self.ibot_head or self.dino_head
    _, patch_logits = head(picked.reshape(-1, picked.shape[-1]))
    return dict(cls=cls[0], z=z.reshape(n, -1, z.shape[-1]),
                logits=logits.reshape(n, -1, logits.shape[-1]),
                patch_logits=patch_logits.reshape(
                    (n, _NUM_GLOBAL) + slots.shape[1:] + (-1,)))

  def features(self, x):
    return self.backbone(x, train=False)


class Method(base.MethodBase):
  """DINOv2: DINO + iBOT + KoLeo, EMA teacher, multi-crop, masks."""
  num_views = _NUM_GLOBAL
  supports_local_crops = True

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    validate_config(config)
    m = config.method
    head = lambda out, hidden, bottleneck: dino_head.DINOHead(
        out_dim=out, hidden=hidden, bottleneck=bottleneck, use_bn=False,
        norm_last_layer=False, dtype=self.dtype)  # weight_g trained.
    self.model = _Model(
        self.backbone, head(m.out_dim, m.head_hidden, m.head_bottleneck),
        head(m.ibot_out_dim, m.ibot_head_hidden, m.ibot_head_bottleneck)
        if m.separate_ibot_head else None)
    grid = config.aug.crop_size // config.backbone.patch_size
    self.grid = (grid, grid)
    self.num_slots = max(int(grid * grid * m.mask_ratio[1]), 1)
    epochs = lambda e: int(round(e * self.steps_per_epoch))
    self.freeze_steps = epochs(m.freeze_last_layer_epochs)
    self.temp_warmup_steps = epochs(m.warmup_teacher_temp_epochs)

  # ------------------------------------------------------------- schedules
  def teacher_temp(self, step):
    m = self.config.method
    return teacher_temperature(step, self.temp_warmup_steps,
                               m.warmup_teacher_temp, m.teacher_temp)

  def momentum(self, step):
    return optim.ema_cosine(step, self.total_steps, self.config.method.ema_base)

  # ----------------------------------------------------------------- hooks
  def _masks(self, rng, n, example_ids):
    """Block masks of the global crops, image-major [N * 2, T], and their
    slots (indices, valid) [N * 2, S]."""
    m = self.config.method
    ids = jnp.arange(n) if example_ids is None else example_ids
    masks = masking.ibot_masks(rng, ids, self.grid, _NUM_GLOBAL,
                               probability=m.mask_probability,
                               ratio=tuple(m.mask_ratio))
    masks = masks.reshape(n * _NUM_GLOBAL, -1)
    return (masks,) + patch_slots(masks, self.num_slots)

  def init(self, rng, views):
    model_rng, mask_rng = jax.random.split(rng)
    masks, slots, _ = self._masks(mask_rng, views[0].shape[0], None)
    groups = multicrop.crop_groups(views, _NUM_GLOBAL)
    params = self.model.init(model_rng, groups, slots, masks)['params']
    copy = lambda tree: jax.tree.map(jnp.copy, tree)
    extras = {'teacher': copy(params)}
    if self.config.method.centering == 'centering':
      m = self.config.method
      ibot_dim = m.ibot_out_dim if m.separate_ibot_head else m.out_dim
      extras.update(dino_center=jnp.zeros((m.out_dim,), jnp.float32),
                    ibot_center=jnp.zeros((ibot_dim,), jnp.float32))
    return base.Variables(params, {}, extras)

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    n = views[0].shape[0]
    mask_rng, drop_rng = jax.random.split(rng)
    masks, slots, valid = self._masks(mask_rng, n, example_ids)
    drop_keys = None
    if train and self.config.backbone.get('drop_path'):
      drop_keys = multicrop.crop_drop_keys(views, _NUM_GLOBAL, drop_rng,
                                           example_ids)
    student = self.model.apply(
        {'params': params}, multicrop.crop_groups(views, _NUM_GLOBAL),
        slots, masks, drop_keys)
    teacher = jax.lax.stop_gradient(self.model.apply(
        {'params': extras['teacher']},
        multicrop.crop_groups(views, _NUM_GLOBAL, globals_only=True), slots))
    # Batch axis first (the pmap trainer all-gathers along axis 0).
    outputs = {
        'student_logits': student['logits'],  # [N, 2 + M, K]
        'teacher_logits': teacher['logits'],  # [N, 2, K]
        'student_cls': student['cls'],  # [N, 2, D], KoLeo's input.
        'student_patch_logits': student['patch_logits'],  # [N, 2, S, K']
        'teacher_patch_logits': teacher['patch_logits'],
        'patch_valid': valid.reshape(n, _NUM_GLOBAL, -1),  # [N, 2, S]
        'features': teacher['cls'][:, 0],  # Unmasked global crop 0.
        'embedding': student['z'][:, 0],
    }
    return outputs, mutables

  def _teacher_probs(self, outputs, extras, temp):
    """The teacher's CLS [2, N, K] and masked-patch [N * 2 * S, K']
    targets: Sinkhorn-Knopp, or softmax of the centred outputs."""
    t = jnp.swapaxes(outputs['teacher_logits'], 0, 1)
    tp = outputs['teacher_patch_logits']
    tp = tp.reshape(-1, tp.shape[-1])
    valid = outputs['patch_valid'].reshape(-1)
    if self.config.method.centering == 'sinkhorn_knopp':
      probs = losses.sinkhorn_knopp(t.reshape(-1, t.shape[-1]), temp)
      return (probs.reshape(t.shape),
              losses.sinkhorn_knopp(tp, temp, valid=valid))
    probs = jax.nn.softmax((t - extras['dino_center']) / temp, axis=-1)
    patch = jax.nn.softmax((tp - extras['ibot_center']) / temp, axis=-1)
    return probs, jnp.where(valid[:, None], patch, 0.0)

  def objective(self, outputs, extras, step):
    m = self.config.method
    temp = self.teacher_temp(step)
    probs, patch_probs = self._teacher_probs(outputs, extras, temp)
    student = jnp.swapaxes(outputs['student_logits'], 0, 1)  # [C, N, K]
    # The official sum over pairs / (2 + max(2M, 1)).
    n_pairs = _NUM_GLOBAL * (student.shape[0] - 1)
    local_terms = max(_NUM_GLOBAL * (student.shape[0] - _NUM_GLOBAL), 1)
    dino = losses.dino_cross_entropy(student, probs, m.student_temp) * (
        n_pairs / (_NUM_GLOBAL + local_terms))
    cls = outputs['student_cls']
    groups = cls.shape[0] // m.koleo_batch
    koleo = sum(losses.koleo(cls[:, c], groups) for c in range(_NUM_GLOBAL))
    sp = outputs['student_patch_logits']
    rows = sp.shape[0] * _NUM_GLOBAL
    ibot = losses.ibot_patch(
        sp.reshape((rows,) + sp.shape[2:]),
        patch_probs.reshape((rows,) + sp.shape[2:]),
        outputs['patch_valid'].reshape(rows, -1), m.student_temp)
    loss = m.dino_weight * dino + m.koleo_weight * koleo + m.ibot_weight * ibot
    metrics = {'dino': dino, 'koleo': koleo, 'ibot': ibot,
               'teacher_temp': temp, 'ema_momentum': self.momentum(step),
               'masked_fraction': jnp.mean(outputs['patch_valid'])}
    aux = {}
    if m.centering == 'centering':
      aux = {k: outputs[k] for k in ('teacher_logits', 'teacher_patch_logits',
                                     'patch_valid')}
    return loss, metrics, aux

  def update_extras(self, extras, params, aux, step):
    new = {'teacher': optim.ema_update(extras['teacher'], params,
                                       self.momentum(step))}
    if self.config.method.centering == 'centering':
      mom = self.config.method.center_momentum
      new['dino_center'] = losses.dino_center(aux['teacher_logits'],
                                              extras['dino_center'], mom)
      # The mean over the masked patches of the global batch.
      tp = aux['teacher_patch_logits'].reshape(
          -1, extras['ibot_center'].shape[0])
      w = aux['patch_valid'].reshape(-1, 1).astype(jnp.float32)
      mean = jnp.sum(tp * w, axis=0) / jnp.maximum(jnp.sum(w), 1.0)
      new['ibot_center'] = mom * extras['ibot_center'] + (1 - mom) * mean
    return new

  def adjust_updates(self, updates, step):
    """No update of the heads' last layers for the first freeze steps (the
    official lr 0: Adam's moments still move, weight decay does not)."""
    if not self.freeze_steps:
      return updates
    live = step >= self.freeze_steps
    return jax.tree_util.tree_map_with_path(
        lambda path, u: jnp.where(live, u, jnp.zeros_like(u))
        if _is_last_layer(path) else u, updates)

  def embed(self, params, mutables, extras, images):
    """The teacher's backbone features: the network the paper evaluates."""
    del params, mutables
    return self.model.apply({'params': extras['teacher']}, images,
                            method=_Model.features)

  def backbone_variables(self, params, mutables, extras) -> dict:
    del params, mutables
    return {'params': extras['teacher']['backbone']}
