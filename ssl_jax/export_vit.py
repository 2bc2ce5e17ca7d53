"""ViT -> timm's VisionTransformer (every ssl_jax ViT, exactly).

The exporter that models/vit.py declares (`EXPORTER`). ssl_jax adds
positions to the patch tokens only (timm's `no_embed_class`), except
DINO's 'interpolated' table, whose CLS row timm adds as well, written
resized to the evaluation grid; sin-cos positions are written as the
position tensor; the final LayerNorm comes before pooling (`fc_norm=False`).
A ViT block's LayerNorm_0/1 are norm1/norm2, and its Mlp's Dense_0 is the
*second* layer (`dense(dim)(gelu(dense(hidden)(x)))` builds the outer Dense
first).
"""

import numpy as np

from ssl_jax import export_formats as fmt
from ssl_jax.models import vit

TIMM_VIT_NAMES = {'tiny': 'vit_tiny_patch16_224',
                  'small': 'vit_small_patch16_224',
                  'base': 'vit_base_patch16_224',
                  'large': 'vit_large_patch16_224',
                  'huge': 'vit_huge_patch14_224'}


def vit_state_dict(variables, backbone, grid: tuple[int, int]) -> dict:
  """timm VisionTransformer state dict of a Flax ViT at `grid` patches."""
  p = variables['params']
  dim = vit.resolved_size(backbone)['dim']
  out = {'patch_embed.proj.weight': fmt.conv(p['patch_embed']['kernel']),
         'patch_embed.proj.bias': p['patch_embed']['bias'],
         'norm.weight': p['norm']['scale'], 'norm.bias': p['norm']['bias']}
  if backbone.pos_embed == 'sincos':
    out['pos_embed'] = vit.sincos_2d(dim, *grid)[None]
  elif backbone.pos_embed == 'interpolated':
    prefix = int(backbone.cls_token) + backbone.num_registers
    out['pos_embed'] = np.asarray(vit.interpolated_positions(
        p['pos_embed'], prefix, backbone.pos_grid, grid))
  else:
    out['pos_embed'] = p['pos_embed']
  if 'cls' in p:
    out['cls_token'] = p['cls']
  if 'registers' in p:
    out['reg_token'] = p['registers']
  for i in range(vit.resolved_size(backbone)['depth']):
    b, pre = p[f'block{i}'], f'blocks.{i}'
    named = {'norm1': b['LayerNorm_0'], 'norm2': b['LayerNorm_1'],
             'attn.qkv': b['Attention_0']['qkv'],
             'attn.proj': b['Attention_0']['proj'],
             'mlp.fc1': b['Mlp_0']['Dense_1'], 'mlp.fc2': b['Mlp_0']['Dense_0']}
    for name, layer in named.items():
      weight = layer['scale'] if 'scale' in layer else fmt.dense(layer['kernel'])
      out[f'{pre}.{name}.weight'] = weight
      out[f'{pre}.{name}.bias'] = layer['bias']
    for name in ('ls1', 'ls2'):  # LayerScale (timm's init_values).
      if name in b:
        out[f'{pre}.{name}.gamma'] = b[name]
  return out


def timm_refusal(backbone, image_size: int) -> str | None:
  del backbone, image_size  # timm expresses every ssl_jax ViT.
  return None


def timm_config(backbone, data, model_args: dict) -> dict:
  """timm hub config.json (architecture, model_args, pretrained_cfg)."""
  args = dict(model_args)
  size = vit.resolved_size(backbone)
  named = [k for k, v in vit.PRESETS.items() if v == size]
  if not named or backbone.mlp_ratio != 4.0:
    args.update(embed_dim=size['dim'], depth=size['depth'],
                num_heads=size['heads'], mlp_ratio=backbone.mlp_ratio)
  if backbone.get('layer_scale_init'):
    args['init_values'] = backbone.layer_scale_init
  args.update(img_size=data.image_size, patch_size=backbone.patch_size,
              class_token=bool(backbone.cls_token),
              reg_tokens=backbone.num_registers,
              no_embed_class=backbone.pos_embed != 'interpolated',
              global_pool='token' if backbone.pool == 'cls' else 'avg',
              fc_norm=False)
  arch = TIMM_VIT_NAMES[named[0] if named else 'base']
  return {'architecture': arch, 'num_classes': 0,
          'num_features': size['dim'], 'global_pool': args['global_pool'],
          'model_args': args,
          'pretrained_cfg': fmt.pretrained_cfg(data, True,
                                               'patch_embed.proj', 'head')}


def torch_refusal(backbone) -> str | None:
  del backbone
  return ("timm's VisionTransformer expresses every ssl_jax ViT exactly, "
          'so the torch format has no ViT twin')


def state_dict(variables, backbone, image_size: int) -> dict:
  grid = image_size // backbone.patch_size
  return vit_state_dict(variables, backbone, (grid, grid))
