"""SimCLR on ImageNet-1k: the paper's recipe (docs/methods.md#simclr).

ResNet-50, batch 4096, LARS at base lr 0.3 (x B/256 = 4.8), weight decay 1e-6,
temperature 0.1, 10 warm-up epochs then cosine, 100 epochs (the paper also
reports 1000); SimCLR v2's 3-layer 2048-wide projector to 128-d. Views:
224 px random resized crops (0.08-1), flip, colour jitter strength 1.0 with
p 0.8, grayscale 0.2, Gaussian blur 0.5, no solarize. Streams the tfds
`imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/simclr_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simclr


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = simclr.default_config()
  config.method.temperature = 0.1
  config.method.proj_hidden = (2048, 2048)
  config.method.proj_dim = 128
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  config_presets.imagenet_views(
      config, jitter=(0.8, 0.8, 0.8, 0.2),  # Strength 1.0.
      blur_p=(0.5,), solarize_p=(0.0,))

  config.batch_size = 4096
  config.total_epochs = 100.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 0.3
  config.optim.weight_decay = 1e-6
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config
