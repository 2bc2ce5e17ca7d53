"""ConvNeXt (Liu et al., arXiv 2201.03545) in Flax, as facebookresearch/
ConvNeXt's `models/convnext.py`.

A patchify stem (stride-`stem_patch` convolution + LayerNorm), four stages
of blocks separated by downsampling layers (LayerNorm + 2x2 stride-2
convolution); a block is a 7x7 depthwise convolution -> LayerNorm -> Linear
(4x) -> GELU -> Linear, scaled by a learned per-channel `gamma` (layer
scale, 1e-6 at init) and added to its input. Features: the global average
pool, then a last LayerNorm (the official `forward_features`). All
LayerNorms eps 1e-6; convolution and Linear weights N(0, 0.02) (timm's
`trunc_normal_(std=.02)` cuts at +-2 absolute, 100 std: a plain normal),
biases 0.

Sizes: `variant` tiny / small / base / large as the official ones, or 'cpu'
(depths 2-2-6-2, dims 32-256: the Fashion-MNIST demo); `depths`/`dims` set
both explicitly. Deviations: no drop-path (no backbone here has it); the
stem and downsampling convolutions pad 'SAME', which equals the official
unpadded ones whenever a size is even (every ImageNet size) and lets small
odd sizes (28 px / 2 = 14 -> 7 -> 4) keep their last row instead of
reaching 0.
"""

import re
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from ml_collections import config_dict

from ssl_jax import config_checks

