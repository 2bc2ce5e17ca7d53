"""MAE (He et al., arXiv 2111.06377; facebookresearch/mae `models_mae.py`).

Masked autoencoder: a random 75% of the patches of each image are removed,
the ViT encoder sees only the visible ones (`ViT(keep=...)`: gathered by
index, no mask tokens in the encoder), and a light decoder
(models/mae_decoder.py) reconstructs the pixels of every patch from the
encoded visible tokens and a shared mask token; the loss is the MSE on the
removed patches against per-patch normalised pixels (losses.mae,
docs/methods.md#mae). One view; no EMA, no projector.

Masks are drawn on device (data/masking.py: mae_masks), per example from
fold_in(step key, example id), with the kept count fixed by the config.

Outputs for the trainer: `features` = the encoder's pooled output of the
visible tokens (CLS, or the mean of the visible patch tokens with
pool='mean'), fed to the online probe; `embedding` = the same vector (MAE has
no projection head). `embed` (evaluation) = the encoder on the full image,
pooled as the backbone config says: CLS in the shipped configs, as MAE's
linear probe (`main_linprobe.py`, `--cls_token`).

Differences from the official code: kept tokens enter the encoder in shuffle
order as the official (order does not matter: positions are added before
the gather); initialisation is xavier-uniform for every Dense (qkv as one
[D, 3D] matrix) and for the patch embedding's flattened [D, C p^2] kernel
with torch's default bias (VIT_INIT), N(0, 0.02) for CLS and the mask
token, as the official; qkv has a bias, as timm's Block with qkv_bias=True.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax.data import masking
from ssl_jax.methods import base
from ssl_jax.models import mae_decoder
from ssl_jax.models import patches


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  config_checks.fraction(config, 'method.mask_ratio', open_low=True,
                         open_high=True)
  for key in ('decoder_dim', 'decoder_depth', 'decoder_heads'):
    config_checks.positive(config, f'method.{key}', integer=True)
  m = config.method
  config_checks.check(m.decoder_dim % m.decoder_heads == 0,
                      'method.decoder_heads', m.decoder_heads,
                      f'must divide config.method.decoder_dim={m.decoder_dim}')
  config_checks.choice(config, 'method.norm_pix', (True, False))


# config.backbone values of the official ViT (`models_mae.py`;
# models/vit_init.py): backbone_config's defaults.
VIT_INIT = dict(patch_init='xavier_flat', qkv_init='fused', cls_init_std=0.02)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for MAE: the paper's ViT-L/16 values (PRETRAIN.md)."""
  return ml_collections.ConfigDict(dict(
      name='mae',
      mask_ratio=0.75,
      norm_pix=True,  # --norm_pix_loss.
      decoder_dim=512,
      decoder_depth=8,
      decoder_heads=16,
  ))


class _Model(nn.Module):
  backbone: nn.Module
  decoder: nn.Module

  def __call__(self, x, keep):
    tokens = self.backbone(x, keep=keep, return_tokens=True)
    return tokens, self.decoder(tokens, keep)

  def features(self, x):
    return self.backbone(x, train=False)


class Method(base.MethodBase):
  """MAE: encoder on visible patches, pixel decoder, norm_pix MSE."""
  num_views = 1

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    m = config.method
    self.grid = patches.patch_grid(config)
    self.num_patches = self.grid[0] * self.grid[1]
    if not 0 < masking.mae_keep_count(self.num_patches, m.mask_ratio) < (
        self.num_patches):
      raise config_lib.ConfigError(
          f'config.method.mask_ratio={m.mask_ratio!r} must keep between 1 '
          f'and {self.num_patches - 1} of {self.num_patches} patches.')
    self.patch_size = config.backbone.patch_size
    channels = len(config.data.mean)
    self.model = _Model(self.backbone, mae_decoder.MAEDecoder(
        grid=self.grid, patch_dim=self.patch_size**2 * channels,
        dim=m.decoder_dim, depth=m.decoder_depth, heads=m.decoder_heads,
        num_prefix=self.backbone.num_prefix_tokens, dtype=self.dtype))

  def masks(self, rng, n, example_ids=None):
    """(keep [N, K], mask [N, L]) for a batch of n examples."""
    ids = jnp.arange(n) if example_ids is None else example_ids
    return masking.mae_masks(rng, ids, self.num_patches,
                             self.config.method.mask_ratio)

  def init(self, rng, views):
    x = views[0]
    mask_rng, init_rng = jax.random.split(rng)
    keep, _ = self.masks(mask_rng, x.shape[0])
    params = self.model.init(init_rng, x, keep)['params']
    return base.Variables(params, {}, {})

  def forward(self, params, mutables, extras, views, rng, train=True,
              example_ids=None):
    """Per-example outputs: `pred` and `target` [N, L, p*p*C] (target =
    patchified input), `mask` [N, L] (1 = removed), `features`,
    `embedding`."""
    del extras, train
    x = views[0]
    keep, mask = self.masks(rng, x.shape[0], example_ids)
    tokens, pred = self.model.apply({'params': params}, x, keep)
    features = self.backbone.pool_tokens(tokens)
    outputs = {'pred': pred,
               'target': jax.lax.stop_gradient(
                   patches.patchify(x, self.patch_size)),
               'mask': mask, 'features': features, 'embedding': features}
    return outputs, mutables

  def objective(self, outputs, extras, step):
    del extras, step
    loss = losses.mae(outputs['pred'], outputs['target'], outputs['mask'],
                      norm_pix=self.config.method.norm_pix)
    return loss, {'mae': loss}, {}

  def embed(self, params, mutables, extras, images):
    del mutables, extras
    return self.model.apply({'params': params}, images,
                            method=_Model.features)
