"""VICReg on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/vicreg_fashion_mnist.py \
      --workdir W
  ...vicreg_fashion_mnist.py:smoke          a few steps, tiny backbone
  ...vicreg_fashion_mnist.py:backbone=vit   the same with a small ViT

A CPU-sized demo, not a paper recipe: ResNet-18 at width 0.125 with the CIFAR
stem, batch 256, 3 epochs, a 512-512-512 expander, the paper's loss weights
(25 / 25 / 1). Optimizer values are solo-learn's CIFAR ones (METHODS.md §7:
LARS lr 0.3, wd 1e-4); views are SimCLR's Fashion-MNIST ones (crop 0.2-1,
brightness/contrast jitter, no blur on 28 px) with solo-learn's CIFAR
solarize 0.1 on both views. Not tuned by measurement.
"""

from ssl_jax import config_lib
from ssl_jax.methods import vicreg


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet')
  config = config_lib.base_config()
  config.method = vicreg.default_config()
  config.method.proj_hidden = (512, 512)
  config.method.proj_dim = 512

  if arg.backbone == 'resnet':
    config.backbone = config_lib.backbone_config(
        'resnet', depth=18, width=0.125, cifar_stem=True)
    config.optim.name = 'lars'
    config.optim.lr = 0.3
    config.optim.weight_decay = 1e-4
  else:  # A small ViT on 7x7 patches (16 tokens), as simclr_fashion_mnist.
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
  config.aug.blur_p = (0.0,)
  config.aug.solarize_p = (0.1,)

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
