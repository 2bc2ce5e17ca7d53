"""Vision Transformer (Dosovitskiy et al., arXiv 2010.11929) in Flax.

Pre-norm blocks, patch embedding by a strided convolution, fixed 2-D sin-cos
(MAE's layout) or learned position embeddings, an optional CLS token and
register tokens (arXiv 2309.16588), optional rematerialisation per block.
`keep` (int [N, K] patch indices) runs the encoder on the kept patches only,
gathered by index (MAE): no masked attention, static shapes; [N, C, K] runs C
differently masked clones of each image from one patch embedding
(data2vec 2.0). `return_ffn` also returns every block's FFN output before
its residual (data2vec's per-layer targets); `final_norm=False` skips the
last LayerNorm (MAE's fine-tuning replaces it by a norm after pooling).
`patch_init`, `qkv_init` and `cls_init_std` pick the initialisation of the
method's official code (vit_init.py, docs/methods.md#vit-initialisation).
"""

import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_dict

from ssl_jax import config_checks
from ssl_jax.models import vit_init

PRESETS = {
    'tiny': dict(dim=192, depth=12, heads=3),
    'small': dict(dim=384, depth=12, heads=6),
    'base': dict(dim=768, depth=12, heads=12),
    'large': dict(dim=1024, depth=24, heads=16),
    'huge': dict(dim=1280, depth=32, heads=16),
}

# The shipped demos' sizes (config_presets.fashion_mnist_backbone): 7x7
# patches of 28 px images (16 tokens), mean-pooled; 'smoke' is applied over
# 'fashion_mnist' by the smoke presets. The demos train it with AdamW.
DEMO_SIZES = {
    'fashion_mnist': dict(dim=192, depth=6, heads=3, patch_size=7,
                          pool='mean'),
    'smoke': dict(dim=16, depth=2, heads=2),
}
DEMO_OPTIMIZER = dict(name='adamw', lr=5e-4, weight_decay=0.05)


def default_config() -> dict:
  """Every option, so `--config.backbone.x=y` can set any. The
  initialisation (vit_init.py) is MAE's by default; each method's config
  sets its official one."""
  return dict(variant=config_dict.placeholder(str),
              dim=config_dict.placeholder(int),
              depth=config_dict.placeholder(int),
              heads=config_dict.placeholder(int), mlp_ratio=4.0,
              patch_size=16, pos_embed='sincos', cls_token=True,
              num_registers=0, pool='cls', remat=False,
              patch_init='xavier_flat', qkv_init='fused', cls_init_std=0.02)


def validate_config(config) -> None:
  """config.backbone's values (those the config sets), and that the crops
  and the evaluation size cut into whole patches."""
  b, check = config.backbone, config_checks.check
  if b.get('variant') is not None:
    config_checks.choice(config, 'backbone.variant', tuple(PRESETS))
  elif 'dim' in b:
    for key in ('dim', 'depth', 'heads'):
      check(isinstance(b[key], int) and not isinstance(b[key], bool) and
            b[key] > 0, f'backbone.{key}', b[key], 'must be an integer > 0 '
            f'(or set config.backbone.variant to one of {tuple(PRESETS)})')
    check(b.dim % b.heads == 0, 'backbone.heads', b.heads,
          f'must divide config.backbone.dim={b.dim}')
    if b.get('pos_embed') == 'sincos':
      check(b.dim % 4 == 0, 'backbone.dim', b.dim,
            "must be a multiple of 4 with pos_embed='sincos'")
  if 'patch_size' not in b:
    return
  config_checks.positive(config, 'backbone.patch_size', integer=True)
  config_checks.positive(config, 'backbone.mlp_ratio')
  config_checks.non_negative(config, 'backbone.num_registers', integer=True)
  config_checks.choice(config, 'backbone.pos_embed', ('sincos', 'learned'))
  config_checks.choice(config, 'backbone.pool', ('cls', 'mean'))
  # Initialisation (vit_init.py), set per method by the configs.
  if 'patch_init' in b:
    config_checks.choice(config, 'backbone.patch_init', vit_init.PATCH_INITS)
  if 'qkv_init' in b:
    config_checks.choice(config, 'backbone.qkv_init', vit_init.QKV_INITS)
  if 'cls_init_std' in b:
    config_checks.positive(config, 'backbone.cls_init_std')
  check(b.pool != 'cls' or b.cls_token, 'backbone.pool', b.pool,
        "'cls' needs config.backbone.cls_token=True; use 'mean'")
  sizes_to_cut = [('aug.crop_size', config.aug.crop_size),
                  ('data.image_size', config.data.image_size)]
  if config.aug.local_crops:
    sizes_to_cut.append(('aug.local_crop_size', config.aug.local_crop_size))
  for key, size in sizes_to_cut:
    check(size % b.patch_size == 0, key, size, 'must be a multiple of '
          f'config.backbone.patch_size={b.patch_size} (ViT patches)')


