"""I-JEPA (Assran et al., arXiv 2301.08243; facebookresearch/ijepa
`src/train.py`, `src/masks/multiblock.py`, `src/models/vision_transformer.py`).

Joint-embedding predictive architecture: from one context block of an image
a narrow predictor predicts, in latent space, the representations of M = 4
target blocks of the same image (docs/methods.md#i-jepa):

  context encoder  the ViT (no CLS) on the context patches only
                   (`ViT(keep=context)`): params['backbone'].
  target encoder   an EMA of the context encoder (`extras['target']`, a copy
                   at init; momentum linear from ema_base to ema_final over
                   the run), on the full image, under stop_gradient.
  predictor        models/ijepa_predictor.py, run once per target block (the
                   context is repeated M times): params['predictor'].
  loss             losses.ijepa: smooth-L1 onto the layer-normalised target
                   tokens of the blocks (LN inside the loss; per token, so
                   gathering first is the same), over the real tokens only.

Masks are generated on device (data/multiblock.py: ijepa_masks): block
sizes once per batch from the step key (the same on every device, as the
official per-iteration seed), positions per example from
fold_in(key, example id). Shapes are static: every target block is padded
to the largest block and the context to `num_context_tokens`, with
validity masks (attention key masks in the encoder and predictor, a masked
mean in the loss and the pooled features); the context keeps the official
length, the shortest clean context of its `context_group` examples (the
official per-GPU batch). `context_tokens` logs the mean context length.

Outputs for the trainer: `features` = `embedding` = the mean of the context
encoder's output tokens (valid context only). `embed` (evaluation) = the
target encoder on the full image, mean-pooled: the official evaluation
loads the target encoder (`backbone_params` gives it to fine-tuning too).

Differences from the official code besides static shapes: the Dense layers
are xavier-uniform (official: trunc-normal 0.02 with the per-depth rescale
of the output projections). The patch embedding is the official
trunc-normal 0.02 with a zero bias (VIT_INIT). The lr warm-up starts at
2e-4 through `optim.start_lr_ratio` (configs/ijepa_imagenet.py).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from ml_collections import config_dict

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import optim
from ssl_jax.data import multiblock
from ssl_jax.methods import base
from ssl_jax.models import ijepa_predictor
from ssl_jax.models import patches


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  for key in ('ema_base', 'ema_final'):
    config_checks.fraction(config, f'method.{key}')
  for key in ('pred_dim', 'pred_depth', 'pred_heads', 'num_targets',
              'min_keep', 'num_context_tokens', 'context_group'):
    config_checks.positive(config, f'method.{key}', integer=True)
  config_checks.positive(config, 'method.num_target_tokens', integer=True,
                         optional=True)
  m = config.method
  config_checks.check(m.pred_dim % m.pred_heads == 0, 'method.pred_heads',
                      m.pred_heads,
                      f'must divide config.method.pred_dim={m.pred_dim}')
  for key in ('target_scale', 'context_scale'):
    config_checks.pair(config, f'method.{key}', high=1)
  config_checks.pair(config, 'method.target_aspect')


# config.backbone values of the official ViT (`vision_transformer.py`:
# trunc_normal_(std=0.02) on the patch embedding; models/vit_init.py).
VIT_INIT = dict(patch_init='trunc_normal')


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for I-JEPA: `configs/in1k_vith14_ep300.yaml` values."""
  return ml_collections.ConfigDict(dict(
      name='ijepa',
      ema_base=0.996,  # Target momentum, linear to ema_final over the run.
      ema_final=1.0,
      pred_dim=384,
      pred_depth=12,
      pred_heads=16,
      num_targets=4,  # [npred]
      target_scale=(0.15, 0.2),
      target_aspect=(0.75, 1.5),
      context_scale=(0.85, 1.0),
      min_keep=10,
      allow_overlap=False,
      # Padded context length K_c; each context keeps the shortest clean
      # context of its group of `context_group` examples (the official
      # per-GPU batch: 2048 / 16 GPUs), at most K_c. At 16x16 with groups
      # of 128 that minimum never passed 101 in 3,000 simulated batches
      # (median 69): 112 is never binding there (docs/methods.md#i-jepa).
      num_context_tokens=112,
      context_group=128,
      # Padded target block length; None: the largest block the ranges
      # allow (54 at 16x16), so no block is cut.
      num_target_tokens=config_dict.placeholder(int),
  ))


