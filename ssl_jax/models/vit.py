"""Vision Transformer (Dosovitskiy et al., arXiv 2010.11929) in Flax.

Pre-norm blocks, patch embedding by a strided convolution, fixed 2-D sin-cos
(MAE's layout) or learned position embeddings ('learned': one table of the
training grid; 'interpolated': DINO's, a table with CLS rows at `pos_grid`
resized bicubically to other grids, models/pos_interp.py), an optional CLS
token and register tokens (arXiv 2309.16588), stochastic depth
(`drop_path`, per example from `drop_keys`; linear over the blocks, or
`drop_path_uniform`), optional rematerialisation per block. `masks` (bool
[N, gh gw]) replaces those patch embeddings by a learned mask token before
the positions are added (iBOT / DINOv2's student, `prepare_tokens_with_masks`).
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
from ssl_jax.models import pos_interp
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
# Its exporter to timm's VisionTransformer (ssl_jax.export, export_formats).
EXPORTER = 'ssl_jax.export_vit'


def resolved_size(backbone) -> dict:
  """{'dim', 'depth', 'heads'} of a ViT config (variant or explicit)."""
  preset = PRESETS.get(backbone.get('variant') or '', {})
  return {k: backbone.get(k) if backbone.get(k) is not None
          else preset.get(k) for k in ('dim', 'depth', 'heads')}


def architecture(backbone) -> dict:
  """The options that fix the weights beyond the config's own: the
  variant's sizes written out (model_init.architecture)."""
  return dict(resolved_size(backbone), variant=None)


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
              patch_init='xavier_flat', qkv_init='fused', cls_init_std=0.02,
              # 'interpolated' positions: the table's grid (DINO).
              pos_grid=config_dict.placeholder(int),
              # Stochastic depth of the last block (DINO: 0.1); uniform: of
              # every block (DINOv2's drop_path_uniform).
              drop_path=0.0, drop_path_uniform=False,
              # The blocks' linear layers (vit_init.py) and LayerScale
              # (0: none; DINOv2 1e-5).
              dense_init='xavier', layer_scale_init=0.0)


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
  config_checks.choice(config, 'backbone.pos_embed',
                       ('sincos', 'learned', 'interpolated'))
  if b.pos_embed == 'interpolated':
    config_checks.positive(config, 'backbone.pos_grid', integer=True)
  if 'drop_path' in b:
    config_checks.fraction(config, 'backbone.drop_path', open_high=True)
  if 'drop_path_uniform' in b:
    config_checks.choice(config, 'backbone.drop_path_uniform', (True, False))
  config_checks.choice(config, 'backbone.pool', ('cls', 'mean'))
  # Initialisation (vit_init.py), set per method by the configs.
  if 'patch_init' in b:
    config_checks.choice(config, 'backbone.patch_init', vit_init.PATCH_INITS)
  if 'qkv_init' in b:
    config_checks.choice(config, 'backbone.qkv_init', vit_init.QKV_INITS)
  if 'dense_init' in b:
    config_checks.choice(config, 'backbone.dense_init', vit_init.DENSE_INITS)
  if 'layer_scale_init' in b:
    config_checks.non_negative(config, 'backbone.layer_scale_init')
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


def interpolated_positions(table, num_prefix: int, pos_grid: int,
                           grid: tuple[int, int]):
  """DINO's `interpolate_pos_encoding`: `table` [1, num_prefix + G^2, D]
  (prefix rows first) at a `grid` of patches: the prefix rows as they are,
  the G x G patch rows resized bicubically (unchanged when the grid is
  G x G). Returns [1, num_prefix + gh gw, D]."""
  prefix, patches = table[:, :num_prefix], table[:, num_prefix:]
  if tuple(grid) != (pos_grid, pos_grid):
    rows = pos_interp.bicubic_matrix(pos_grid, grid[0])
    cols = pos_interp.bicubic_matrix(pos_grid, grid[1])
    patches = jnp.einsum('ij,jkd,lk->ild', rows,
                         patches.reshape(pos_grid, pos_grid, -1), cols)
    patches = patches.reshape(1, grid[0] * grid[1], -1).astype(table.dtype)
  return jnp.concatenate([prefix, patches], axis=1)


