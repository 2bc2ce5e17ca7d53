"""MoCo v3 on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/moco_v3_fashion_mnist.py --workdir W
  ...moco_v3_fashion_mnist.py:smoke           a few steps, tiny backbone
  ...moco_v3_fashion_mnist.py:backbone=vit    a small ViT, MoCo v3's ViT heads

A CPU-sized demo, not a paper recipe: ResNet-18 at width 0.125 with the
CIFAR stem, batch 256, 3 epochs. Optimizer, temperature and momentum are
solo-learn's CIFAR values (docs/methods.md#moco-v3: LARS lr 0.3, wd 1e-6,
tau 0.2, momentum 0.99 -> 1); views are SimCLR's Fashion-MNIST ones (crop
0.2-1, brightness/contrast jitter, no blur on 28 px) with the asymmetric
solarize (0 / 0.2); heads narrowed to the 64-d features (512 hidden, 128
out). The ViT preset uses the paper's ViT heads (3-layer projector,
predictor ending in BN without affine) and frozen patch embedding. Not
tuned by measurement.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import moco_v3


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet')
  config = config_lib.base_config()
  config.method = moco_v3.default_config()
  config.method.temperature = 0.2
  config.method.ema_base = 0.99
  config.method.proj_hidden = (512,)
  config.method.proj_dim = 128
  config.method.pred_hidden = (512,)

  # resnet: the optimizer below; vit: AdamW lr 5e-4, wd 0.05.
  config_presets.fashion_mnist_backbone(config, arg.backbone)
  if arg.backbone == 'resnet':
    config.optim.name = 'lars'
    config.optim.lr = 0.3
    config.optim.weight_decay = 1e-6
  elif arg.backbone == 'vit':  # MoCo v3's ViT recipe.
    config.method.proj_hidden = (512, 512)  # MoCo v3's ViT heads.
    config.method.pred_last_bn = 'no_affine'
    config.method.freeze_patch_embed = True
    config.backbone.update(moco_v3.VIT_INIT)

  config_presets.fashion_mnist_data(config)
  # BYOL's asymmetric views.
  config_presets.fashion_mnist_views(config, solarize_p=(0.0, 0.2))

  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    config.method.proj_hidden = (32,) * len(config.method.proj_hidden)
    config.method.proj_dim = 16
    config.method.pred_hidden = (32,)
  return config
