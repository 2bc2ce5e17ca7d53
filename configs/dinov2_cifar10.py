"""DINOv2 on CIFAR-10: the paper's method on a ViT-S/4 (docs/methods.md#dinov2).

The paper and facebookresearch/dinov2 ship no CIFAR-10 recipe; this config
keeps the official method and optimizer values (`ssl_default_config.yaml`,
`vitl16_short.yaml`, with the paper's Sinkhorn-Knopp centring and separate
iBOT head of `vitg14.yaml`) and scales the network and crops to 32 px
images: ViT-S (384 wide, 12 blocks, 6 heads) on 4 px patches (an 8 x 8 grid,
masks on half the global crops, 10-50 % of the 64 patches), CLS features,
drop-path 0.1 on every block (the official 0.3 is for ViT-L); heads
2048-2048-256 -> K = 16,384 each (fewer prototypes for 10 classes); tau_s
0.1, tau_t 0.04 -> 0.07 over 30 % of training, teacher EMA 0.992 -> 1,
KoLeo 0.1 per 64 images. AdamW at the official sqrt rule (0.004 x sqrt(B /
1024)), layer decay 0.9, patch embedding x 0.2, weight decay 0.04 -> 0.4,
global-norm clip 3.0, batch 256, 300 epochs with 30 warm-up epochs, last
layers frozen for 3 epochs. Views: 2 global 32 px crops (0.32-1) with
solo-learn's CIFAR colour policy (no blur, solarize 0 / 0.2) and 6 local 16
px crops (0.05-0.32).
Needs the tfds `cifar10` dataset prepared in config.data.data_dir.

  python -m ssl_jax.main --config configs/dinov2_cifar10.py --workdir W \
      --config.data.data_dir=/path/to/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import dinov2


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = dinov2.default_config()
  config.method.update(
      out_dim=16384, separate_ibot_head=True, ibot_out_dim=16384,
      centering='sinkhorn_knopp', warmup_teacher_temp_epochs=90.0,
      freeze_last_layer_epochs=3.0, koleo_batch=64)
  config.backbone = config_lib.backbone_config(
      'vit', variant='small', patch_size=4, pool='cls', patch_init='torch',
      dense_init='trunc_normal', layer_scale_init=1e-5,
      cls_init_std=1e-6, pos_embed='interpolated', pos_grid=8,
      drop_path=0.1, drop_path_uniform=True)

  config_presets.cifar10_data(config)
  config_presets.cifar10_views(config, crop_scale=(0.32, 1.0))
  config.aug.local_crops = 6
  config.aug.local_crop_size = 16
  config.aug.local_crop_scale = (0.05, 0.32)
  config.aug.local_blur_p = 0.0
  config.aug.local_solarize_p = 0.0

  config.batch_size = 256
  config.total_epochs = 300.0
  config.warmup_epochs = 30.0
  config.optim.update(
      name='adamw', lr=0.004 / 1024**0.5, lr_scaling='sqrt',
      weight_decay=0.04, weight_decay_end=0.4, layer_decay=0.9,
      patch_embed_lr_mult=0.2, grad_clip_norm=3.0)
  config.optim.end_lr_ratio = 1e-6 / (0.004 * (256 / 1024)**0.5)
  config.checkpoint.every_steps = 2000
  config.eval.knn_k = 200

  if arg.smoke:
    config_presets.shrink_cifar10_for_smoke(config)
    config.backbone.update(variant=None, dim=16, depth=1, heads=2)
    config.method.update(out_dim=64, head_hidden=32, head_bottleneck=16,
                         ibot_out_dim=64, ibot_head_hidden=32,
                         ibot_head_bottleneck=16, koleo_batch=8)
    config.aug.local_crops = 1
  return config