def drop_path_rates(rate: float, depth: int,
                    uniform: bool = False) -> np.ndarray:
  """Per-block stochastic depth, DINO's (timm's) `torch.linspace(0, rate,
  depth)`: 0 for the first block, `rate` for the last; `uniform`: `rate`
  for every block (DINOv2's `drop_path_uniform`)."""
  if uniform:
    return np.full((depth,), float(rate))
  return np.linspace(0.0, rate, depth)


def drop_path(x, keys, rate: float):
  """Stochastic depth of a residual branch, per example (`drop_path` of
  DINO's vision_transformer.py): example n's branch output x[n] is kept
  with probability 1 - rate and then scaled by 1 / (1 - rate), else zeroed;
  the draw uses keys[n] (so it does not depend on how the batch is split
  over devices)."""
  keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - rate))(keys)
  scale = jnp.where(keep, 1.0 / (1.0 - rate), 0.0).astype(x.dtype)
  return x * scale.reshape((-1,) + (1,) * (x.ndim - 1))


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
  dense_init: str = 'xavier'

  @nn.compact
  def __call__(self, x):
    dense = lambda n: nn.Dense(
        n, dtype=self.dtype,
        kernel_init=vit_init.dense_kernel_init(self.dense_init))
    return dense(x.shape[-1])(gelu(dense(self.hidden)(x)))


def attention(q, k, v, key_mask=None):
  """softmax(q k^T / sqrt(d)) v for [N, T, heads, d] inputs, the softmax in
  float32. Written as two einsums rather than jax.nn.dot_product_attention:
  XLA TPU estimated a ViT-B/16 forward + backward 12% faster this way (64
  images per v5p chip, docs/tpu.md). `key_mask` [N, T] bool: keys where it
  is False get weight 0 (padding tokens; I-JEPA's static-length masks)."""
  scale = np.asarray(q.shape[-1] ** -0.5, q.dtype)
  logits = jnp.einsum('nqhd,nkhd->nhqk', q * scale, k).astype(jnp.float32)
  if key_mask is not None:
    logits = jnp.where(key_mask[:, None, None, :], logits, -1e9)
  weights = jax.nn.softmax(logits, axis=-1)
  return jnp.einsum('nhqk,nkhd->nqhd', weights.astype(v.dtype), v)


