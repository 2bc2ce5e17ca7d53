"""DINOv2 on ImageNet-1k: the official ViT-L/16 "fast setup"
(docs/methods.md#dinov2).

facebookresearch/dinov2 `configs/train/vitl16_short.yaml` over
`ssl_default_config.yaml` (README: 4 nodes, 32 GPUs x 64 = batch 2048,
about a day, 81.6 k-NN / 82.9 linear), with the paper's two method choices
of its own run (`vitg14.yaml`): Sinkhorn-Knopp centring and a separate
iBOT head (vitl16_short keeps the defaults, EMA centring and one shared
head: --config.method.centering=centering
--config.method.separate_ibot_head=False gives exactly those).

ViT-L/16 (CLS features), drop-path 0.3 on every block (drop_path_uniform),
learned positions for 14 x 14 patches with a CLS row, resized bicubically
for the 96 px crops; DINO and iBOT heads 2048-2048-256 -> 65,536
prototypes (weight-normalised last layer with a trained g); tau_s 0.1,
tau_t 0.04 -> 0.07 linearly over 30 official epochs, teacher EMA 0.992 ->
1 (cosine); loss DINO 1.0 + KoLeo 0.1 (per 64 images) + iBOT 1.0; masks on
half the global crops, ratio U(0.1, 0.5). AdamW (0.9, 0.999), lr 0.004 x
sqrt(B / 1024) (sqrt_wrt_1024), layer-wise decay 0.9, patch embedding x
0.2, warm-up 10 official epochs then cosine to 1e-6, weight decay 0.04 ->
0.4 (not on biases / norms), the last layers at lr 0 for the first
official epoch. An official "epoch" is OFFICIAL_EPOCH_LENGTH = 1,250
iterations: 100 of them at batch 2048 are 125,000 steps, 200 ImageNet
epochs of 625 steps (so: warm-up 20 epochs, tau_t warm-up 60, frozen last
layers 2). Views (DataAugmentationDINO): 2 global 224 px crops (0.32-1),
flip, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, blur 1.0 / 0.1,
solarize 0 / 0.2; 8 local 96 px crops (0.05-0.32), blur 0.5; PIL BICUBIC
resize. bfloat16 compute (the official: fp16 under FSDP).

The official ViT's LayerScale (init 1e-5) and trunc-normal 0.02 Linear
layers (`backbone.layer_scale_init`, `backbone.dense_init`).
Not reproduced (docs/methods.md#dinov2): the positions' interpolate_offset
0.1, gradient clipping per
module (backbone, each head: 3.0; here global over the model, 3.0), the
per-GPU stratification of the mask ratios (here drawn per crop, the same
distribution per crop).

  python -m ssl_jax.main --config configs/dinov2_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import dinov2


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = dinov2.default_config()
  config.method.update(
      out_dim=65536, head_hidden=2048, head_bottleneck=256,
      separate_ibot_head=True, ibot_out_dim=65536, ibot_head_hidden=2048,
      ibot_head_bottleneck=256, centering='sinkhorn_knopp',
      student_temp=0.1, teacher_temp=0.07, warmup_teacher_temp=0.04,
      warmup_teacher_temp_epochs=60.0, ema_base=0.992,
      freeze_last_layer_epochs=2.0, dino_weight=1.0, koleo_weight=0.1,
      ibot_weight=1.0, mask_probability=0.5, mask_ratio=(0.1, 0.5),
      koleo_batch=64)
  config.backbone = config_lib.backbone_config(
      'vit', variant='large', patch_size=16, pool='cls', patch_init='torch',
      dense_init='trunc_normal', layer_scale_init=1e-5,
      cls_init_std=1e-6, pos_embed='interpolated', pos_grid=14,
      drop_path=0.3, drop_path_uniform=True)

  config_presets.imagenet_data(config)
  config.aug.interpolation = 'bicubic_antialias'
  config_presets.imagenet_views(config, crop_scale=(0.32, 1.0))
  config.aug.local_crops = 8
  config.aug.local_crop_size = 96
  config.aug.local_crop_scale = (0.05, 0.32)
  config.aug.local_blur_p = 0.5
  config.aug.local_solarize_p = 0.0

  config.batch_size = 2048
  config.total_epochs = 200.0
  config.warmup_epochs = 20.0
  config.optim.update(
      name='adamw', lr=0.004 / 1024**0.5, lr_scaling='sqrt', b1=0.9,
      b2=0.999, weight_decay=0.04, weight_decay_end=0.4, layer_decay=0.9,
      patch_embed_lr_mult=0.2, grad_clip_norm=3.0)
  config.optim.end_lr_ratio = 1e-6 / (0.004 * (2048 / 1024)**0.5)
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone = config_lib.backbone_config(
        'vit', dim=16, depth=2, heads=2, patch_size=16, pool='cls',
        patch_init='torch', dense_init='trunc_normal', layer_scale_init=1e-5,
        cls_init_std=1e-6, pos_embed='interpolated',
        pos_grid=4, drop_path=0.3, drop_path_uniform=True)
    config.method.update(out_dim=64, head_hidden=32, head_bottleneck=16,
                         ibot_out_dim=64, ibot_head_hidden=32,
                         ibot_head_bottleneck=16, koleo_batch=8)
    config.aug.local_crops = 2
    config.aug.local_crop_size = 32
  return config
