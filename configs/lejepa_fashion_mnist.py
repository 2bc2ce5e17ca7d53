"""LeJEPA on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/lejepa_fashion_mnist.py --workdir W
  ...lejepa_fashion_mnist.py:backbone=vit      a small ViT instead
  ...lejepa_fashion_mnist.py:smoke             a few steps, tiny ViT (tests)
  ...lejepa_fashion_mnist.py:smoke,backbone=resnet   the same, tiny ResNet

A CPU-sized demo, not a paper recipe. ResNet-18 at width 0.125 with the
CIFAR stem by default (the size of the other Fashion-MNIST demos).

Views follow the official README's multi-crop at 28 px: 2 global crops
(0.3-1) and 4 local crops of 14 px (0.1-0.3; the README's 0.05 would be a
6 px patch of a 28 px image; 14 is a multiple of the ViT's 7 px patch),
every crop with the same colour policy (solarize 0.2 on all, as the README;
no blur, too strong at this size; brightness and contrast jitter only,
grayscale). The loss is the official one (lambda 0.05, 1024 slices, 17
knots on [0, 3]); the projector is narrower than the paper's (Dense 128 ->
512 -> 512 -> 64 against 512 -> 2048 -> 2048 -> 512), as the other demos'
heads. README optimizer: AdamW lr 5e-4 (not scaled by the batch), weight
decay 5e-4 for ResNets and 5e-2 for ViTs, on every parameter (MINIMAL.md's
one group), linear warm-up from 0.01 x lr (MINIMAL.md's LinearLR) then
cosine to lr / 1000. SimCLR's demo length: 3 epochs, 0.5 warm-up.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import lejepa


def get_config(arg=None):
  # backbone '' means resnet, or vit under smoke.
  arg = config_lib.parse_arg(arg, smoke=False, backbone='')
  backbone = arg.backbone or ('vit' if arg.smoke else 'resnet')
  config = config_lib.base_config()
  config.method = lejepa.default_config()
  config.method.update(embedding_dim=128, proj_hidden=(512, 512),
                       proj_dim=64)

  config_presets.fashion_mnist_backbone(config, backbone)  # Its size.
  config.optim.update(
      name='adamw', lr=5e-4, lr_scaling='none',
      weight_decay=5e-4 if backbone == 'resnet' else 5e-2,
      exclude_norm_and_bias=False, start_lr_ratio=0.01, end_lr_ratio=1e-3)

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_multicrop(config, global_scale=(0.3, 1.0),
                                         solarize_p=(0.2,),
                                         local_solarize_p=0.2)

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    if backbone == 'vit':
      config.backbone.depth = 1  # The cheapest to compile.
    config.aug.local_crops = 2
    config.method.update(embedding_dim=16, proj_hidden=(32,), proj_dim=16,
                         num_slices=64)
  return config
