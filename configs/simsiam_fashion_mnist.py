"""SimSiam on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/simsiam_fashion_mnist.py --workdir W
  ...simsiam_fashion_mnist.py:smoke           a few steps, tiny backbone
  ...simsiam_fashion_mnist.py:backbone=vit    the same with a small ViT

A CPU-sized demo, not a paper recipe: ResNet-18 at width 0.125 with the
CIFAR stem, batch 256, 3 epochs. The optimizer is solo-learn's CIFAR one
(docs/methods.md#simsiam: SGD momentum 0.9, lr 0.5, wd 1e-5 on every
parameter); views are SimCLR's Fashion-MNIST ones, symmetric (crop 0.2-1,
brightness/contrast jitter, no blur on 28 px); heads narrowed to the 64-d
features (projector 512-512-512, predictor bottleneck 128, SimSiam's 1/4
ratio). Not tuned by measurement.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simsiam


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet')
  config = config_lib.base_config()
  config.method = simsiam.default_config()
  config.method.proj_hidden = (512, 512)
  config.method.proj_dim = 512
  config.method.pred_hidden = (128,)

  # resnet: the optimizer below; vit: AdamW lr 5e-4, wd 0.05.
  config_presets.fashion_mnist_backbone(config, arg.backbone)
  if arg.backbone == 'resnet':
    config.optim.name = 'sgd'
    config.optim.lr = 0.5
    config.optim.momentum = 0.9
    config.optim.weight_decay = 1e-5
    config.optim.exclude_norm_and_bias = False  # SGD decays every array.

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_views(config, solarize_p=(0.0,))

  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    config.method.proj_hidden = (32, 32)
    config.method.proj_dim = 16
    config.method.pred_hidden = (8,)
  return config
