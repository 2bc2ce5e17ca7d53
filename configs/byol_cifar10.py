"""BYOL on CIFAR-10: solo-learn's recipe (docs/methods.md#byol).

From solo-learn `scripts/pretrain/cifar/byol.yaml` (docs/methods.md#byol):
projector 4096 -> 256, predictor 4096, target momentum 0.99 -> 1, LARS
lr 1.0, wd 1e-5, asymmetric views (`augmentations/asymmetric.yaml`, as MoCo
v3's: 32 px crops (0.08-1), jitter (0.4, 0.4, 0.2, 0.1) p 0.8,
grayscale 0.2, no blur, solarize 0 / 0.2, flip); its classifier lr 0.1 is
the online probe's lr. As every solo-learn CIFAR recipe
(docs/methods.md#cifar-10-recipes): ResNet-18 with the CIFAR stem, batch
256 on 1 GPU, 1000 epochs, 10 warm-up epochs, lr x B/256.
Reported: CIFAR-10 top-1 92.58 (solo-learn README).

Not reproduced: solo-learn's LARS is LARC-style (eta 0.02, adaptive lr
clipped at lr); ours is optax.lars with trust coefficient 1e-3
(docs/methods.md#optimizers). Warm-up starts at 0, not 3e-5. solo-learn's
heads have a bias on both Dense layers (`method.last_bias=True`, the
default; the official BYOL's last Dense has none).
Needs the tfds `cifar10` dataset prepared in config.data.data_dir.

  python -m ssl_jax.main --config configs/byol_cifar10.py --workdir W \
      --config.data.data_dir=/path/to/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import byol


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = byol.default_config()
  config.method.ema_base = 0.99
  config.method.proj_hidden = (4096,)
  config.method.proj_dim = 256
  config.method.pred_hidden = (4096,)
  config.backbone = config_lib.backbone_config(
      'resnet', depth=18, width=1.0, cifar_stem=True)

  config_presets.cifar10_data(config)
  config_presets.cifar10_views(config)

  config.batch_size = 256
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 1.0
  config.optim.weight_decay = 1e-5
  config.probe.lr = 0.1
  config.checkpoint.every_steps = 2000
  config.eval.knn_k = 200

  if arg.smoke:
    config_presets.shrink_cifar10_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
    config.method.pred_hidden = (32,)
  return config
