"""I-JEPA on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/ijepa_fashion_mnist.py --workdir W
  ...ijepa_fashion_mnist.py:smoke    a few steps, one-block ViT (tests)

A CPU-sized demo, not a paper recipe; accuracy not measured. ViT dim 192,
depth 6, 3 heads, no CLS, mean-pooled features, on 4x4 patches: a 7x7 grid
of 49 patches. Why patch 4 and not 7: multi-block masking needs a grid on
which a 15-20% target block and an 85-100% context block are different
shapes; on the 4x4 grid of 7 px patches the targets are 1-4 patches and the
context a fixed 3x3 corner. Cost: 1.3-2.4 s per step at batch 256 on the
shared 2-core CPU (one device, jit; noisy under load), i.e. 15-28 minutes
for the 3 epochs, as DINO's default (context encoder on 11 patches, target
encoder on all 49, predictor on 11 + 6 tokens x 4 blocks). Predictor
narrowed to 96 wide, 2 blocks, 3 heads.

Masks at 7x7 (data/multiblock.py): 4 target blocks of 6..12 patches (all
kept, padded to 12), context = the 6x6 block (one position) minus the
targets, the shortest clean context of each group of 128 examples (the
official rule), padded to and capped at 11 tokens (min_keep 10 + 1: the
usual minimum over 128 images; a cap keeps the CPU demo cheap).
Recipe (docs/methods.md#i-jepa): views = random resized crop (0.3, 1), no
flip, no colour; AdamW (0.9, 0.999), weight decay 0.04 -> 0.4 (cosine), lr
1e-3 (not scaled by batch) warmed up then cosine to 1e-6; target EMA 0.996
-> 1, linear. 3 epochs.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import ijepa


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = ijepa.default_config()
  config.method.update(pred_dim=96, pred_depth=2, pred_heads=3,
                       num_context_tokens=11, min_keep=10)
  config.backbone = config_lib.backbone_config(
      'vit', dim=192, depth=6, heads=3, patch_size=4, cls_token=False,
      pool='mean', **ijepa.VIT_INIT)

  config_presets.fashion_mnist_data(config)
  config_presets.crop_only_views(config, 28, crop_scale=(0.3, 1.0), flip_p=0.0)

  config.optim.name = 'adamw'
  config.optim.lr = 1e-3
  config.optim.lr_scaling = 'none'
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.weight_decay = 0.04
  config.optim.weight_decay_end = 0.4
  config.optim.end_lr_ratio = 1e-6 / 1e-3

  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200

  if arg.smoke:
    config_lib.shrink_for_smoke(config)
    # 4x4 grid of 7 px patches: the context block is 3x3, so min_keep 2
    # and at most 3 context tokens, the shortest of each 4 examples.
    config.backbone.update(dim=16, depth=1, heads=2, patch_size=7)
    config.method.update(pred_dim=16, pred_depth=1, pred_heads=2,
                         num_context_tokens=3, min_keep=2, context_group=4)
  return config