def sincos_2d(dim: int, grid_h: int, grid_w: int) -> np.ndarray:
  """MAE's fixed 2-D sin-cos embedding, [grid_h * grid_w, dim] (row-major).

  The first dim/2 channels encode the column, the rest the row, each as
  [sin(p * w_k), cos(p * w_k)] with w_k = 10000^(-k / (dim / 4)).
  """
  if dim % 4:
    raise ValueError(f'sin-cos position embedding needs dim % 4 == 0: {dim}')
  omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))
  rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w),
                           indexing='ij')

  def encode(pos):
    angles = pos.reshape(-1)[:, None] * omega[None]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

  return np.concatenate([encode(cols), encode(rows)],
                        axis=1).astype(np.float32)


def gelu(x):
  """Exact GELU, x * Phi(x), written with erf as torch's nn.GELU.

  Equal to `nn.gelu(x, approximate=False)` up to float rounding (that one
  uses erfc, which XLA:CPU expands to a slower, branching polynomial: the
  MAE demo's fwd+bwd took 6% less with this form; docs/performance.md).
  """
  return 0.5 * x * (1 + jax.lax.erf(x * np.asarray(2**-0.5, x.dtype)))


class Mlp(nn.Module):
  hidden: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    dense = lambda n: nn.Dense(n, dtype=self.dtype,
                               kernel_init=nn.initializers.xavier_uniform())
    return dense(x.shape[-1])(gelu(dense(self.hidden)(x)))


def attention(q, k, v):
  """softmax(q k^T / sqrt(d)) v for [N, T, heads, d] inputs, the softmax in
  float32. Written as two einsums rather than jax.nn.dot_product_attention:
  XLA TPU estimated a ViT-B/16 forward + backward 12% faster this way (64
  images per v5p chip, docs/tpu.md)."""
  scale = np.asarray(q.shape[-1] ** -0.5, q.dtype)
  logits = jnp.einsum('nqhd,nkhd->nhqk', q * scale, k)
  weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return jnp.einsum('nhqk,nkhd->nqhd', weights.astype(v.dtype), v)


