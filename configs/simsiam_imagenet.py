"""SimSiam on ImageNet-1k: the paper's recipe (docs/methods.md#simsiam,
arXiv 2011.10566, facebookresearch/simsiam `main_simsiam.py`).

ResNet-50, batch 512, SGD (momentum 0.9) at base lr 0.05 (x B/256 = 0.1),
weight decay 1e-4 on every parameter, cosine to 0 with no warm-up, stepped
once per epoch as the official `adjust_learning_rate` (`optim.lr_per_epoch`:
epoch e of 100 at 0.1 (1 + cos(pi e / 100)) / 2, the last at 2.5e-5), the
predictor at the constant lr 0.1 (`--fix-pred-lr` of the README's command:
`optim.fix_pred_lr`), 100 epochs (the official default; the paper also
trains 200/400/800); projector 2048-2048-2048 ending in BN without affine,
predictor bottleneck 512. Views: the MoCo v2 recipe, symmetric: 224 px
crops (0.2-1), flip, jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale 0.2, blur
0.5. bfloat16 compute. Reported: linear 68.1 at 100 epochs (README).
Streams the tfds `imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/simsiam_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simsiam


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = simsiam.default_config()
  config.method.proj_hidden = (2048, 2048)
  config.method.proj_dim = 2048
  config.method.pred_hidden = (512,)
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  # The official crop resize (main_simsiam.py: RandomResizedCrop's default, PIL
  # bilinear).
  config.aug.interpolation = 'bilinear_antialias'
  config_presets.imagenet_views(  # MoCo v2's, symmetric.
      config, crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1),
      blur_p=(0.5,), solarize_p=(0.0,))

  config.batch_size = 512
  config.total_epochs = 100.0
  config.warmup_epochs = 0.0
  config.optim.name = 'sgd'
  config.optim.lr = 0.05
  config.optim.momentum = 0.9
  config.optim.weight_decay = 1e-4
  config.optim.exclude_norm_and_bias = False  # SGD decays every array.
  config.optim.fix_pred_lr = True  # The predictor keeps lr 0.1 (no cosine).
  config.optim.lr_per_epoch = True  # adjust_learning_rate once an epoch.
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32, 32)
    config.method.proj_dim = 16
    config.method.pred_hidden = (8,)
  return config
