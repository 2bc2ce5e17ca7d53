"""Barlow Twins on ImageNet-1k: the paper's ResNet-50 recipe
(docs/methods.md#barlow-twins).

From facebookresearch/barlowtwins `main.py` and the paper (arXiv 2103.03230):
ResNet-50 (zero-init residual), projector 8192-8192-8192, lambda 0.0051, no
loss scale, batch 2048, LARS at base lr 0.2 (x B/256 = 1.6) for the weights
and 0.0048 (x B/256 = 0.0384) for biases and BN parameters
(`--learning-rate-biases`: optim.lr_biases), which get no weight decay and
no trust ratio; wd 1e-6 (code default; the paper text says 1.5e-6), 1000
epochs, 10 warm-up epochs, cosine to 0.001 x peak (both groups). Views
(asymmetric, as BYOL's): 224 px crops (0.08-1), flip 0.5, jitter (0.4, 0.4,
0.2, 0.1) p 0.8, grayscale 0.2, blur 1.0 / 0.1, solarize 0 / 0.2.
Reported: linear 73.2 (paper).

The gradient is the true one; `--config.method.world_size_scale=W` gives
the official code's 1/W of it on W GPUs (methods/barlow_twins.py). Crops
are resized as the official PIL BICUBIC (aug.interpolation).
Streams the tfds `imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/barlow_twins_imagenet.py \
      --workdir W --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import barlow_twins


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = barlow_twins.default_config()
  config.method.lambda_ = 0.0051
  config.method.scale_loss = 1.0
  config.method.proj_hidden = (8192, 8192)
  config.method.proj_dim = 8192
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  # The official crop resize (main.py: RandomResizedCrop(224,
  # interpolation=Image.BICUBIC) on PIL images).
  config.aug.interpolation = 'bicubic_antialias'
  config_presets.imagenet_views(config)

  config.batch_size = 2048
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 0.2
  config.optim.lr_biases = 0.0048
  config.optim.weight_decay = 1e-6
  config.optim.end_lr_ratio = 0.001
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config
