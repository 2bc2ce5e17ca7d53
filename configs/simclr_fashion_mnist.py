"""SimCLR on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/simclr_fashion_mnist.py --workdir W
  ...simclr_fashion_mnist.py:smoke           a few steps, tiny backbone (tests)
  ...simclr_fashion_mnist.py:backbone=vit    the same with a small ViT

The default is the CPU demo: chosen by measurement on a 2-core CPU so that
pretraining + evaluation takes under 15 minutes and its kNN accuracy beats
the raw-pixel kNN baseline (see README, "Measured").
"""

from ssl_jax import config_lib
from ssl_jax.methods import simclr


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet')
  config = config_lib.base_config()
  config.method = simclr.default_config()
  config.method.temperature = 0.2
  config.method.proj_hidden = (512,)
  config.method.proj_dim = 128

  if arg.backbone == 'resnet':
    config.backbone = config_lib.backbone_config(
        'resnet', depth=18, width=0.25, cifar_stem=True)
    config.optim.name = 'lars'
    config.optim.lr = 0.3
    config.optim.weight_decay = 1e-6
  else:  # A small ViT on 7x7 patches (16 tokens).
    config.backbone = config_lib.backbone_config(
        'vit', dim=192, depth=6, heads=3, patch_size=7, pool='mean')
    config.optim.name = 'adamw'
    config.optim.lr = 5e-4
    config.optim.weight_decay = 0.05

  config.data.name = 'fashion_mnist_offline'
  config.data.mean = (0.2860,)
  config.data.std = (0.3530,)
  config.aug.crop_size = 28
  config.aug.crop_scale = (0.2, 1.0)
  config.aug.jitter = (0.4, 0.4, 0.0, 0.0)  # Grayscale: brightness, contrast.

  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200

  if arg.smoke:
    config_lib.shrink_for_smoke(config)
    if arg.backbone == 'resnet':
      config.backbone.width = 0.0625
    else:
      config.backbone.update(dim=16, depth=2, heads=2)
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config
