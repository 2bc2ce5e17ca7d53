"""VICReg on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/vicreg_fashion_mnist.py \
      --workdir W
  ...vicreg_fashion_mnist.py:smoke          a few steps, tiny backbone
  ...vicreg_fashion_mnist.py:backbone=vit   the same with a small ViT

A CPU-sized demo, not a paper recipe: ResNet-18 at width 0.125 with the CIFAR
stem, batch 256, 3 epochs, a 512-512-512 expander, the paper's loss weights
(25 / 25 / 1). Optimizer values are solo-learn's CIFAR ones
(docs/methods.md#vicreg: LARS lr 0.3, wd 1e-4); views are SimCLR's
Fashion-MNIST ones (crop 0.2-1, brightness/contrast jitter, no blur on
28 px) with solo-learn's CIFAR solarize 0.1 on both views. Not tuned by
measurement.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import vicreg


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet')
  config = config_lib.base_config()
  config.method = vicreg.default_config()
  config.method.proj_hidden = (512, 512)
  config.method.proj_dim = 512

  # resnet: the optimizer below; vit: AdamW lr 5e-4, wd 0.05.
  config_presets.fashion_mnist_backbone(config, arg.backbone)
  if arg.backbone == 'resnet':
    config.optim.name = 'lars'
    config.optim.lr = 0.3
    config.optim.weight_decay = 1e-4

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_views(config, solarize_p=(0.1,))

  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config
