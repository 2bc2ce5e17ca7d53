"""LeJEPA on CIFAR-10: MINIMAL.md's small-dataset recipe on a ResNet-18.

The paper ships no CIFAR-10 recipe; the official MINIMAL.md trains on
Imagenette (ViT-S/8 at 128 px) with `lamb=0.02 V=4 proj_dim=16 lr=2e-3
bs=256 epochs=800`, and this config keeps those values: 4 global crops and
no local ones, lambda 0.02, projector Dense 512 (timm `num_classes=512`) ->
2048 -> 2048 -> 16 with BN, 1024 slices, 17 knots on [0, 3]; AdamW lr 2e-3
(not scaled by the batch) on every parameter, a one-epoch linear warm-up
from 0.01 x lr, cosine to 1e-3 (MINIMAL.md's CosineAnnealingLR eta_min,
i.e. 0.5 x peak), batch 256, 800 epochs. Departures, for the 32 px ResNet:
the README's ResNet weight decay 5e-4 (MINIMAL.md's 5e-2 is its ViT's);
MINIMAL.md's crops (0.08-1), jitter (0.8, 0.8, 0.8, 0.2) p 0.8, grayscale
0.2, solarize 0.2 and flip, without its Gaussian blur (a 7 px kernel at 128
px; solo-learn's CIFAR recipes drop blur at 32 px too).
Needs the tfds `cifar10` dataset prepared in config.data.data_dir.

  python -m ssl_jax.main --config configs/lejepa_cifar10.py --workdir W \
      --config.data.data_dir=/path/to/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import lejepa


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = lejepa.default_config()
  config.method.update(global_views=4, lamb=0.02, embedding_dim=512,
                       proj_hidden=(2048, 2048), proj_dim=16)
  config.backbone = config_lib.backbone_config(
      'resnet', depth=18, width=1.0, cifar_stem=True)

  config_presets.cifar10_data(config)
  config_presets.cifar10_views(config, crop_scale=(0.08, 1.0),
                               jitter=(0.8, 0.8, 0.8, 0.2), blur_p=(0.0,),
                               solarize_p=(0.2,))
  config.aug.local_crops = 0

  config.batch_size = 256
  config.total_epochs = 800.0
  config.warmup_epochs = 1.0
  config.optim.update(
      name='adamw', lr=2e-3, lr_scaling='none', weight_decay=5e-4,
      exclude_norm_and_bias=False, start_lr_ratio=0.01, end_lr_ratio=0.5)
  config.checkpoint.every_steps = 2000
  config.eval.knn_k = 200

  if arg.smoke:
    config_presets.shrink_cifar10_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.update(global_views=2, embedding_dim=16, proj_hidden=(32,),
                         proj_dim=16, num_slices=64)
  return config
