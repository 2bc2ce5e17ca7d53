"""End-to-end fine-tuning of a pretrained backbone (layer-wise lr decay where
the backbone declares layers: ViT, ConvNeXt).

MAE's protocol (`main_finetune.py`, `util/lr_decay.py`,
docs/methods.md#fine-tuning), through what the backbone declares
(models/__init__.py): a ViT's `finetune_features` drop the encoder's final
LayerNorm and average-pool the patch tokens, which a new LayerNorm
(`fc_norm`, as `finetune_fc_norm` asks) normalises and a new Linear head
classifies (weights N(0, 2e-5), the official trunc-normal std);
everything trains with AdamW (beta 0.9, 0.999), lr warm-up from 0 then
half-cosine to `min_lr` per step, label smoothing 0.1, and layer-wise lr
decay: the update of a parameter in layer i is scaled by
ld^(L + 1 - i), with the backbone's `num_layers` L and `layer_id` (ViT:
patch embedding / CLS / position embedding = layer 0, block j = layer
j + 1; ConvNeXt: the official 12 groups) and fc_norm / head = layer L + 1. Weight decay skips
biases and norm scales (ndim <= 1) and the CLS / position / register tokens
(the official `no_weight_decay` list).

Not reproduced (small-data protocol, training data held in memory): no
RandAugment, mixup, cutmix, random erasing or drop-path (the ViT has none);
the only augmentation is a horizontal flip. The whole training is one jitted
`lax.scan`, as linear.py.

A backbone that declares none of this (the ResNets) is fine-tuned the same
way without layer decay: pooled features -> a new Linear head, BatchNorm
(if any) in training mode
with its running statistics carried on from the checkpoint (the standard
supervised recipe), scored with those statistics.

Which weights: `method.backbone_variables(params, mutables, extras)`, the
network the method is evaluated with (I-JEPA: its target encoder, DINO:
its teacher).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssl_jax import models
from ssl_jax.data import augment
from ssl_jax.evals import knn

# Token parameters without weight decay (MAE's no_weight_decay list).
_NO_DECAY = ('cls', 'pos_embed', 'registers')


class Classifier(nn.Module):
  """The backbone's fine-tuning features (its `finetune_features`, else its
  pooled features) -> a new LayerNorm if it asks (`finetune_fc_norm`) -> a
  new Linear head."""
  backbone: nn.Module
  num_classes: int

  @nn.compact
  def __call__(self, x, train: bool = True):
    if hasattr(self.backbone, 'finetune_features'):
      pooled = self.backbone.finetune_features(x, train=train)
    else:
      pooled = self.backbone(x, train=train)
    if getattr(self.backbone, 'finetune_fc_norm', False):
      pooled = nn.LayerNorm(epsilon=1e-6, name='fc_norm')(pooled)
    return nn.Dense(self.num_classes, name='head',
                    kernel_init=nn.initializers.normal(2e-5))(pooled)


def _keys(path):
  return [str(getattr(p, 'key', p)) for p in path]


def layer_id(path, backbone) -> int:
  """The layer of a classifier parameter: the backbone's `layer_id` inside
  it, L + 1 for fc_norm and the head."""
  keys = _keys(path)
  if keys[0] != 'backbone':
    return models.num_layers(backbone) + 1
  return backbone.layer_id(keys[1:])


def layer_scales(params, backbone, layer_decay: float):
  """lr scale ld^(L + 1 - layer_id) per parameter (a tree like params);
  a backbone without layers (L = 0: no layer decay): all ones."""
  depth = models.num_layers(backbone)
  if depth == 0:
    return jax.tree.map(lambda _: 1.0, params)
  return jax.tree_util.tree_map_with_path(
      lambda path, _: float(layer_decay) ** (depth + 1 -
                                             layer_id(path, backbone)),
      params)


def decay_mask(params):
  """True where weight decay applies: ndim > 1 and not a token parameter."""
  return jax.tree_util.tree_map_with_path(
      lambda path, p: p.ndim > 1 and _keys(path)[-1] not in _NO_DECAY,
      params)


def pretrained_backbone(method, state) -> dict:
  """The backbone variables a method is evaluated with ({'params', and
  'batch_stats' with BatchNorm}), less what fine-tuning leaves out (the
  backbone's `finetune_unused`: a ViT's final norm, see module)."""
  variables = dict(method.backbone_variables(
      state.params['model'], state.mutables, state.extras))
  unused = getattr(method.backbone, 'finetune_unused', ())
  variables['params'] = {k: v for k, v in variables['params'].items()
                         if k not in unused}
  return variables


@functools.partial(jax.jit, static_argnames=(
    'model', 'epochs', 'batch_size', 'warmup_steps', 'lr', 'min_lr',
    'layer_decay', 'mean', 'std', 'flip'))
def train_classifier(model, params, batch_stats, images, labels, key, *,
                     epochs: int,
                     batch_size: int, warmup_steps: int, lr: float,
                     min_lr: float, layer_decay: float, weight_decay: float,
                     label_smoothing: float, mean: tuple, std: tuple,
                     flip: bool):
  """Trains all of a `Classifier`'s `params` (and BatchNorm `batch_stats`,
  {} for a ViT) on uint8 `images` [N, H, W, C] with integer `labels`;
  returns (params, batch_stats, last epoch's mean loss)."""
  scales = layer_scales(params, model.backbone, layer_decay)
  mask = decay_mask(params)
  n = images.shape[0]
  steps_per_epoch = n // batch_size
  total = epochs * steps_per_epoch
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, lr, warmup_steps, max(total, warmup_steps + 1), end_value=min_lr)
  scale = optax.stateless(
      lambda updates, params=None: jax.tree.map(lambda u, s: u * s, updates,
                                                scales))
  tx = optax.chain(optax.adamw(schedule, b1=0.9, b2=0.999,
                               weight_decay=weight_decay, mask=mask), scale)
  opt_state = tx.init(params)
  num_classes = model.num_classes

  def loss_fn(params, batch_stats, x, y):
    if batch_stats:
      logits, new = model.apply({'params': params, 'batch_stats': batch_stats},
                                x, train=True, mutable=['batch_stats'])
      batch_stats = new['batch_stats']
    else:
      logits = model.apply({'params': params}, x, train=True)
    targets = optax.smooth_labels(jax.nn.one_hot(y, num_classes),
                                  label_smoothing)
    loss = optax.softmax_cross_entropy(logits.astype(jnp.float32),
                                       targets).mean()
    return loss, batch_stats

  def step(carry, batch):
    params, batch_stats, opt_state = carry
    idx, key = batch
    x = augment.normalize(images[idx].astype(jnp.float32) / 255.0, mean,
                          std)
    if flip:
      flips = jax.random.bernoulli(key, 0.5, (x.shape[0], 1, 1, 1))
      x = jnp.where(flips, x[:, :, ::-1], x)
    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, batch_stats, x, labels[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), batch_stats,
            opt_state), loss

  def epoch(carry, key):
    k_order, k_flip = jax.random.split(key)
    order = jax.random.permutation(k_order, n)[:steps_per_epoch * batch_size]
    batches = (order.reshape(steps_per_epoch, batch_size),
               jax.random.split(k_flip, steps_per_epoch))
    carry, losses = jax.lax.scan(step, carry, batches)
    return carry, losses.mean()

  (params, batch_stats, _), epoch_losses = jax.lax.scan(
      epoch, (params, batch_stats, opt_state), jax.random.split(key, epochs))
  return params, batch_stats, epoch_losses[-1]


