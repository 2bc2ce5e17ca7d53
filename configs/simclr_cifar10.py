"""SimCLR on CIFAR-10: the official README recipe (docs/methods.md#simclr).

ResNet-18 with the CIFAR stem, batch 512, LARS at base lr 1.0 (x B/256),
weight decay 1e-4, temperature 0.5, colour jitter strength 0.5, no blur,
1000 epochs, 10 warm-up epochs; SimCLR v2's 3-layer projector to 128-d.
Needs the tfds `cifar10` dataset prepared in config.data.data_dir.

  python -m ssl_jax.main --config configs/simclr_cifar10.py --workdir W \
      --config.data.data_dir=/path/to/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simclr


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = simclr.default_config()
  config.method.temperature = 0.5
  config.method.proj_hidden = (512, 512)  # Input width, 3 layers in all.
  config.method.proj_dim = 128
  config.backbone = config_lib.backbone_config(
      'resnet', depth=18, width=1.0, cifar_stem=True)

  config_presets.cifar10_data(config)
  config_presets.cifar10_views(
      config, jitter=(0.4, 0.4, 0.4, 0.1),  # Strength 0.5.
      solarize_p=(0.0,))

  config.batch_size = 512
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 1.0
  config.optim.weight_decay = 1e-4
  config.checkpoint.every_steps = 2000
  config.eval.knn_k = 200

  if arg.smoke:
    config_presets.shrink_cifar10_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config
