"""SwAV on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/swav_fashion_mnist.py --workdir W
  ...swav_fashion_mnist.py:backbone=vit       a small ViT instead
  ...swav_fashion_mnist.py:smoke              a few steps, tiny ViT (tests)
  ...swav_fashion_mnist.py:smoke,backbone=resnet   the same, tiny ResNet

A CPU-sized demo, not a paper recipe; accuracy not measured here. The
backbone is ResNet-18 at width 0.125 with the CIFAR stem (DINO's demo, whose
multi-crop step costs about what SwAV's does); the smoke preset uses a
one-block ViT unless backbone=resnet is given: it is the cheapest to
compile, and its queue (one smoke batch, from step 0) makes the smoke run go
through the queued Sinkhorn too.

Views follow SwAV's multi-crop at 28 px: 2 global crops (0.14-1) and 4 local
crops of 14 px (0.1-0.14: the official 0.05 would be a 6 px patch of a 28 px
image), symmetric (no solarize); no blur (too strong at this size, as in
simclr_fashion_mnist); brightness and contrast jitter only (grayscale).
Head 512-128, K = 256 prototypes: without a queue the B = 256 images of a
batch are what Sinkhorn spreads over the prototypes, so K is kept at B.
No queue: the official starts it at epoch 15 (the batch-256 scripts), once
the embeddings change slowly, and this demo lasts 3 epochs; set
method.queue_length (a multiple of the batch) and method.epoch_queue_starts
to try it. Prototypes frozen for the first half epoch (117 updates; the
official's 313 and 5005 are about one epoch); eps 0.05, T 0.1, 3 Sinkhorn
iterations as the paper. DINO's demo length: 3 epochs,
0.5 warm-up.
  resnet  solo-learn's CIFAR SwAV values (docs/methods.md#swav): LARS lr 0.6
          (x B/256), wd 1e-6, biases and norms excluded.
  vit     the ViT module's demo optimizer (AdamW lr 5e-4 x B/256, wd 0.05);
          any other backbone (backbone=convnext) takes its module's.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import swav


def get_config(arg=None):
  # backbone '' means resnet, or vit under smoke.
  arg = config_lib.parse_arg(arg, smoke=False, backbone='')
  backbone = arg.backbone or ('vit' if arg.smoke else 'resnet')
  config = config_lib.base_config()
  config.method = swav.default_config()
  config.method.update(num_prototypes=256, proj_hidden=(512,), proj_dim=128,
                       queue_length=0,
                       # Half an epoch (117 updates), so the 1-epoch cut of
                       # benchmarks/results_table.py trains them too.
                       freeze_prototypes_niters=60_000 // 256 // 2)

  config_presets.fashion_mnist_backbone(config, backbone)  # Its size.
  if backbone == 'resnet':
    config.optim.name = 'lars'
    config.optim.lr = 0.6
    config.optim.weight_decay = 1e-6

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_multicrop(config, global_scale=(0.14, 1.0),
                                         solarize_p=(0.0,))

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    if backbone == 'vit':
      config.backbone.depth = 1  # The cheapest to compile.
    config.aug.local_crops = 2
    config.method.update(num_prototypes=32, proj_hidden=(32,), proj_dim=16,
                         freeze_prototypes_niters=2,
                         queue_length=config.batch_size,
                         epoch_queue_starts=0)
  return config
