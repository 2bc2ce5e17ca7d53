"""LeJEPA on ImageNet-1k: the official ViT-L/14 recipe (docs/methods.md#lejepa).

From rbalestr-lab/lejepa: the README's "GOTO hyperparameters" and the
launch scripts of its ImageNet-1k ablations (`scripts/launch_*_ablation.md`:
`vit_large_patch14_224`, 100 epochs, batch 512, `bstat_lambda=0.05`,
`embedding_dim=512 projector_dim=512 projector_arch=MLP`, lr 5e-4, weight
decay 5e-2, 8 views, `drop_path_rate=0.1`, `local_resolution=98`), the
README's table row (LeJEPA ViT-L, IN-1K, 100 epochs). ViT-L/14 with CLS
features, Dense 512 -> projector 2048 -> 2048 -> 512 with BN; lambda 0.05,
1024 slices (README), 17 knots on [0, 3] (`EppsPulley` defaults). Views: 2
global 224 px crops (0.3-1) and 6 local 98 px crops (0.05-0.3), all with
flip 0.5, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, blur 0.5,
solarize 0.2 (the README's table: the same colour policy on both).
AdamW (0.9, 0.999) lr 5e-4 (not scaled by the batch), weight decay 5e-2 on
every parameter (MINIMAL.md's one group), linear warm-up from 0.01 x lr
over one epoch (MINIMAL.md's LinearLR: the README gives no length), cosine
to lr / 1000 (README); bfloat16 (README). The ViT's learned positions for
the 16 x 16 grid, resized bicubically for the 7 x 7 grid of the local crops
(timm `dynamic_img_size`), stochastic depth 0.1. Crops resized bilinearly
with antialiasing (torchvision v2 RandomResizedCrop's default).

Not reproduced: the ablation scripts' `resolution=238`, `teacher_student=
true` and `patch_mask_ratio=0.3` (flags of the authors' internal script
that the paper's method, and the README, leave out).
Streams the tfds `imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/lejepa_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import dino
from ssl_jax.methods import lejepa


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = lejepa.default_config()
  config.method.update(global_views=2, lamb=0.05, num_slices=1024,
                       t_max=3.0, knots=17, embedding_dim=512,
                       proj_hidden=(2048, 2048), proj_dim=512)
  config.backbone = config_lib.backbone_config(
      'vit', variant='large', patch_size=14, pool='cls', **dino.VIT_INIT,
      **dino.vit_positions_and_depth(224, 14))

  config_presets.imagenet_data(config)
  config.aug.interpolation = 'bilinear_antialias'
  config_presets.imagenet_views(config, crop_scale=(0.3, 1.0),
                                blur_p=(0.5,), solarize_p=(0.2,))
  config.aug.local_crops = 6
  config.aug.local_crop_size = 98
  config.aug.local_crop_scale = (0.05, 0.3)
  config.aug.local_blur_p = 0.5
  config.aug.local_solarize_p = 0.2

  config.batch_size = 512
  config.total_epochs = 100.0
  config.warmup_epochs = 1.0
  config.optim.update(
      name='adamw', lr=5e-4, lr_scaling='none', b1=0.9, b2=0.999,
      weight_decay=5e-2, exclude_norm_and_bias=False, start_lr_ratio=0.01,
      end_lr_ratio=1e-3)
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone = config_lib.backbone_config(
        'vit', dim=16, depth=2, heads=2, patch_size=16, pool='cls',
        **dino.VIT_INIT, **dino.vit_positions_and_depth(64, 16))
    config.method.update(embedding_dim=16, proj_hidden=(32,), proj_dim=16,
                         num_slices=64)
    config.aug.local_crops = 2
    config.aug.local_crop_size = 32
  return config
