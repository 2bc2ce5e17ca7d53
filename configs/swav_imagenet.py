"""SwAV on ImageNet-1k: the README's multi-crop recipes
(docs/methods.md#swav).

Default: `scripts/swav_800ep_pretrain.sh` of facebookresearch/swav (75.3
linear top-1), 64 GPUs x 64 = batch 4096; `:epochs=100|200|400` are the
README's shorter runs (72.1 / 73.9 / 74.6), the same command with another
--epochs. main_swav.py with `--nmb_crops 2 6 --size_crops 224 96
--min_scale_crops 0.14 0.05 --max_scale_crops 1. 0.14 --crops_for_assign 0
1 --temperature 0.1 --epsilon 0.05 --sinkhorn_iterations 3 --feat_dim 128
--nmb_prototypes 3000 --queue_length 0 --base_lr 4.8 --final_lr 0.0048
--freeze_prototypes_niters 313 --wd 0.000001 --warmup_epochs 10
--start_warmup 0.3 --arch resnet50 --use_fp16 true`: ResNet-50, projector
2048-128 with BN, SGD momentum 0.9 wrapped in LARC (trust coefficient
0.001, no clipping) over every parameter (BN and biases included, as is the
weight decay), lr warmed from 0.3 to 4.8 over 10 epochs (no batch scaling:
the scripts give the lr itself), cosine to 0.0048.
`:batch=256` is `scripts/swav_{200,400}ep_bs256_pretrain.sh` (72.7 / 74.3):
batch 256, lr 0.6 without warm-up, cosine to 0.0006, a queue of 3840
embeddings from epoch 15, prototypes frozen for 5005 updates (epochs 200 or
400 only).
Views (`src/multicropdataset.py`, every crop alike): 2 global 224 px crops
(0.14-1) and 6 local 96 px crops (0.05-0.14), flip, jitter (0.8, 0.8, 0.8,
0.2) p 0.8, grayscale 0.2, blur 0.5 (sigma 0.1-2), no solarize, resized
bilinearly (torchvision's default on PIL images). bfloat16 compute (the
official uses apex O1 fp16). Streams the tfds `imagenet2012` dataset from
config.data.data_dir.

  python -m ssl_jax.main --config configs/swav_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import swav

# batch -> (base lr, final lr, warm-up epochs, start lr, frozen updates,
# queue length, epochs allowed): the scripts' values.
_BY_BATCH = {
    4096: (4.8, 0.0048, 10.0, 0.3, 313, 0, (100, 200, 400, 800)),
    256: (0.6, 0.0006, 0.0, 0.0, 5005, 3840, (200, 400)),
}


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, epochs='', batch='4096')
  batch = int(arg.batch)
  if batch not in _BY_BATCH:
    raise config_lib.ConfigError(
        f'swav_imagenet batch={batch} not in {sorted(_BY_BATCH)}.')
  lr, final_lr, warmup, start_lr, frozen, queue, allowed = _BY_BATCH[batch]
  epochs = int(arg.epochs or allowed[-1])
  if epochs not in allowed:
    raise config_lib.ConfigError(
        f'swav_imagenet epochs={epochs} not in {allowed} at batch={batch}.')

  config = config_lib.base_config()
  config.method = swav.default_config()
  config.method.update(
      num_prototypes=3000, proj_hidden=(2048,), proj_dim=128,
      temperature=0.1, epsilon=0.05, sinkhorn_iterations=3,
      crops_for_assign=(0, 1), queue_length=queue, epoch_queue_starts=15,
      freeze_prototypes_niters=frozen)
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  # The official crop resize: torchvision RandomResizedCrop's default
  # (bilinear, antialiased on PIL images).
  config.aug.interpolation = 'bilinear_antialias'
  config_presets.imagenet_views(config, crop_scale=(0.14, 1.0),
                                jitter=(0.8, 0.8, 0.8, 0.2), blur_p=(0.5,),
                                solarize_p=(0.0,))
  config.aug.local_crops = 6
  config.aug.local_crop_size = 96
  config.aug.local_crop_scale = (0.05, 0.14)
  config.aug.local_blur_p = 0.5
  config.aug.local_solarize_p = 0.0

  config.batch_size = batch
  config.total_epochs = float(epochs)
  config.warmup_epochs = warmup
  config.optim.name = 'lars'
  config.optim.lr = lr
  config.optim.lr_scaling = 'none'  # The scripts give the lr itself.
  config.optim.start_lr_ratio = start_lr / lr
  config.optim.end_lr_ratio = final_lr / lr
  config.optim.weight_decay = 1e-6
  config.optim.exclude_norm_and_bias = False  # LARC wraps every parameter.
  config.optim.trust_coefficient = 1e-3
  config.optim.momentum = 0.9
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.update(num_prototypes=32, proj_hidden=(32,), proj_dim=16,
                         queue_length=config.batch_size if queue else 0,
                         freeze_prototypes_niters=1)
    config.aug.local_crops = 2
    config.aug.local_crop_size = 32
  return config