class Attention(nn.Module):
  heads: int
  dtype: Any = jnp.float32
  qkv_init: str = 'fused'

  @nn.compact
  def __call__(self, x):
    n, length, dim = x.shape
    qkv = nn.Dense(3 * dim, dtype=self.dtype, name='qkv',
                   kernel_init=vit_init.qkv_kernel_init(self.qkv_init))(x)
    q, k, v = jnp.split(qkv.reshape(n, length, 3, self.heads,
                                    dim // self.heads), 3, axis=2)
    out = attention(q[:, :, 0], k[:, :, 0], v[:, :, 0])
    return nn.Dense(dim, dtype=self.dtype, name='proj',
                    kernel_init=nn.initializers.xavier_uniform())(
                        out.reshape(n, length, dim))


class Block(nn.Module):
  """Pre-norm block; with `return_ffn`, returns (x, FFN output before the
  residual), the per-layer target of data2vec (its `ffn_targets`)."""
  heads: int
  mlp_ratio: float = 4.0
  dtype: Any = jnp.float32
  return_ffn: bool = False
  qkv_init: str = 'fused'

  @nn.compact
  def __call__(self, x):
    norm = lambda: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype)
    x = x + Attention(self.heads, self.dtype, self.qkv_init)(norm()(x))
    ffn = Mlp(int(x.shape[-1] * self.mlp_ratio), self.dtype)(norm()(x))
    return (x + ffn, ffn) if self.return_ffn else x + ffn


def pool_tokens(tokens, pool: str, num_prefix: int):
  """ViT pooling of encoder tokens [N, T, D]: the CLS token (position 0) or
  the mean of the patch tokens (after the `num_prefix` CLS/register ones)."""
  if pool == 'cls':
    return tokens[:, 0]
  if pool == 'mean':
    return jnp.mean(tokens[:, num_prefix:], axis=1)
  raise ValueError(f"ViT pool {pool!r} not 'cls'|'mean'.")


class ViT(nn.Module):
  """ViT encoder. Returns pooled features, or all tokens."""
  variant: str | None = None  # 'tiny' | 'small' | 'base' | 'large'
  dim: int | None = None
  depth: int | None = None
  heads: int | None = None
  mlp_ratio: float = 4.0
  patch_size: int = 4
  pos_embed: str = 'sincos'  # or 'learned'
  cls_token: bool = True
  num_registers: int = 0
  pool: str = 'cls'  # 'cls' | 'mean' (mean of patch tokens)
  remat: bool = False
  # Initialisation (vit_init.py): the patch embedding's rule, the qkv
  # kernel's fans, the CLS token's std (MAE 0.02, MoCo v3 1e-6, data2vec
  # 2.0 1.0).
  patch_init: str = 'xavier_flat'
  qkv_init: str = 'fused'
  cls_init_std: float = 0.02
  dtype: Any = jnp.float32

  # What it offers (models/__init__.py): tokens (the masked methods), no
  # batch statistics, layer-wise lr decay over its blocks, MAE's
  # fine-tuning pool (finetune_features).
  has_batch_norm = False
  token_output = True
  finetune_fc_norm = True
  finetune_unused = ('norm',)

  def _size(self):
    preset = PRESETS.get(self.variant, {}) if self.variant else {}
    if self.variant and self.variant not in PRESETS:
      raise ValueError(f'ViT variant {self.variant!r} not in {list(PRESETS)}.')
    size = {k: getattr(self, k) if getattr(self, k) is not None
            else preset.get(k) for k in ('dim', 'depth', 'heads')}
    if None in size.values():
      raise ValueError(f'ViT needs a variant or dim/depth/heads: {size}.')
    return size['dim'], size['depth'], size['heads']

  @property
  def feature_dim(self) -> int:
    return self._size()[0]

  @property
  def num_prefix_tokens(self) -> int:
    """CLS + register tokens in front of the patch tokens."""
    return int(self.cls_token) + self.num_registers

  @property
  def num_blocks(self) -> int:
    return self._size()[1]

  @property
  def num_layers(self) -> int:
    return self.num_blocks

  def layer_id(self, keys) -> int:
    """MAE's `get_layer_id_for_vit` for a parameter path inside the
    backbone: block j is layer j + 1, the patch embedding and the tokens
    layer 0, the final norm num_layers + 1."""
    match = re.fullmatch(r'block(\d+)', keys[0])
    if match:
      return int(match.group(1)) + 1
    return self.num_layers + 1 if keys[0] == 'norm' else 0

  def finetune_features(self, x, train: bool = True):
    """MAE's global pool for fine-tuning: the mean of the patch tokens
    without the final norm (the classifier adds a LayerNorm, fc_norm)."""
    del train
    tokens = self(x, return_tokens=True, final_norm=False)
    return jnp.mean(tokens[:, self.num_prefix_tokens:], axis=1)

  def pool_tokens(self, tokens):
    """The pooled features of `return_tokens` output, as __call__ pools."""
    return pool_tokens(tokens, self.pool, self.num_prefix_tokens)

  @nn.compact
  def __call__(self, x, train: bool = True, keep=None,
               return_tokens: bool = False, return_ffn: bool = False,
               final_norm: bool = True, groups: int = 1):
    """Encodes images [N, H, W, C].

    Args:
      x: images.
      train: unused (no dropout or batch statistics).
      keep: optional int patch indices, raster order of the patch grid:
        [N, K] encodes those K patches of each image; [N, C, K] encodes C
        sequences per image (clones), returned as N * C rows, clone-minor.
      return_tokens: return all tokens [N, T, D] (prefix tokens first)
        instead of the pooled features.
      return_ffn: return (tokens, FFN outputs [depth, N, T, D]) (implies
        return_tokens).
      final_norm: apply the last LayerNorm.
      groups: unused (a ResNet's per-view BatchNorm groups; a ViT has no
        batch statistics).

    Returns:
      Pooled f32 features [N, D], or tokens, or (tokens, FFN outputs).
    """
    del train, groups  # No dropout or batch statistics.
    dim, depth, heads = self._size()
    if self.pool == 'cls' and not self.cls_token:
      raise ValueError("ViT pool='cls' needs cls_token=True.")
    p = self.patch_size
    if x.shape[1] % p or x.shape[2] % p:
      raise ValueError(f'Image {x.shape[1:3]} not divisible by patch {p}.')
    kernel_init, bias_init = vit_init.patch_embed_init(
        self.patch_init, x.shape[-1], p, dim)
    x = nn.Conv(dim, (p, p), (p, p), padding='VALID', dtype=self.dtype,
                name='patch_embed', kernel_init=kernel_init,
                bias_init=bias_init)(x.astype(self.dtype))
    n, gh, gw, _ = x.shape
    x = x.reshape(n, gh * gw, dim)
    if self.pos_embed == 'sincos':
      pos = jnp.asarray(sincos_2d(dim, gh, gw))[None]
    elif self.pos_embed == 'learned':
      pos = self.param('pos_embed', nn.initializers.normal(0.02),
                       (1, gh * gw, dim))
    else:
      raise ValueError(f'pos_embed {self.pos_embed!r} not sincos|learned.')
    x = x + pos.astype(x.dtype)
    if keep is not None and keep.ndim == 3:  # Clones of each image.
      x = jnp.take_along_axis(x[:, None], keep[..., None], axis=2)
      x = x.reshape((-1,) + x.shape[2:])
      n = x.shape[0]
    elif keep is not None:  # Encode only the kept patches (MAE).
      x = jnp.take_along_axis(x, keep[..., None], axis=1)
    prefix = []
    if self.cls_token:
      prefix.append(self.param('cls',
                               nn.initializers.normal(self.cls_init_std),
                               (1, 1, dim)))
    if self.num_registers:
      prefix.append(self.param('registers', nn.initializers.normal(0.02),
                               (1, self.num_registers, dim)))
    num_prefix = sum(t.shape[1] for t in prefix)
    if prefix:
      prefix = jnp.concatenate(prefix, axis=1).astype(x.dtype)
      x = jnp.concatenate([jnp.broadcast_to(prefix, (n,) + prefix.shape[1:]),
                           x], axis=1)
    block = nn.remat(Block) if self.remat else Block
    ffn_outputs = []
    for i in range(depth):
      x = block(heads, self.mlp_ratio, self.dtype, return_ffn=return_ffn,
                qkv_init=self.qkv_init, name=f'block{i}')(x)
      if return_ffn:
        x, ffn = x
        ffn_outputs.append(ffn)
    if final_norm:
      x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name='norm')(x)
    if return_ffn:
      return x.astype(jnp.float32), jnp.stack(ffn_outputs)
    if return_tokens:
      return x.astype(jnp.float32)
    return pool_tokens(x, self.pool, num_prefix).astype(jnp.float32)


Backbone = ViT
