"""BYOL on ImageNet-1k: the paper's recipe (docs/methods.md#byol, arXiv
2006.07733).

ResNet-50, batch 4096, LARS (trust coefficient 1e-3, momentum 0.9, biases
and BN excluded), 10 warm-up epochs then cosine to 0, projector and
predictor Dense(4096)-BN-ReLU-Dense(256), target momentum cosine to 1.
The numbers that depend on the length of training (docs/methods.md#byol):

  epochs   base lr (x B/256)   weight decay   target momentum (base)
  100      0.45                1e-6           0.99
  300      0.3                 1e-6           0.99
  1000     0.2                 1.5e-6         0.996   (the paper's 74.3)

Views (`utils/augmentations.py`): 224 px crops (0.08-1), flip, jitter
(0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2; view 1 blur 1.0, no solarize;
view 2 blur 0.1, solarize 0.2. bfloat16 compute. Streams the tfds
`imagenet2012` dataset from config.data.data_dir.

The heads' last Dense has no bias, as the official `networks.py`
(`method.last_bias=False`; solo-learn's heads, the default, have one). Not
reproduced: LARS puts the lr inside the momentum buffer (optax) where BYOL
puts it outside (docs/methods.md#optimizers).

  python -m ssl_jax.main --config configs/byol_imagenet.py:epochs=1000 \
      --workdir W --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import byol

# epochs -> (base lr, weight decay, ema_base), docs/methods.md#byol.
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
  config.method.last_bias = False  # The official heads' last Linear.
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  # The official crop resize (dataset.py: tf.image.resize(..., BICUBIC), no
  # antialias).
  config.aug.interpolation = 'bicubic'
  config_presets.imagenet_views(config)

  config.batch_size = 4096
  config.total_epochs = float(epochs)
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = lr
  config.optim.weight_decay = weight_decay
  config.optim.trust_coefficient = 1e-3
  config.optim.momentum = 0.9
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
    config.method.pred_hidden = (32,)
  return config