class _Model(nn.Module):
  backbone: nn.Module
  predictor: nn.Module

  def __call__(self, x, masks):
    """Context tokens [N, K_c, D] and predictions [N, M, K_t, D] from the
    padded index arrays and validity masks of `ijepa_masks`."""
    context_idx, context_valid = masks['context'], masks['context_valid']
    z = self.backbone(x, keep=context_idx, token_mask=context_valid,
                      return_tokens=True)
    n, m, k_t = masks['targets'].shape
    repeat = lambda a: jnp.repeat(a, m, axis=0)  # Example-major, block-minor.
    flat = lambda a: a.reshape(n * m, k_t)
    pred = self.predictor(repeat(z), repeat(context_idx),
                          flat(masks['targets']), repeat(context_valid),
                          flat(masks['target_valid']))
    return z, pred.reshape(n, m, k_t, -1)


class Method(base.MethodBase):
  """I-JEPA: context encoder + predictor vs EMA target encoder."""
  num_views = 1

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    m = config.method
    self.grid = patches.patch_grid(config)
    if self.backbone.num_prefix_tokens:
      raise config_lib.ConfigError(
          'I-JEPA encodes patches only: set config.backbone.cls_token=False, '
          "num_registers=0 and pool='mean'.")
    self.spec = multiblock.MultiBlock(
        grid=self.grid, num_context_tokens=m.num_context_tokens,
        batch_size=config.batch_size, context_group=m.context_group,
        num_targets=m.num_targets, target_scale=tuple(m.target_scale),
        target_aspect=tuple(m.target_aspect),
        context_scale=tuple(m.context_scale), min_keep=m.min_keep,
        allow_overlap=m.allow_overlap, num_target_tokens=m.num_target_tokens)
    try:
      self.num_target_tokens, self.num_context_tokens = self.spec.counts()
    except ValueError as e:
      raise config_lib.ConfigError(f'config.method: {e}') from None
    self.model = _Model(self.backbone, ijepa_predictor.Predictor(
        grid=self.grid, out_dim=self.backbone.feature_dim, dim=m.pred_dim,
        depth=m.pred_depth, heads=m.pred_heads, dtype=self.dtype))

  def momentum(self, step):
    m = self.config.method
    return optim.ema_linear(step, self.total_steps, base=m.ema_base,
                            final=m.ema_final)

  def masks(self, rng, n, example_ids=None):
    ids = jnp.arange(n) if example_ids is None else example_ids
    return multiblock.ijepa_masks(rng, ids, self.spec)

  def init(self, rng, views):
    x = views[0]
    mask_rng, init_rng = jax.random.split(rng)
    masks = self.masks(mask_rng, x.shape[0])
    params = self.model.init(init_rng, x, masks)['params']
    target = jax.tree.map(jnp.copy, params['backbone'])
    return base.Variables(params, {}, {'target': target})

  def target_tokens(self, extras, x):
    """The target encoder's tokens of the full image [N, L, D] (sg)."""
    return jax.lax.stop_gradient(self.backbone.apply(
        {'params': extras['target']}, x, return_tokens=True))

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    """Per-example outputs: `pred` and `target` [N, M, K_t, D] (target =
    raw target-encoder tokens of the blocks; the loss normalises them),
    `target_valid` [N, M, K_t], `context_tokens` [N], `features`,
    `embedding`."""
    del train
    x = views[0]
    masks = self.masks(rng, x.shape[0], example_ids)
    z, pred = self.model.apply({'params': params}, x, masks)
    h = self.target_tokens(extras, x)
    rows = jnp.arange(x.shape[0])[:, None, None]
    features = self.backbone.pool_tokens(z, masks['context_valid'])
    outputs = {'pred': pred, 'target': h[rows, masks['targets']],
               'target_valid': masks['target_valid'],
               'context_tokens': masks['context_length'].astype(jnp.float32),
               'features': features, 'embedding': features}
    return outputs, mutables

  def objective(self, outputs, extras, step):
    del extras
    loss = losses.ijepa(outputs['pred'], outputs['target'],
                        outputs['target_valid'])
    return loss, {'ijepa': loss, 'ema_momentum': self.momentum(step),
                  'context_tokens': jnp.mean(outputs['context_tokens'])}, {}

  def update_extras(self, extras, params, aux, step):
    """target <- m target + (1 - m) context encoder."""
    del aux
    return {'target': optim.ema_update(extras['target'], params['backbone'],
                                       self.momentum(step))}

  def embed(self, params, mutables, extras, images):
    """The target encoder, mean-pooled: the network the paper evaluates."""
    del params, mutables
    return self.backbone.apply({'params': extras['target']}, images)

  def backbone_params(self, params, extras):
    """The weights evaluated and fine-tuned: the target encoder."""
    del params
    return extras['target']
