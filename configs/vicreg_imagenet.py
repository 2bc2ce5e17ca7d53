"""VICReg on ImageNet-1k: the paper's ResNet-50 recipe (METHODS.md §7).

From facebookresearch/vicreg (`main_vicreg.py`, README) and the paper (arXiv
2105.04906): ResNet-50, expander 8192-8192-8192, loss weights 25 / 25 / 1,
batch 2048, LARS at base lr 0.2 (x B/256 = 1.6), wd 1e-6, 1000 epochs, 10
warm-up epochs, cosine to 0.001 x peak. Views (`augmentations.py`, as
Barlow Twins'): 224 px crops (0.08-1), flip 0.5, jitter (0.4, 0.4, 0.2, 0.1)
p 0.8, grayscale 0.2, blur 1.0 / 0.1, solarize 0 / 0.2. Reported: linear
73.2 (README).

Not reproduced: bicubic crop resizing (ours: bilinear). The official LARS
already excludes biases and BN from wd and adaptation, as ours does.
Streams the tfds `imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/vicreg_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax.methods import vicreg


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = vicreg.default_config()
  config.method.sim_coeff = 25.0
  config.method.std_coeff = 25.0
  config.method.cov_coeff = 1.0
  config.method.proj_hidden = (8192, 8192)
  config.method.proj_dim = 8192
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config.data.name = 'imagenet2012'
  config.data.in_memory = False
  config.data.train_split = 'train'
  config.data.eval_split = 'validation'
  config.data.image_size = 224
  config.data.mean = (0.485, 0.456, 0.406)
  config.data.std = (0.229, 0.224, 0.225)
  config.data.shuffle_buffer = 50_000
  config.aug.crop_size = 224
  config.aug.crop_scale = (0.08, 1.0)
  config.aug.flip_p = 0.5
  config.aug.jitter = (0.4, 0.4, 0.2, 0.1)
  config.aug.jitter_p = 0.8
  config.aug.gray_p = 0.2
  config.aug.blur_p = (1.0, 0.1)
  config.aug.solarize_p = (0.0, 0.2)

  config.batch_size = 2048
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 0.2
  config.optim.weight_decay = 1e-6
  config.optim.end_lr_ratio = 0.001
  config.dtype = 'bfloat16'
  config.checkpoint.every_steps = 1000
  config.checkpoint.async_save = True
  config.log_every_steps = 100
  config.eval.knn_k = 20

  if arg.smoke:
    config_lib.shrink_for_smoke(config, batch_size=16, steps=3)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
    config.data.image_size = 64
    config.data.shuffle_buffer = 64
    config.aug.crop_size = 64
    config.eval.batch_size = 64
    config.eval.knn_k = 5
  return config

