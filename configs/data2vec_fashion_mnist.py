"""data2vec 2.0 on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/data2vec_fashion_mnist.py --workdir W
  ...data2vec_fashion_mnist.py:smoke    a few steps, one-block ViT (tests)

A CPU-sized demo, not a paper recipe. Measured on 2026-12-07 (quiet 2-core
AMD EPYC, benchmarks/results_table.py): 3 epochs in 23.0 min (134 img/s),
kNN 0.7449, linear 0.7983 (README's default-length table). ViT dim 192,
depth 6, 3 heads, CLS token, mean-pooled features, on 4x4 patches: a 7x7
grid of 49. Why patch 4: inverse block masking keeps 20% of the patches
around 3x3 blocks; on the 4x4 grid of 7 px patches that is 3 patches and
no block at all (0 centres), on 7x7 it is 9 patches around one 3x3 block.
Cost, measured on the shared 2-core CPU at batch 256 (one device, jit,
noisy under load): 3.0-5.2 s per step with 2 clones and a 64-wide, 2-layer
decoder (this default: 35-60 minutes for 3 epochs); 5.2 s with 4 clones;
11-16 s with 4 clones and the encoder-wide (192) 3-layer decoder. The
teacher's full-image pass (49 + 1 tokens) alone is ~1.5 s, the student sees
2 x (9 + 1) tokens per image.

Recipe (docs/methods.md#data2vec-20, ViT-B image config scaled down): mask
0.8 (adjust 0.07, blocks of 3), targets = the mean of the top 5 of 6 blocks
(ViT-B: 10 of 12), 2 clones per image (ViT-B: 16), conv decoder 64 wide x 2
layers of kernel 3 in 16 groups (ViT-B: 768 = the encoder x 6; here the
first layer has no residual as the widths differ, fairseq's rule), CLS
weight 0.01 x 16 x 16 (the official per-GPU scaling, see
methods/data2vec.py), views =
random resized crop (0.2, 1) + flip, no colour; AdamW (0.9, 0.95), lr 1e-3
(not scaled by batch), weight decay 0.05, cosine, global grad-norm clip 4.
Teacher EMA 0.999 -> 0.9999 linear over the run (the paper's 0.9998 ->
0.99999 over 100k updates would keep the teacher at its random init in a
few hundred steps; not tuned).
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import data2vec


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = data2vec.default_config()
  config.method.update(
      clones=2, mask_prob=0.8, mask_prob_adjust=0.07, mask_length=3,
      top_k=5, decoder_dim=64, decoder_layers=2, decoder_kernel=3,
      decoder_groups=16, cls_weight=0.01 * 16 * 16, ema_base=0.999,
      ema_final=0.9999, ema_anneal_steps=None)
  config.backbone = config_lib.backbone_config(
      'vit', dim=192, depth=6, heads=3, patch_size=4, cls_token=True,
      pool='mean', **data2vec.VIT_INIT)

  config_presets.fashion_mnist_data(config)
  config_presets.crop_only_views(config, 28, crop_scale=(0.2, 1.0))

  config.optim.name = 'adamw'
  config.optim.lr = 1e-3
  config.optim.lr_scaling = 'none'
  config.optim.b1 = 0.9
  config.optim.b2 = 0.95
  config.optim.weight_decay = 0.05
  config.optim.grad_clip_norm = 4.0

  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200

  if arg.smoke:
    config_lib.shrink_for_smoke(config)
    config.backbone.update(dim=16, depth=1, heads=2, patch_size=7)
    config.method.update(clones=2, top_k=1, decoder_dim=16,
                         decoder_layers=1, decoder_groups=4)
  return config
