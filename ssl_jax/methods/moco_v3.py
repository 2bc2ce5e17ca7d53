"""MoCo v3 (Chen, Xie and He, arXiv 2104.02057): queries from an online
predictor, keys from a momentum encoder, InfoNCE over the batch, no queue.

The momentum encoder is an EMA of backbone + projector, held and updated
exactly as BYOL's target (two_view.MomentumTarget: per-view forwards, the
momentum encoder's BN in training mode with its own running statistics,
cosine momentum from ema_base to 1), so this file only sets the heads and
the loss:
  q_v = pred(proj(f(x_v))),  k_v = sg(proj_m(f_m(x_v))),
  L = ctr(q1, k2) + ctr(q2, k1)              (losses.moco_v3).
In the outputs the queries are `p{v}` and the keys `target{v}`.

Heads (official `moco/builder.py`): every Dense without bias, hidden
BN + ReLU. ResNet: projector 2 layers (d -> 4096 -> 256) ending in
BN(affine=False), predictor 2 layers (256 -> 4096 -> 256) without a last BN.
ViT: projector 3 layers (proj_hidden=(4096, 4096)) and predictor ending in
BN(affine=False) (pred_last_bn='no_affine'), and the patch embedding frozen
at its random init (`--stop-grad-conv1`, freeze_patch_embed=True: its
updates are zeroed, so weight decay does not move it either); the configs'
ViT presets set all three, and the ViT's initialisation of the official
`vits.py` (VIT_INIT): patch embedding U(+-sqrt(6 / (3 p^2 + D))) with a
zero bias, q, k and v each xavier-uniform as separate matrices, CLS token
N(0, 1e-6^2).
"""

import jax
import jax.numpy as jnp
import ml_collections
from ml_collections import config_dict

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import losses
from ssl_jax import models
from ssl_jax.methods import two_view
from ssl_jax.models import heads


def validate_config(config) -> None:
  """Checks config.method's values before anything is built (the
  trainer calls it from its validation; config_checks.py)."""
  config_checks.positive(config, 'method.temperature')
  config_checks.fraction(config, 'method.ema_base')
  for key in ('proj_hidden', 'pred_hidden'):
    config_checks.sizes(config, f'method.{key}')
  config_checks.positive(config, 'method.proj_dim', integer=True)
  for key in ('proj_last_bn', 'pred_last_bn'):
    config_checks.choice(config, f'method.{key}', config_checks.LAST_BN)
  config_checks.choice(config, 'method.freeze_patch_embed', (True, False))


# config.backbone values of the official ViT (`vits.py`; models/vit_init.py).
VIT_INIT = dict(patch_init='moco_v3', qkv_init='split', cls_init_std=1e-6)


def default_config() -> ml_collections.ConfigDict:
  """`config.method` for MoCo v3 (ResNet heads; solo-learn CIFAR values,
  docs/methods.md#moco-v3)."""
  return ml_collections.ConfigDict(dict(
      name='moco_v3',
      temperature=0.2,  # tau: 1.0 for R50 (paper default), 0.2 ViT / CIFAR.
      # Momentum-encoder momentum at step 0, cosine to 1 (0.99; R50 1000
      # epochs: 0.996).
      ema_base=0.99,
      proj_hidden=(4096,),  # ViT: (4096, 4096).
      proj_dim=256,
      proj_last_bn='no_affine',  # BN(affine=False) after the last Dense.
      pred_hidden=(4096,),
      # None for ResNet; 'no_affine' for ViT. (heads.MLP's last_bn values.)
      pred_last_bn=config_dict.placeholder(str),
      # ViT only: keep the patch embedding at its random init (True for ViT).
      freeze_patch_embed=False,
  ))


class Method(two_view.MomentumTarget):
  """MoCo v3: BYOL's online/momentum machinery with InfoNCE keys."""

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    if config.method.freeze_patch_embed and not models.token_output(
        self.backbone):
      raise config_lib.ConfigError(
          'config.method.freeze_patch_embed=True needs a backbone with a '
          'patch embedding (token output: a ViT); '
          f'config.backbone.name={config.backbone.name!r}.')

  def heads(self):
    m = self.config.method
    mlp = lambda hidden, last_bn: heads.MLP(
        hidden=tuple(hidden), out=m.proj_dim, use_bias=False, hidden_bn=True,
        last_bn=last_bn, dtype=self.dtype, bn_axis_name=self.bn_axis_name)
    return (mlp(m.proj_hidden, m.proj_last_bn),
            mlp(m.pred_hidden, m.pred_last_bn))

  def objective(self, outputs, extras, step):
    del extras
    loss = losses.moco_v3(outputs['p1'], outputs['p2'], outputs['target1'],
                          outputs['target2'], self.config.method.temperature)
    return loss, {'moco_v3': loss, 'ema_momentum': self.momentum(step)}, {}

  def adjust_updates(self, updates, step):
    """Zeroes the patch embedding's updates when it is frozen."""
    del step
    if not self.config.method.freeze_patch_embed:
      return updates
    backbone = dict(updates['backbone'])
    backbone['patch_embed'] = jax.tree.map(jnp.zeros_like,
                                           backbone['patch_embed'])
    return dict(updates, backbone=backbone)
