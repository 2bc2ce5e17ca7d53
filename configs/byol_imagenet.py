"""BYOL on ImageNet-1k: the paper's recipe (METHODS.md §4, arXiv 2006.07733).

ResNet-50, batch 4096, LARS (trust coefficient 1e-3, momentum 0.9, biases
and BN excluded), 10 warm-up epochs then cosine to 0, projector and
predictor Dense(4096)-BN-ReLU-Dense(256), target momentum cosine to 1.
The numbers that depend on the length of training (METHODS.md §4):

  epochs   base lr (x B/256)   weight decay   target momentum (base)
  100      0.45                1e-6           0.99
  300      0.3                 1e-6           0.99
  1000     0.2                 1.5e-6         0.996   (the paper's 74.3)

Views (`utils/augmentations.py`): 224 px crops (0.08-1), flip, jitter
(0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2; view 1 blur 1.0, no solarize;
view 2 blur 0.1, solarize 0.2. bfloat16 compute. Streams the tfds
`imagenet2012` dataset from config.data.data_dir.

Not reproduced: the official heads' last Dense has no bias; ours has one
(heads.MLP's use_bias covers both layers). LARS puts the lr inside the
momentum buffer (optax) where BYOL puts it outside (METHODS.md §1).

  python -m ssl_jax.main --config configs/byol_imagenet.py:epochs=1000 \
      --workdir W --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax.methods import byol

# epochs -> (base lr, weight decay, ema_base), METHODS.md §4.
_BY_EPOCHS = {100: (0.45, 1e-6, 0.99), 300: (0.3, 1e-6, 0.99),
              1000: (0.2, 1.5e-6, 0.996)}


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, epochs='100')
  epochs = int(arg.epochs)
  if epochs not in _BY_EPOCHS:
    raise config_lib.ConfigError(
        f'byol_imagenet epochs={epochs} not in {sorted(_BY_EPOCHS)}.')
  lr, weight_decay, ema_base = _BY_EPOCHS[epochs]

  config = config_lib.base_config()
  config.method = byol.default_config()
  config.method.ema_base = ema_base
  config.method.proj_hidden = (4096,)
  config.method.proj_dim = 256
  config.method.pred_hidden = (4096,)
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
  config.aug.jitter = (0.4, 0.4, 0.2, 0.1)
  config.aug.jitter_p = 0.8
  config.aug.gray_p = 0.2
  config.aug.blur_p = (1.0, 0.1)
  config.aug.solarize_p = (0.0, 0.2)

  config.batch_size = 4096
  config.total_epochs = float(epochs)
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = lr
  config.optim.weight_decay = weight_decay
  config.optim.trust_coefficient = 1e-3
  config.optim.momentum = 0.9
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
    config.method.pred_hidden = (32,)
    config.data.image_size = 64
    config.data.shuffle_buffer = 64
    config.aug.crop_size = 64
    config.eval.batch_size = 64
    config.eval.knn_k = 5
  return config