@functools.partial(jax.jit, static_argnames=('model', 'mean', 'std'))
def _logits(model, variables, images, mean, std):
  x = augment.normalize(images.astype(jnp.float32) / 255.0, mean, std)
  return model.apply(variables, x, train=False).astype(jnp.float32)


def predict(model, variables, images, *, mean, std,
            batch_size: int = 1024) -> np.ndarray:
  """Logits of uint8 images, in batches (the last one padded)."""
  out = []
  for start in range(0, len(images), batch_size):
    chunk = np.asarray(images[start:start + batch_size])
    pad = batch_size - len(chunk) if len(images) > batch_size else 0
    if pad:
      chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:],
                                              chunk.dtype)])
    logits = np.asarray(_logits(model, variables, jnp.asarray(chunk), mean,
                                std))
    out.append(logits[:len(logits) - pad])
  return np.concatenate(out)


def evaluate(method, state, train_images, train_labels, test_images,
             test_labels, *, num_classes: int, epochs: int = 10,
             batch_size: int = 256, lr: float = 1e-3,
             layer_decay: float = 0.75, weight_decay: float = 0.05,
             warmup_epochs: float = 1.0, min_lr: float = 1e-6,
             label_smoothing: float = 0.1, flip: bool = True,
             seed: int = 0) -> dict:
  """Fine-tunes the method's backbone on uint8 images [N, H, W, C];
  returns test {'top1', 'top5', ...} and the settings.

  `lr` is the peak lr (MAE: blr x B/256, e.g. 5e-4 x B/256 for ViT-B with
  layer_decay 0.65, 1e-3 x B/256 with 0.75 for ViT-L/H). `layer_decay`
  applies to backbones that declare layers (models.num_layers).
  """
  backbone = method.backbone
  decays = models.num_layers(backbone) > 0
  data = method.config.data
  mean, std = tuple(data.mean), tuple(data.std)
  model = Classifier(method.backbone, num_classes)
  init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
  sample = jnp.zeros((1,) + tuple(train_images.shape[1:]), jnp.float32)
  params = model.init(init_key, sample, train=False)['params']
  pretrained = pretrained_backbone(method, state)
  params = jax.tree.map(jnp.asarray,
                        dict(params, backbone=pretrained['params']))
  batch_stats = jax.tree.map(jnp.asarray, (
      {'backbone': pretrained['batch_stats']}
      if 'batch_stats' in pretrained else {}))
  batch_size = min(batch_size, len(train_images))
  steps_per_epoch = len(train_images) // batch_size
  params, batch_stats, train_loss = train_classifier(
      model, params, batch_stats, jnp.asarray(train_images), jnp.asarray(train_labels),
      train_key, epochs=epochs, batch_size=batch_size,
      warmup_steps=int(round(warmup_epochs * steps_per_epoch)),
      lr=float(lr), min_lr=float(min_lr),
      layer_decay=float(layer_decay) if decays else 1.0,
      weight_decay=weight_decay, label_smoothing=label_smoothing, mean=mean,
      std=std, flip=flip)
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
  logits = predict(model, variables, test_images, mean=mean, std=std)
  return {'top1': knn.topk_accuracy(logits, test_labels, 1),
          'top5': knn.topk_accuracy(logits, test_labels,
                                    min(5, num_classes)),
          'train_loss': float(train_loss), 'epochs': epochs, 'lr': lr,
          'batch_size': batch_size,
          'layer_decay': layer_decay if decays else None,
          'weight_decay': weight_decay, 'warmup_epochs': warmup_epochs,
          'label_smoothing': label_smoothing,
          'optimizer': 'adamw+layer-decay+cosine' if decays else 'adamw+cosine',
          'pool': _pool_name(backbone),
          # Its BatchNorm trains on, from the checkpoint's statistics.
          'batch_norm': models.has_batch_norm(backbone)}


def _pool_name(backbone) -> str:
  if hasattr(backbone, 'finetune_features'):  # A ViT's mean of patches.
    return 'mean' + ('+LN' if getattr(backbone, 'finetune_fc_norm', False)
                     else '')
  return type(backbone).__name__
