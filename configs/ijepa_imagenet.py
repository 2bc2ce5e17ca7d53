"""I-JEPA on ImageNet-1k: the paper's ViT-H/14 recipe (docs/methods.md#i-jepa).

facebookresearch/ijepa `configs/in1k_vith14_ep300.yaml`: ViT-H/14 (1280
wide, 32 blocks, 16 heads, no CLS, fixed sin-cos positions) at 224 px, a
16x16 patch grid; predictor 384 wide, 12 blocks (16 heads, the encoder's);
4 target blocks of scale (0.15, 0.2) and aspect (0.75, 1.5), one context
block of scale (0.85, 1.0), min_keep 10, no overlap. AdamW (0.9, 0.999),
lr warmed up over 40 epochs to 1e-3 (not scaled by batch) then cosine to
1e-6, weight decay 0.04 -> 0.4 (cosine, not on biases / norms), target EMA
0.996 -> 1 linear, 300 epochs at batch 2048 (16 GPUs x 128). Views: one
random resized crop 224 (0.3, 1), no flip, no colour, no blur. bfloat16
compute (as the official). Streams tfds `imagenet2012` from
config.data.data_dir.

Static mask lengths (data/multiblock.py): target blocks padded to 54
tokens (the largest; each keeps all its h * w, 35-54), contexts padded to
112 tokens, each keeping the official length, the shortest clean context
of its group of 128 examples (the official per-GPU batch), in raster order
(median 69; above 101 in none of 3,000 simulated batches, so 112 never
binds). Padding is masked out of attention and the loss. The lr warm-up
starts at start_lr 2e-4 (optim.start_lr_ratio = 2e-4 / 1e-3). The patch
embedding starts at the official trunc-normal 0.02, zero bias
(ijepa.VIT_INIT).

Reported: linear probe ViT-H/14 300 epochs 79.3 (paper Table 1).
Evaluation (`embed`) uses the target encoder, mean-pooled.

  python -m ssl_jax.main --config configs/ijepa_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import ijepa


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = ijepa.default_config()
  config.method.update(
      ema_base=0.996, ema_final=1.0, pred_dim=384, pred_depth=12,
      pred_heads=16, num_targets=4, target_scale=(0.15, 0.2),
      target_aspect=(0.75, 1.5), context_scale=(0.85, 1.0), min_keep=10,
      allow_overlap=False, num_context_tokens=112, context_group=128)
  config.backbone = config_lib.backbone_config(
      'vit', variant='huge', patch_size=14, cls_token=False, pool='mean',
      **ijepa.VIT_INIT)

  config_presets.imagenet_data(config)
  # The official crop resize (src/transforms.py: RandomResizedCrop's default,
  # PIL bilinear).
  config.aug.interpolation = 'bilinear_antialias'
  config_presets.crop_only_views(config, 224, crop_scale=(0.3, 1.0), flip_p=0.0)

  config.batch_size = 2048
  config.total_epochs = 300.0
  config.warmup_epochs = 40.0
  config.optim.name = 'adamw'
  config.optim.lr = 1e-3
  config.optim.lr_scaling = 'none'
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.weight_decay = 0.04
  config.optim.weight_decay_end = 0.4
  config.optim.end_lr_ratio = 1e-6 / 1e-3
  config.optim.start_lr_ratio = 2e-4 / 1e-3  # start_lr 2e-4.
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone = config_lib.backbone_config(
        'vit', dim=16, depth=1, heads=2, patch_size=16, cls_token=False,
        pool='mean', **ijepa.VIT_INIT)
    # 64 px / 16: a 4x4 grid whose context block is 3x3.
    config.method.update(pred_dim=16, pred_depth=1, pred_heads=2,
                         num_context_tokens=3, min_keep=2, context_group=4)
  return config
