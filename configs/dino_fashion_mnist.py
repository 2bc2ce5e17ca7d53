"""DINO on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/dino_fashion_mnist.py --workdir W
  ...dino_fashion_mnist.py:backbone=vit       a small ViT instead
  ...dino_fashion_mnist.py:smoke              a few steps, tiny ViT (tests)
  ...dino_fashion_mnist.py:smoke,backbone=resnet   the same, tiny ResNet

A CPU-sized demo, not a paper recipe; accuracy not measured. The default
backbone is ResNet-18 at width 0.125 with the CIFAR stem because it fits the
CPU budget: a training step (batch 256, 2 global + 4 local crops, teacher
included) took 3.3 s on the shared 2-core CPU against 4.2 s for
simclr_fashion_mnist's default in the same conditions, while the ViT preset
(dim 192, depth 6, 3 heads, 7x7 patches, CLS pooling) took 7.2 s. The smoke
preset uses a one-block ViT unless backbone=resnet is given: it is the
cheapest to compile.

Views follow DINO's policy at 28 px: 2 global crops (0.4-1), the second with
solarize 0.2, plus 4 local crops of 14 px (0.1-0.4; the paper's 0.05 would be
a 6 px patch of a 28 px image; 14 is a multiple of the ViT's 7 px patch); no
blur (too strong at this size, as in simclr_fashion_mnist); brightness and
contrast jitter only (grayscale). Head 512-512-128, K = 1024; centre 0.9;
last layer frozen for epoch 1; teacher EMA 0.996 -> 1 (0.9995, solo-learn's
CIFAR value, would barely move the teacher in a 700-step run). SimCLR's demo
length: 3 epochs, 0.5 warm-up.
  resnet  solo-learn's CIFAR DINO values (docs/methods.md#dino): LARS lr 0.3
          (x B/256), wd 1e-6, tau_t 0.07 constant.
  vit     main_dino.py's defaults: AdamW lr 5e-4 (x B/256), wd 0.04 -> 0.4,
          cosine to 1e-6, tau_t 0.04; any other backbone (backbone=convnext)
          takes these too, at its module's Fashion-MNIST size.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import dino


def get_config(arg=None):
  # backbone '' means resnet, or vit under smoke.
  arg = config_lib.parse_arg(arg, smoke=False, backbone='')
  backbone = arg.backbone or ('vit' if arg.smoke else 'resnet')
  config = config_lib.base_config()
  config.method = dino.default_config()
  config.method.update(out_dim=1024, head_hidden=512, head_bottleneck=128,
                       ema_base=0.996, freeze_last_layer_epochs=1.0)

  config_presets.fashion_mnist_backbone(config, backbone)  # Its size.
  if backbone == 'resnet':
    config.method.update(teacher_temp=0.07, warmup_teacher_temp_epochs=0)
    config.optim.name = 'lars'
    config.optim.lr = 0.3
    config.optim.weight_decay = 1e-6
  else:  # main_dino.py's ViT recipe, for the ViT and any other backbone.
    if backbone == 'vit':
      config.backbone.update(pool='cls', **dino.VIT_INIT)
    config.method.update(teacher_temp=0.04, warmup_teacher_temp_epochs=0)
    config.optim.name = 'adamw'
    config.optim.lr = 5e-4
    config.optim.weight_decay = 0.04
    config.optim.weight_decay_end = 0.4
    config.optim.end_lr_ratio = 1e-6 / 5e-4  # min_lr 1e-6 at batch 256.

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_multicrop(config, global_scale=(0.4, 1.0),
                                         solarize_p=(0.0, 0.2))

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    if backbone == 'vit':
      config.backbone.depth = 1  # The cheapest to compile.
    config.aug.local_crops = 2
    config.method.update(out_dim=64, head_hidden=32, head_bottleneck=16)
  return config
