"""data2vec 2.0 on ImageNet-1k: the paper's ViT-B/16 recipe
(docs/methods.md#data2vec-20).

fairseq `examples/data2vec/config/v2/base_images_only_task.yaml`: ViT-B/16
(768 wide, 12 blocks, 12 heads, 1 CLS token, fixed sin-cos positions) at
224 px; 16 inverse-block masks per image (mask 0.8, adjust 0.07, blocks of
3: 39 of 196 patches kept) sharing one teacher pass; targets = LN of the
mean of the top 10 blocks' instance-normed FFN outputs; conv decoder 768
wide, 6 layers of kernel 3 in 16 groups; CLS loss 0.01 (x 16 images x 16
clones per GPU = 2.56 on the row mean, see methods/data2vec.py). Adam with
decoupled weight decay (AdamW) beta (0.9, 0.95), lr 1e-3 (not scaled by
batch), weight decay 0.05 (not on biases / norms), cosine with 50,040
linear warm-up updates from 0, 375,300 updates at 256 images (16 GPUs x 16),
global grad-norm clip 4; teacher EMA 0.9998 -> 0.99999 linear over 100k
updates, then flat. Views: one random resized crop 224 (0.2, 1) + flip
(mae_image_dataset.py), no colour. Patch embedding xavier-uniform on its
flattened [D, C p^2] kernel, CLS token N(0, 1) (data2vec.VIT_INIT, as
`images.py` and `init_extra_token_zero: false`). bfloat16 compute (the
official: fp16).
Streams tfds `imagenet2012` from config.data.data_dir.

Reported: fine-tune ViT-B 84.5 (paper, not re-verified), ViT-L 86.8.
See methods/data2vec.py for the differences (pre-LN blocks, ...).

  python -m ssl_jax.main --config configs/data2vec_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import data2vec


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = data2vec.default_config()
  config.method.update(
      clones=16, mask_prob=0.8, mask_prob_adjust=0.07, mask_length=3,
      top_k=10, decoder_dim=768, decoder_layers=6, decoder_kernel=3,
      decoder_groups=16, mask_noise_std=0.01, cls_weight=0.01 * 16 * 16,
      ema_base=0.9998, ema_final=0.99999, ema_anneal_steps=100_000)
  config.backbone = config_lib.backbone_config(
      'vit', variant='base', patch_size=16, cls_token=True, pool='mean',
      **data2vec.VIT_INIT)

  config_presets.imagenet_data(config)
  # The official crop resize (mae_image_dataset.py: RandomResizedCrop(...,
  # interpolation=3), PIL).
  config.aug.interpolation = 'bicubic_antialias'
  config_presets.crop_only_views(config, 224, crop_scale=(0.2, 1.0))

  config.batch_size = 256
  config.total_steps = 375_300
  config.warmup_steps = 50_040
  config.optim.name = 'adamw'
  config.optim.lr = 1e-3
  config.optim.lr_scaling = 'none'
  config.optim.b1 = 0.9
  config.optim.b2 = 0.95
  config.optim.weight_decay = 0.05
  config.optim.end_lr_ratio = 0.0
  config.optim.grad_clip_norm = 4.0
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone = config_lib.backbone_config(
        'vit', dim=16, depth=1, heads=2, patch_size=16, cls_token=True,
        pool='mean', **data2vec.VIT_INIT)
    config.method.update(clones=2, top_k=1, decoder_dim=16,
                         decoder_layers=1, decoder_groups=4,
                         ema_anneal_steps=None)
  return config
