"""VICReg on ImageNet-1k: the paper's ResNet-50 recipe (docs/methods.md#vicreg).

From facebookresearch/vicreg (`main_vicreg.py`, README) and the paper (arXiv
2105.04906): ResNet-50, expander 8192-8192-8192, loss weights 25 / 25 / 1,
batch 2048, LARS at base lr 0.2 (x B/256 = 1.6), wd 1e-6, 1000 epochs, 10
warm-up epochs, cosine to 0.001 x peak. Views (`augmentations.py`, as
Barlow Twins'): 224 px crops (0.08-1), flip 0.5, jitter (0.4, 0.4, 0.2, 0.1)
p 0.8, grayscale 0.2, blur 1.0 / 0.1, solarize 0 / 0.2. Reported: linear
73.2 (README).

Crops are resized as the official PIL BICUBIC (aug.interpolation). The
official LARS
already excludes biases and BN from wd and adaptation, as ours does.
Streams the tfds `imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/vicreg_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import vicreg


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = vicreg.default_config()
  config.method.sim_coeff = 25.0
  config.method.std_coeff = 25.0
  config.method.cov_coeff = 1.0
  config.method.proj_hidden = (8192, 8192)
  config.method.proj_dim = 8192
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  # The official crop resize (augmentations.py: RandomResizedCrop(...,
  # InterpolationMode.BICUBIC), PIL).
  config.aug.interpolation = 'bicubic_antialias'
  config_presets.imagenet_views(config)

  config.batch_size = 2048
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 0.2
  config.optim.weight_decay = 1e-6
  config.optim.end_lr_ratio = 0.001
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config

