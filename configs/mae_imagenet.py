"""MAE on ImageNet-1k: the paper's ViT-L/16 recipe (docs/methods.md#mae).

facebookresearch/mae PRETRAIN.md: `--model mae_vit_large_patch16
--norm_pix_loss --mask_ratio 0.75 --epochs 800 --warmup_epochs 40
--blr 1.5e-4 --weight_decay 0.05`, effective batch 4096 (64 per GPU x 8
nodes x 8 GPUs). Encoder ViT-L/16 (1024 wide, 24 blocks, 16 heads, CLS,
fixed sin-cos positions) on the 49 visible of 196 patches; decoder 512
wide, 8 blocks, 16 heads; loss on normalised pixels of the removed patches.
AdamW beta (0.9, 0.95), lr 1.5e-4 x B/256 = 2.4e-3, weight decay 0.05 (not
on biases / norms), 40 warm-up epochs, half-cosine to 0, per iteration.
Views: one random resized crop 224 (0.2, 1) + flip, no colour augmentation
(main_pretrain.py), resized as its PIL bicubic (aug.interpolation).
Patch embedding xavier-uniform on its flattened [D, C p^2] kernel
(models_mae.py; mae.VIT_INIT).
bfloat16 compute (the official run uses fp16 autocast). Streams the tfds
`imagenet2012` dataset from config.data.data_dir.

Reported (FINETUNE.md, 1600-epoch checkpoints): fine-tune ViT-L 85.9
(ViT-B 83.6, ViT-H 86.9); linear probe (CLS, BN head) ViT-L 75.8.
`variant=base` selects ViT-B/16 with the same recipe.

  python -m ssl_jax.main --config configs/mae_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import mae


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, variant='large')
  config = config_lib.base_config()
  config.method = mae.default_config()
  config.method.update(mask_ratio=0.75, norm_pix=True, decoder_dim=512,
                       decoder_depth=8, decoder_heads=16)
  config.backbone = config_lib.backbone_config(
      'vit', variant=arg.variant, patch_size=16, pool='cls', **mae.VIT_INIT)

  config_presets.imagenet_data(config)
  # The official crop resize (main_pretrain.py: RandomResizedCrop(...,
  # interpolation=3), PIL).
  config.aug.interpolation = 'bicubic_antialias'
  config_presets.crop_only_views(config, 224, crop_scale=(0.2, 1.0))

  config.batch_size = 4096
  config.total_epochs = 800.0
  config.warmup_epochs = 40.0
  config.optim.name = 'adamw'
  config.optim.lr = 1.5e-4
  config.optim.lr_scaling = 'linear'
  config.optim.b1 = 0.9
  config.optim.b2 = 0.95
  config.optim.weight_decay = 0.05
  config.optim.end_lr_ratio = 0.0
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone = config_lib.backbone_config(
        'vit', dim=16, depth=1, heads=2, patch_size=16, pool='cls',
        **mae.VIT_INIT)
    config.method.update(decoder_dim=16, decoder_depth=1, decoder_heads=2)
  return config
