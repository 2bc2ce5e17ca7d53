"""MoCo v3 on ImageNet-1k: the paper's recipes (docs/methods.md#moco-v3,
arXiv 2104.02057, facebookresearch/moco-v3 `main_moco.py`, CONFIG.md).

ResNet-50 (default): batch 4096, LARS (trust coefficient 1e-3, momentum
0.9, ndim <= 1 excluded), 10 warm-up epochs then cosine to 0, temperature
1.0, projector 2048 -> 4096 -> 256 ending in BN without affine, predictor
256 -> 4096 -> 256 without a last BN, all Dense without bias; crops
(0.2-1). The numbers that depend on the length of training (CONFIG.md):

  epochs   base lr (x B/256)   weight decay   momentum (base, cosine to 1)
  100      0.6                 1e-6           0.99
  300      0.3                 1e-6           0.99
  1000     0.3                 1.5e-6         0.996   (linear 74.6)

`backbone=vit`: ViT-B/16 (CLS token, fixed sin-cos positions), AdamW at
base lr 1.5e-4 (x B/256), wd 0.1, 40 warm-up epochs, 300 epochs,
temperature 0.2, momentum 0.99, crops (0.08-1), 3-layer projector
(4096-4096-256), a predictor ending in BN without affine, the patch
embedding frozen at its random init (`--stop-grad-conv1`) and weight decay on
every parameter, biases and norms included (linear 76.7). Initialisation as
`vits.py` (moco_v3.VIT_INIT): patch embedding U(+-sqrt(6 / (3 p^2 + D))),
zero bias; q, k, v xavier-uniform each; CLS token N(0, 1e-6^2).

Views (both recipes, BYOL's): 224 px crops, flip, jitter (0.4, 0.4, 0.2, 0.1)
p 0.8, grayscale 0.2; view 1 blur 1.0, no solarize; view 2 blur 0.1,
solarize 0.2. bfloat16 compute. Streams the tfds `imagenet2012` dataset from
config.data.data_dir.

  python -m ssl_jax.main --config configs/moco_v3_imagenet.py:epochs=300 \
      --workdir W --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import moco_v3

# R50: epochs -> (base lr, weight decay, ema_base), CONFIG.md.
_R50_BY_EPOCHS = {100: (0.6, 1e-6, 0.99), 300: (0.3, 1e-6, 0.99),
                  1000: (0.3, 1.5e-6, 0.996)}


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet', epochs='')
  config = config_lib.base_config()
  config.method = moco_v3.default_config()
  config.method.proj_dim = 256
  config.method.pred_hidden = (4096,)

  config_presets.imagenet_data(config)
  # The official crop resize (main_moco.py: RandomResizedCrop's default, PIL
  # bilinear).
  config.aug.interpolation = 'bilinear_antialias'
  # BYOL's views; the crop scale is set per backbone below.
  config_presets.imagenet_views(config)

  if arg.backbone == 'resnet':
    epochs = int(arg.epochs or 100)
    if epochs not in _R50_BY_EPOCHS:
      raise config_lib.ConfigError(
          f'moco_v3_imagenet epochs={epochs} not in {sorted(_R50_BY_EPOCHS)}.')
    lr, weight_decay, ema_base = _R50_BY_EPOCHS[epochs]
    config.backbone = config_lib.backbone_config(
        'resnet', depth=50, width=1.0, cifar_stem=False)
    config.method.temperature = 1.0
    config.method.ema_base = ema_base
    config.method.proj_hidden = (4096,)
    config.method.pred_last_bn = None
    config.aug.crop_scale = (0.2, 1.0)
    config.warmup_epochs = 10.0
    config.optim.name = 'lars'
    config.optim.lr = lr
    config.optim.weight_decay = weight_decay
    config.optim.trust_coefficient = 1e-3
    config.optim.momentum = 0.9
  elif arg.backbone == 'vit':
    epochs = int(arg.epochs or 300)
    config.backbone = config_lib.backbone_config(
        'vit', variant='base', patch_size=16, pos_embed='sincos',
        cls_token=True, pool='cls', **moco_v3.VIT_INIT)
    config.method.temperature = 0.2
    config.method.ema_base = 0.99
    config.method.proj_hidden = (4096, 4096)
    config.method.pred_last_bn = 'no_affine'
    config.method.freeze_patch_embed = True
    config.aug.crop_scale = (0.08, 1.0)
    config.warmup_epochs = 40.0
    config.optim.name = 'adamw'
    config.optim.lr = 1.5e-4
    config.optim.weight_decay = 0.1
    config.optim.exclude_norm_and_bias = False  # Decays every parameter.
    config.optim.b1 = 0.9
    config.optim.b2 = 0.999
  else:
    raise config_lib.ConfigError(
        f'moco_v3_imagenet backbone={arg.backbone!r} not in resnet|vit.')

  config.batch_size = 4096
  config.total_epochs = float(epochs)
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    if arg.backbone == 'resnet':
      config.backbone.width = 0.0625
    else:
      config.backbone.update(variant=None, dim=16, depth=2, heads=2)
    config.method.proj_hidden = (32,) * len(config.method.proj_hidden)
    config.method.proj_dim = 16
    config.method.pred_hidden = (32,)
  return config
