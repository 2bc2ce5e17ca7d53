"""data2vec 2.0 for images (Baevski et al., arXiv 2212.07525; fairseq
`examples/data2vec/models/data2vec2.py`, `modalities/{base,images,modules}.py`,
`config/v2/base_images_only_task.yaml`).

A student predicts, at masked positions, contextualised targets built by an
EMA teacher from the *unmasked* image (docs/methods.md#data2vec-20):

  student   the ViT (CLS + patch tokens, fixed sin-cos positions added
            before masking) on the kept patches only, for `clones` different
            inverse-block masks per image (`ViT(keep=[N, C, K])`: one patch
            embedding, N x C sequences): params['backbone'].
  decoder   models/d2v_decoder.py on the full grid: encoded kept tokens at
            their places, N(0, mask_noise_std^2) noise at masked ones;
            params['decoder'].
  teacher   an EMA of the whole student ViT (patch embedding included; not
            the decoder), `extras['teacher']`, run once per image on the full
            image; momentum linear from ema_base to ema_final over
            ema_anneal_steps, then flat.
  targets   y = LN(mean of the top-K blocks' instance-normed FFN outputs),
            patch tokens only (losses.data2vec_targets), repeated per clone.
  loss      losses.data2vec_regression (sum over masked tokens of
            ||x - y||^2 / sqrt(D), divided by their number) + the CLS term
            losses.data2vec_cls (student CLS vs mean target).

The CLS weight: fairseq's `cls_loss` 0.01 is multiplied by the per-GPU
sample size and the gradients divided by the global one, so over G GPUs the
term is 0.01 x (rows per GPU) x the mean over all rows of the per-row term.
`cls_weight` is that factor on the row mean: 0.01 x 16 images x 16 clones
= 2.56 for the official 16-GPU ViT-B run (a single-device run of the same
code would be 0.01 x all rows).

Masks are generated on device (data/masking.py: data2vec_masks), per
example and clone from fold_in(fold_in(key, example id), clone); the
official precomputes them in the data loader.

Outputs for the trainer: `features` = `embedding` = the student's pooled
output of clone 0's visible tokens. `embed` (evaluation) = the student on
the full image, pooled as the backbone config says (mean of patch tokens in
the shipped configs, as fairseq's image classification head); the official
fine-tunes the student, not the teacher.

Differences from the official code: pre-LN blocks (the backbone's; the
official image model is post-LN with a LayerNorm before its 2 "prenet"
blocks) with the FFN output before the residual as the per-block target (the
official's `ffn_targets` for either block type), and top-K counted over all
blocks (ViT-B: the last 10 of 12 = the official's 10 main blocks); the ViT
ends with a final LayerNorm before the decoder and the CLS output; no
dropout / drop-path / decoder input dropout; Flax default / xavier
initialisation of the Dense layers. As the official: the patch embedding is
xavier-uniform on its flattened [D, C p^2] kernel (`images.py`), and the CLS
token starts at N(0, 1) (`init_extra_token_zero: false`: `nn.init.normal_`)
(VIT_INIT).
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
from ssl_jax.data import masking
from ssl_jax.methods import base
from ssl_jax.models import d2v_decoder
from ssl_jax.models import patches


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  for key in ('clones', 'mask_length', 'top_k', 'decoder_dim',
              'decoder_layers', 'decoder_kernel', 'decoder_groups'):
    config_checks.positive(config, f'method.{key}', integer=True)
  config_checks.fraction(config, 'method.mask_prob', open_low=True,
                         open_high=True)
  for key in ('mask_prob_adjust', 'mask_noise_std', 'cls_weight'):
    config_checks.non_negative(config, f'method.{key}')
  for key in ('ema_base', 'ema_final'):
    config_checks.fraction(config, f'method.{key}')
  config_checks.positive(config, 'method.ema_anneal_steps', integer=True,
                         optional=True)


# config.backbone values of the official image encoder (models/vit_init.py).
VIT_INIT = dict(patch_init='xavier_flat', cls_init_std=1.0)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for data2vec 2.0: the ViT-B/16 image config."""
  return ml_collections.ConfigDict(dict(
      name='data2vec',
      clones=16,  # clone_batch: masks (student passes) per teacher pass.
      mask_prob=0.8,
      mask_prob_adjust=0.07,
      mask_length=3,  # Block side of the inverse block mask.
      top_k=10,  # average_top_k_layers.
      decoder_dim=768,
      decoder_layers=6,
      decoder_kernel=3,
      decoder_groups=16,
      mask_noise_std=0.01,
      cls_weight=2.56,  # On the row mean; see the module docstring.
      ema_base=0.9998,
      ema_final=0.99999,
      ema_anneal_steps=config_dict.placeholder(int),  # None: the whole run.
  ))


