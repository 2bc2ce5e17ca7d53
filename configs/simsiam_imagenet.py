"""SimSiam on ImageNet-1k: the paper's recipe (METHODS.md §5, arXiv
2011.10566, facebookresearch/simsiam `main_simsiam.py`).

ResNet-50, batch 512, SGD (momentum 0.9) at base lr 0.05 (x B/256 = 0.1),
weight decay 1e-4 on every parameter, cosine to 0 with no warm-up, 100
epochs (the official default; the paper also trains 200/400/800); projector
2048-2048-2048 ending in BN without affine, predictor bottleneck 512. Views:
the MoCo v2 recipe, symmetric: 224 px crops (0.2-1), flip, jitter
(0.4, 0.4, 0.4, 0.1) p 0.8, grayscale 0.2, blur 0.5. bfloat16 compute.
Reported: linear 68.1 at 100 epochs (README, METHODS.md §5). Streams the
tfds `imagenet2012` dataset from config.data.data_dir.

Not reproduced (optim.py has one lr schedule for the model): `--fix-pred-lr`
(the predictor keeps the initial lr instead of following the cosine).

  python -m ssl_jax.main --config configs/simsiam_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax.methods import simsiam


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = simsiam.default_config()
  config.method.proj_hidden = (2048, 2048)
  config.method.proj_dim = 2048
  config.method.pred_hidden = (512,)
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
  config.aug.crop_scale = (0.2, 1.0)
  config.aug.jitter = (0.4, 0.4, 0.4, 0.1)
  config.aug.jitter_p = 0.8
  config.aug.gray_p = 0.2
  config.aug.blur_p = (0.5,)
  config.aug.solarize_p = (0.0,)

  config.batch_size = 512
  config.total_epochs = 100.0
  config.warmup_epochs = 0.0
  config.optim.name = 'sgd'
  config.optim.lr = 0.05
  config.optim.momentum = 0.9
  config.optim.weight_decay = 1e-4
  config.optim.exclude_norm_and_bias = False  # SGD decays every array.
  config.dtype = 'bfloat16'
  config.checkpoint.every_steps = 1000
  config.checkpoint.async_save = True
  config.log_every_steps = 100
  config.eval.knn_k = 20

  if arg.smoke:
    config_lib.shrink_for_smoke(config, batch_size=16, steps=3)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32, 32)
    config.method.proj_dim = 16
    config.method.pred_hidden = (8,)
    config.data.image_size = 64
    config.data.shuffle_buffer = 64
    config.aug.crop_size = 64
    config.eval.batch_size = 64
    config.eval.knn_k = 5
  return config
