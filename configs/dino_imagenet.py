"""DINO on ImageNet-1k: the paper's ViT-S/16 recipe, boosted
(docs/methods.md#dino).

The README's "boosting DINO" run of facebookresearch/dino (73.3 k-NN / 76.0
linear): main_dino.py defaults plus `--epochs 300 --teacher_temp 0.07
--warmup_teacher_temp_epochs 30 --norm_last_layer false`, on 16 GPUs x 64 =
batch 1024. ViT-S/16 (CLS features), head 2048-2048-256 -> K = 65,536, tau_s
0.1, tau_t 0.04 -> 0.07 over 30 epochs, centre 0.9, teacher EMA 0.996 -> 1,
last layer frozen in epoch 0; AdamW (0.9, 0.999) at lr 0.0005 x B/256,
10 warm-up epochs, cosine to 1e-6, weight decay 0.04 -> 0.4 (cosine, not on
biases / norms). Views: 2 global 224 px crops (0.4-1), flip, jitter (0.4,
0.4, 0.2, 0.1) p 0.8, grayscale 0.2, blur 1.0 / 0.1, solarize 0 / 0.2; 8
local 96 px crops (0.05-0.4), blur 0.5 (main_dino.py's local_crops_number).
bfloat16 compute (the official run uses fp16 autocast). Streams the tfds
`imagenet2012` dataset from config.data.data_dir.

Gradients are clipped per tensor at 3.0 (the official clip_gradients). The
patch embedding starts at torch's Conv2d default, U(+-1/sqrt(3 p^2)) for
kernel and bias, as the official ViT leaves it (dino.VIT_INIT). As the
official ViT: a learned position table for the CLS token and the 14 x 14
patches (N(0, 0.02)), resized bicubically for the 6 x 6 local crops
(pos_embed='interpolated', pos_grid=14); stochastic depth up to 0.1 in the
student (drop_path, linear over the blocks); the last layer's optimizer
skips epoch 0 (moments included). Crops are resized as PIL BICUBIC.

  python -m ssl_jax.main --config configs/dino_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import dino


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = dino.default_config()
  config.method.update(
      out_dim=65536, head_hidden=2048, head_bottleneck=256,
      head_use_bn=False, norm_last_layer=False, student_temp=0.1,
      teacher_temp=0.07, warmup_teacher_temp=0.04,
      warmup_teacher_temp_epochs=30, center_momentum=0.9, ema_base=0.996,
      freeze_last_layer_epochs=1.0)
  config.backbone = config_lib.backbone_config(
      'vit', variant='small', patch_size=16, pool='cls', **dino.VIT_INIT,
      **dino.vit_positions_and_depth(224, 16))

  config_presets.imagenet_data(config)
  # The official crop resize (main_dino.py: RandomResizedCrop(...,
  # interpolation=Image.BICUBIC), global and local).
  config.aug.interpolation = 'bicubic_antialias'
  config_presets.imagenet_views(config, crop_scale=(0.4, 1.0))
  config.aug.local_crops = 8
  config.aug.local_crop_size = 96
  config.aug.local_crop_scale = (0.05, 0.4)
  config.aug.local_blur_p = 0.5
  config.aug.local_solarize_p = 0.0

  config.batch_size = 1024
  config.total_epochs = 300.0
  config.warmup_epochs = 10.0
  config.optim.name = 'adamw'
  config.optim.lr = 0.0005
  config.optim.lr_scaling = 'linear'
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.weight_decay = 0.04
  config.optim.weight_decay_end = 0.4
  config.optim.end_lr_ratio = 1e-6 / (0.0005 * 1024 / 256)  # min_lr 1e-6.
  config.optim.grad_clip_per_tensor = 3.0
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone = config_lib.backbone_config(
        'vit', dim=16, depth=2, heads=2, patch_size=16, pool='cls',
        **dino.VIT_INIT, **dino.vit_positions_and_depth(64, 16))
    config.method.update(out_dim=64, head_hidden=32, head_bottleneck=16)
    config.aug.local_crops = 2
    config.aug.local_crop_size = 32
  return config