def _spread(x, weights=None):
  """fairseq's compute_var: mean_d sqrt(Var_unbiased(x_d) + 1e-6) over rows
  (optionally weighted 0/1 rows), for the target / prediction logs."""
  x = x.reshape(-1, x.shape[-1]).astype(jnp.float32)
  w = (jnp.ones(x.shape[:1]) if weights is None
       else weights.reshape(-1).astype(jnp.float32))[:, None]
  count = jnp.sum(w)
  mean = jnp.sum(w * x, axis=0) / count
  var = jnp.sum(w * jnp.square(x - mean), axis=0) / (count - 1)
  return jnp.mean(jnp.sqrt(var + 1e-6))


class _Model(nn.Module):
  backbone: nn.Module
  decoder: nn.Module

  def __call__(self, x, keep, noise):
    """Student tokens [N * C, prefix + K, D] and predictions [N * C, L, D]."""
    tokens = self.backbone(x, keep=keep, return_tokens=True)
    n, c, k = keep.shape
    full = patches.unshuffle(
        tokens[:, self.backbone.num_prefix_tokens:], keep.reshape(n * c, k),
        noise, noise.shape[1])
    return tokens, self.decoder(full)


class Method(base.MethodBase):
  """data2vec 2.0: masked clones, EMA teacher's layer targets, conv decoder."""
  num_views = 1

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    m = config.method
    self.grid = patches.patch_grid(config)
    self.num_patches = self.grid[0] * self.grid[1]
    dim, depth = self.backbone.feature_dim, self.backbone.num_blocks
    num_keep, _ = masking.inverse_block_counts(
        self.num_patches, m.mask_prob, m.mask_prob_adjust, m.mask_length)
    checks = (
        (isinstance(m.clones, int) and m.clones >= 1, 'clones', m.clones,
         'must be an integer >= 1'),
        (0 < num_keep < self.num_patches, 'mask_prob', m.mask_prob,
         f'must keep 1..{self.num_patches - 1} of {self.num_patches} '
         'patches'),
        (1 <= m.top_k <= depth, 'top_k', m.top_k,
         f'must be in 1..{depth} (the backbone depth)'),
        (dim % m.decoder_groups == 0 and
         m.decoder_dim % m.decoder_groups == 0, 'decoder_groups',
         m.decoder_groups, f'must divide the encoder width {dim} and '
         f'decoder_dim {m.decoder_dim}'),
        (self.backbone.cls_token or not m.cls_weight, 'cls_weight',
         m.cls_weight, 'needs config.backbone.cls_token=True (or set 0)'),
    )
    for ok, key, value, allowed in checks:
      if not ok:
        raise config_lib.ConfigError(
            f'config.method.{key}={value!r} is invalid: {allowed}.')
    self.model = _Model(self.backbone, d2v_decoder.Decoder2d(
        grid=self.grid, out_dim=dim, dim=m.decoder_dim,
        layers=m.decoder_layers, kernel=m.decoder_kernel,
        groups=m.decoder_groups, dtype=self.dtype))

  def momentum(self, step):
    m = self.config.method
    ramp = m.ema_anneal_steps or self.total_steps
    return optim.ema_linear(step, ramp, base=m.ema_base, final=m.ema_final)

  def _inputs(self, rng, n, example_ids):
    """Masks (keep [N, C, K], mask [N, C, L]) and decoder noise
    [N * C, L, D], per example from the example ids."""
    m = self.config.method
    ids = jnp.arange(n) if example_ids is None else example_ids
    mask_rng, noise_rng = jax.random.split(rng)
    keep, mask = masking.data2vec_masks(
        mask_rng, ids, self.grid, clones=m.clones, mask_prob=m.mask_prob,
        mask_prob_adjust=m.mask_prob_adjust, mask_length=m.mask_length)
    shape = (m.clones, self.num_patches, self.backbone.feature_dim)
    noise = jax.vmap(lambda i: jax.random.normal(
        jax.random.fold_in(noise_rng, i), shape))(ids)
    return keep, mask, m.mask_noise_std * noise.reshape((-1,) + shape[1:])

  def masks(self, rng, n, example_ids=None):
    """The step's per-example random inputs besides the views: _inputs."""
    return self._inputs(rng, n, example_ids)

  def init(self, rng, views):
    x = views[0]
    mask_rng, init_rng = jax.random.split(rng)
    keep, _, noise = self._inputs(mask_rng, x.shape[0], None)
    params = self.model.init(init_rng, x, keep, noise)['params']
    teacher = jax.tree.map(jnp.copy, params['backbone'])
    return base.Variables(params, {}, {'teacher': teacher})

  def targets(self, extras, x):
    """The teacher's targets y [N, L, D] for full images (sg)."""
    _, ffn = self.backbone.apply({'params': extras['teacher']}, x,
                                 return_ffn=True)
    layers = ffn[:, :, self.backbone.num_prefix_tokens:]
    return jax.lax.stop_gradient(
        losses.data2vec_targets(layers, self.config.method.top_k))

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    """Per-example outputs: `pred` [N, C, L, D], `mask` [N, C, L]
    (1 = masked), `target` [N, L, D] (once per image), `cls` [N, C, D],
    `features`, `embedding`."""
    del train
    x = views[0]
    n, c = x.shape[0], self.config.method.clones
    keep, mask, noise = self._inputs(rng, n, example_ids)
    tokens, pred = self.model.apply({'params': params}, x, keep, noise)
    features = self.backbone.pool_tokens(tokens).reshape(n, c, -1)[:, 0]
    outputs = {'pred': pred.reshape((n, c) + pred.shape[1:]), 'mask': mask,
               'target': self.targets(extras, x),
               'cls': tokens[:, 0].reshape(n, c, -1),
               'features': features, 'embedding': features}
    return outputs, mutables

  def objective(self, outputs, extras, step):
    del extras
    m = self.config.method
    pred = outputs['pred'].reshape((-1,) + outputs['pred'].shape[2:])
    mask = outputs['mask'].reshape(pred.shape[:2])
    target = jnp.repeat(outputs['target'], m.clones, axis=0)
    d2v = losses.data2vec_regression(pred, target, mask)
    metrics = {'d2v': d2v, 'ema_momentum': self.momentum(step),
               'target_var': _spread(outputs['target']),
               'pred_var': _spread(pred, mask)}
    loss = d2v
    if m.cls_weight:
      cls = losses.data2vec_cls(
          outputs['cls'].reshape(pred.shape[0], -1), target,
          weight=m.cls_weight / pred.shape[0])
      metrics['cls'] = cls
      loss = loss + cls
    return loss, metrics, {}

  def update_extras(self, extras, params, aux, step):
    """teacher <- m teacher + (1 - m) student ViT (not the decoder)."""
    del aux
    return {'teacher': optim.ema_update(extras['teacher'],
                                        params['backbone'],
                                        self.momentum(step))}

  def embed(self, params, mutables, extras, images):
    """The student ViT on the full image (the network fine-tuned)."""
    del mutables, extras
    return self.backbone.apply({'params': params['backbone']}, images)