class Attention(nn.Module):
  heads: int
  dtype: Any = jnp.float32
  qkv_init: str = 'fused'
  dense_init: str = 'xavier'

  @nn.compact
  def __call__(self, x, key_mask=None):
    n, length, dim = x.shape
    qkv_init = (vit_init.qkv_kernel_init(self.qkv_init)
                if self.dense_init == 'xavier'
                else vit_init.dense_kernel_init(self.dense_init))
    qkv = nn.Dense(3 * dim, dtype=self.dtype, name='qkv',
                   kernel_init=qkv_init)(x)
    q, k, v = jnp.split(qkv.reshape(n, length, 3, self.heads,
                                    dim // self.heads), 3, axis=2)
    out = attention(q[:, :, 0], k[:, :, 0], v[:, :, 0], key_mask)
    return nn.Dense(dim, dtype=self.dtype, name='proj',
                    kernel_init=vit_init.dense_kernel_init(self.dense_init))(
                        out.reshape(n, length, dim))


class Block(nn.Module):
  """Pre-norm block; with `return_ffn`, returns (x, FFN output before the
  residual), the per-layer target of data2vec (its `ffn_targets`). With
  `drop_keys` ([N] per-example keys) and `drop_rate` > 0 each residual
  branch is dropped per example (stochastic depth), the attention branch
  from fold_in(key, 0), the MLP branch from fold_in(key, 1)."""
  heads: int
  mlp_ratio: float = 4.0
  dtype: Any = jnp.float32
  return_ffn: bool = False
  qkv_init: str = 'fused'
  drop_rate: float = 0.0
  layer_scale_init: float = 0.0
  dense_init: str = 'xavier'

  @nn.compact
  def __call__(self, x, key_mask=None, drop_keys=None):
    norm = lambda: nn.LayerNorm(epsilon=1e-6, dtype=self.dtype)

    def branch(y, index):
      if self.layer_scale_init:
        gamma = self.param(f'ls{index + 1}', nn.initializers.constant(
            self.layer_scale_init), (y.shape[-1],))
        y = y * gamma.astype(y.dtype)
      if drop_keys is None or not self.drop_rate:
        return y
      keys = jax.vmap(jax.random.fold_in, (0, None))(drop_keys, index)
      return drop_path(y, keys, self.drop_rate)

    x = x + branch(Attention(self.heads, self.dtype, self.qkv_init,
                             self.dense_init)(norm()(x), key_mask), 0)
    ffn = Mlp(int(x.shape[-1] * self.mlp_ratio), self.dtype,
              self.dense_init)(norm()(x))
    out = x + branch(ffn, 1)
    return (out, ffn) if self.return_ffn else out


def pool_tokens(tokens, pool: str, num_prefix: int, token_mask=None):
  """ViT pooling of encoder tokens [N, T, D]: the CLS token (position 0) or
  the mean of the patch tokens (after the `num_prefix` CLS/register ones;
  with `token_mask` [N, T - num_prefix], of the valid ones)."""
  if pool == 'cls':
    return tokens[:, 0]
  if pool == 'mean' and token_mask is not None:
    weights = token_mask.astype(tokens.dtype)[..., None]
    return (jnp.sum(tokens[:, num_prefix:] * weights, axis=1)
            / jnp.maximum(jnp.sum(weights, axis=1), 1))
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
  pos_embed: str = 'sincos'  # or 'learned', 'interpolated'
  pos_grid: int | None = None  # 'interpolated': the table's patches a side.
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
  dense_init: str = 'xavier'
  # LayerScale of every block's branches (0: none; DINOv2 1e-5).
  layer_scale_init: float = 0.0
  # Stochastic depth of the last block (DINO's student: 0.1); block i of L
  # drops at drop_path i / (L - 1) (uniform: drop_path), only when called
  # with `drop_keys`.
  drop_path: float = 0.0
  drop_path_uniform: bool = False
  dtype: Any = jnp.float32

  # What it offers (models/__init__.py): tokens (the masked methods), no
  # batch statistics, layer-wise lr decay over its blocks, MAE's
  # fine-tuning pool (finetune_features).
  has_batch_norm = False
  token_output = True
  finetune_fc_norm = True
  finetune_unused = ('norm', 'mask_token')  # DINOv2's student-only token.

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

  def feature_map(self, x):
    """The patch tokens [N, L, D] after the final norm, prefix tokens left
    out (config.eval.readout='map')."""
    return self(x, train=False, return_tokens=True)[:, self.num_prefix_tokens:]

  def pool_tokens(self, tokens, token_mask=None):
    """The pooled features of `return_tokens` output, as __call__ pools."""
    return pool_tokens(tokens, self.pool, self.num_prefix_tokens, token_mask)

  @nn.compact
  def __call__(self, x, train: bool = True, keep=None,
               return_tokens: bool = False, return_ffn: bool = False,
               final_norm: bool = True, groups: int = 1, token_mask=None,
               drop_keys=None, masks=None):
    """Encodes images [N, H, W, C].

    Args:
      x: images.
      train: unused (no dropout or batch statistics; stochastic depth
        runs when `drop_keys` are given).
      keep: optional int patch indices, raster order of the patch grid:
        [N, K] encodes those K patches of each image; [N, C, K] encodes C
        sequences per image (clones), returned as N * C rows, clone-minor.
      return_tokens: return all tokens [N, T, D] (prefix tokens first)
        instead of the pooled features.
      return_ffn: return (tokens, FFN outputs [depth, N, T, D]) (implies
        return_tokens).
      final_norm: apply the last LayerNorm.
      token_mask: optional bool [N, K] with a 2-D `keep`: False marks
        padding tokens, which no token attends to and pooling skips (their
        own outputs are meaningless).
      drop_keys: optional per-image PRNG keys [N, 2] for stochastic depth
        (`drop_path` > 0; training only): block i draws from
        fold_in(key, i). None: no branch is dropped (evaluation, teachers).
      groups: unused (a ResNet's per-view BatchNorm groups; a ViT has no
        batch statistics).
      masks: optional bool [N, gh gw] (raster order): those patch
        embeddings are replaced by the learned `mask_token` [1, 1, D]
        (zeros at init, the official `torch.zeros`) before the positions
        are added, as DINOv2's `prepare_tokens_with_masks`. The parameter
        exists once a call passes masks (the student's init).

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
    if masks is not None:
      token = self.param('mask_token', nn.initializers.zeros, (1, 1, dim))
      x = jnp.where(masks[..., None], token.astype(x.dtype), x)
    if self.pos_embed == 'sincos':
      pos = jnp.asarray(sincos_2d(dim, gh, gw))[None]
    elif self.pos_embed == 'learned':
      pos = self.param('pos_embed', nn.initializers.normal(0.02),
                       (1, gh * gw, dim))
    elif self.pos_embed == 'interpolated':
      if not self.pos_grid:
        raise ValueError("pos_embed='interpolated' needs pos_grid.")
      # DINO: trunc_normal_(std=0.02), cut at +-2 in value (never binds).
      table = self.param(
          'pos_embed', nn.initializers.normal(0.02),
          (1, self.num_prefix_tokens + self.pos_grid**2, dim))
      table = interpolated_positions(table, self.num_prefix_tokens,
                                     self.pos_grid, (gh, gw))
      prefix_pos, pos = (table[:, :self.num_prefix_tokens],
                         table[:, self.num_prefix_tokens:])
    else:
      raise ValueError(f'pos_embed {self.pos_embed!r} not '
                       'sincos|learned|interpolated.')
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
      prefix = jnp.concatenate(prefix, axis=1)
      if self.pos_embed == 'interpolated':  # DINO: the CLS has a position.
        prefix = prefix + prefix_pos
      prefix = prefix.astype(x.dtype)
      x = jnp.concatenate([jnp.broadcast_to(prefix, (n,) + prefix.shape[1:]),
                           x], axis=1)
    key_mask = None
    if token_mask is not None:
      key_mask = jnp.concatenate(
          [jnp.ones((n, num_prefix), bool), token_mask.astype(bool)], axis=1)
    block = nn.remat(Block) if self.remat else Block
    rates = drop_path_rates(self.drop_path, depth, self.drop_path_uniform)
    ffn_outputs = []
    for i in range(depth):
      keys = (None if drop_keys is None else
              jax.vmap(jax.random.fold_in, (0, None))(drop_keys, i))
      x = block(heads, self.mlp_ratio, self.dtype, return_ffn=return_ffn,
                qkv_init=self.qkv_init, drop_rate=float(rates[i]),
                layer_scale_init=self.layer_scale_init,
                dense_init=self.dense_init, name=f'block{i}')(x, key_mask,
                                                              keys)
      if return_ffn:
        x, ffn = x
        ffn_outputs.append(ffn)
    if final_norm:
      x = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name='norm')(x)
    if return_ffn:
      return x.astype(jnp.float32), jnp.stack(ffn_outputs)
    if return_tokens:
      return x.astype(jnp.float32)
    return pool_tokens(x, self.pool, num_prefix, token_mask).astype(
        jnp.float32)


Backbone = ViT
