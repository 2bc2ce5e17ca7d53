"""DINOv2 on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/dinov2_fashion_mnist.py --workdir W
  ...dinov2_fashion_mnist.py:smoke     a few steps, tiny ViT (tests)

A CPU-sized demo, not a paper recipe. Measured on 2026-12-07 (2-core AMD
EPYCs, README "Measured"): 3 epochs, kNN / linear 0.6339 / 0.6740 in one
run and 0.7094 / 0.6957 in another (0.7175 / 0.7298 after its first
epoch): no gain after epoch 1 at this length, and a large spread between
runs. DINOv2 needs
a ViT (patch tokens, a mask token): the demos' ViT (dim 192, 6 blocks, 3
heads, 7x7 patches of 28 px images: a 4x4 grid) with CLS features and the
official initialisation choices (torch's Conv2d default for the patch
embedding, CLS token N(0, 1e-6^2), learned positions interpolated for the
local crops). The paper's method (vitg14.yaml): Sinkhorn-Knopp centring,
separate iBOT head, KoLeo 0.1 per 64 images, masks on half the global crops
(10-50 % of their 16 patches, in blocks). Heads 512-512-128, K = 1024 each
(the other demos' size). Views as dino_fashion_mnist: 2 global crops
(0.32-1, the DINOv2 scale), 4 local crops of 14 px (0.1-0.32); no blur.
Optimizer: vitl16_short.yaml's AdamW at its sqrt rule (0.004 x sqrt(B /
1024)), layer decay 0.9, patch embedding x 0.2, weight decay 0.04 -> 0.4,
global-norm clip 3.0; teacher EMA 0.992 -> 1, tau_t 0.04 -> 0.07 over the
first epoch, last layers frozen for half an epoch. SimCLR's demo length: 3
epochs, 0.5 warm-up.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import dinov2


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = dinov2.default_config()
  config.method.update(
      out_dim=1024, head_hidden=512, head_bottleneck=128,
      separate_ibot_head=True, ibot_out_dim=1024, ibot_head_hidden=512,
      ibot_head_bottleneck=128, centering='sinkhorn_knopp',
      warmup_teacher_temp_epochs=1.0, freeze_last_layer_epochs=0.5,
      koleo_batch=64)

  config_presets.fashion_mnist_backbone(config, 'vit')
  config.backbone.update(pool='cls', patch_init='torch',
                         dense_init='trunc_normal', layer_scale_init=1e-5,
                         cls_init_std=1e-6,
                         pos_embed='interpolated', pos_grid=4, drop_path=0.1,
                         drop_path_uniform=True)
  config.optim.update(
      name='adamw', lr=0.004 / 1024**0.5, lr_scaling='sqrt',
      weight_decay=0.04, weight_decay_end=0.4, layer_decay=0.9,
      patch_embed_lr_mult=0.2, grad_clip_norm=3.0)
  config.optim.end_lr_ratio = 1e-6 / (0.004 * (256 / 1024)**0.5)

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_multicrop(config, global_scale=(0.32, 1.0),
                                         solarize_p=(0.0, 0.2))

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    config.backbone.depth = 1  # The cheapest to compile.
    config.aug.local_crops = 2
    config.method.update(out_dim=64, head_hidden=32, head_bottleneck=16,
                         ibot_out_dim=32, ibot_head_hidden=32,
                         ibot_head_bottleneck=16, koleo_batch=8)
  return config