VARIANTS = {
    'cpu': dict(depths=(2, 2, 6, 2), dims=(32, 64, 128, 256)),
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'small': dict(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    'base': dict(depths=(3, 3, 27, 3), dims=(128, 256, 512, 1024)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
}

# The shipped demos' sizes (config_presets.fashion_mnist_backbone): 'smoke'
# is applied over 'fashion_mnist' by the smoke presets.
DEMO_SIZES = {
    'fashion_mnist': dict(variant='cpu', stem_patch=2),
    'smoke': dict(variant=None, depths=(1, 1, 1, 1), dims=(8, 16, 32, 64)),
}
# The paper's ImageNet optimizer: AdamW, lr 4e-3 at batch 4096 (2.5e-4 per
# 256 images, config.optim's linear scaling), weight decay 0.05.
DEMO_OPTIMIZER = dict(name='adamw', lr=2.5e-4, weight_decay=0.05)


def default_config() -> dict:
  """Every option, so `--config.backbone.x=y` can set any."""
  return dict(variant='tiny', depths=config_dict.placeholder(tuple),
              dims=config_dict.placeholder(tuple), stem_patch=4,
              layer_scale_init=1e-6)


def validate_config(config) -> None:
  """config.backbone's values, before anything is built."""
  b = config.backbone
  if b.get('depths') is None or b.get('dims') is None:
    config_checks.choice(config, 'backbone.variant', tuple(VARIANTS))
  for key in ('depths', 'dims'):
    value = b.get(key)
    if value is not None:
      config_checks.check(
          isinstance(value, (tuple, list)) and len(value) == 4 and all(
              isinstance(v, int) and v > 0 for v in value),
          f'backbone.{key}', value, 'need 4 integers > 0 (one per stage)')
  config_checks.positive(config, 'backbone.stem_patch', integer=True)
  config_checks.non_negative(config, 'backbone.layer_scale_init')


_init = nn.initializers.normal(0.02)


class Block(nn.Module):
  """dwconv 7x7 -> LN -> Linear 4x -> GELU -> Linear -> x gamma, residual."""
  layer_scale_init: float
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    dim = x.shape[-1]
    y = nn.Conv(dim, (7, 7), padding='SAME', feature_group_count=dim,
                dtype=self.dtype, kernel_init=_init, name='dwconv')(x)
    y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name='norm')(y)
    y = nn.Dense(4 * dim, dtype=self.dtype, kernel_init=_init,
                 name='pwconv1')(y)
    y = nn.gelu(y, approximate=False)  # torch's nn.GELU.
    y = nn.Dense(dim, dtype=self.dtype, kernel_init=_init, name='pwconv2')(y)
    if self.layer_scale_init > 0:
      gamma = self.param('gamma', nn.initializers.constant(
          self.layer_scale_init), (dim,))
      y = y * gamma.astype(y.dtype)
    return x + y


class ConvNeXt(nn.Module):
  """ConvNeXt trunk; returns LayerNorm(global average pool), f32."""
  variant: str | None = 'tiny'
  depths: tuple | None = None
  dims: tuple | None = None
  stem_patch: int = 4
  layer_scale_init: float = 1e-6
  dtype: Any = jnp.float32

  # What it offers (models/__init__.py): no batch statistics, no tokens;
  # layer-wise lr decay groups as the official fine-tuning (layer_id).
  has_batch_norm = False
  token_output = False

  def _size(self):
    if self.depths is not None and self.dims is not None:
      return tuple(self.depths), tuple(self.dims)
    if self.variant not in VARIANTS:
      raise ValueError(f'ConvNeXt variant {self.variant!r} not in '
                       f'{list(VARIANTS)} (or set depths and dims).')
    size = VARIANTS[self.variant]
    return size['depths'], size['dims']

  @property
  def feature_dim(self) -> int:
    return self._size()[1][-1]

  @property
  def num_layers(self) -> int:
    """Layers for layer-wise lr decay: the official 12 groups for depths
    (3, 3, 27, 3); other depths group stage 3 by three blocks alike."""
    return 3 + -(-self._size()[0][2] // 3)

  def layer_id(self, keys) -> int:
    """The official `get_num_layer_for_convnext` for a parameter path
    inside the backbone: stem 0, stage 0 (and what downsamples into it) 1,
    stage 1 2, stage 2 block b 3 + b // 3, stage 3 the last; the final
    norm num_layers + 1."""
    last = self.num_layers
    match = re.fullmatch(r'(stage|down)(\d)(?:_block(\d+)|_norm)?',
                         keys[0])
    if keys[0].startswith('stem'):
      return 0
    if not match:
      return last + 1  # The final norm.
    kind, stage = match.group(1), int(match.group(2))
    if stage == 3:
      return last
    if kind == 'down' or stage < 2:
      return stage + 1
    return 3 + int(match.group(3)) // 3

  def feature_map(self, x):
    """The last stage's output [N, H', W', C], each position through the
    final LayerNorm (config.eval.readout='map')."""
    return self(x, train=False, return_map=True)

  @nn.compact
  def __call__(self, x, train: bool = True, groups: int = 1,
               return_map: bool = False):
    """Pooled features of images [N, H, W, C]. `train` and `groups` are
    unused (no dropout, no batch statistics). `return_map`: the last
    stage's output, the final LayerNorm applied at each position, instead
    of the normalised mean."""
    del train, groups
    depths, dims = self._size()
    norm = lambda name: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype,
                                     name=name)
    p = self.stem_patch
    x = nn.Conv(dims[0], (p, p), (p, p), padding='SAME', dtype=self.dtype,
                kernel_init=_init, name='stem')(x.astype(self.dtype))
    x = norm('stem_norm')(x)
    for i, (depth, dim) in enumerate(zip(depths, dims)):
      if i:
        x = norm(f'down{i}_norm')(x)
        x = nn.Conv(dim, (2, 2), (2, 2), padding='SAME', dtype=self.dtype,
                    kernel_init=_init, name=f'down{i}')(x)
      for j in range(depth):
        x = Block(self.layer_scale_init, self.dtype,
                  name=f'stage{i}_block{j}')(x)
    if return_map:
      return norm('norm')(x).astype(jnp.float32)
    x = jnp.mean(x, axis=(1, 2))
    return norm('norm')(x).astype(jnp.float32)


Backbone = ConvNeXt
