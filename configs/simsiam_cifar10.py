"""SimSiam on CIFAR-10: solo-learn's recipe (docs/methods.md#simsiam).

From solo-learn `scripts/pretrain/cifar/simsiam.yaml`
(docs/methods.md#simsiam): projector 2048 -> 2048 (3 layers), predictor
bottleneck 512, SGD (momentum 0.9) lr 0.5, wd 1e-5 (on every parameter,
biases and BN included, as solo-learn's SGD), symmetric views
(`augmentations/symmetric_weak.yaml`: 32 px crops (0.08-1), jitter
(0.4, 0.4, 0.4, 0.1) p 0.8, grayscale 0.2, blur 0.5, flip); its classifier
lr 0.1 is the online probe's lr. As every solo-learn CIFAR recipe
(docs/methods.md#cifar-10-recipes): ResNet-18 with the CIFAR stem, batch
256 on 1 GPU, 1000 epochs, solo-learn's `warmup_cosine` with 10 warm-up
epochs (the official ImageNet recipe has none), lr x B/256. Reported:
CIFAR-10 top-1 90.51 (solo-learn README).

Not reproduced: warm-up starts at 0, not 3e-5.
Needs the tfds `cifar10` dataset prepared in config.data.data_dir.

  python -m ssl_jax.main --config configs/simsiam_cifar10.py --workdir W \
      --config.data.data_dir=/path/to/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simsiam


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = simsiam.default_config()
  config.method.proj_hidden = (2048, 2048)
  config.method.proj_dim = 2048
  config.method.pred_hidden = (512,)
  config.backbone = config_lib.backbone_config(
      'resnet', depth=18, width=1.0, cifar_stem=True)

  config_presets.cifar10_data(config)
  config_presets.cifar10_views(  # symmetric_weak.yaml.
      config, jitter=(0.4, 0.4, 0.4, 0.1), blur_p=(0.5,), solarize_p=(0.0,))

  config.batch_size = 256
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'sgd'
  config.optim.lr = 0.5
  config.optim.momentum = 0.9
  config.optim.weight_decay = 1e-5
  config.optim.exclude_norm_and_bias = False  # SGD decays every array.
  config.probe.lr = 0.1
  config.checkpoint.every_steps = 2000
  config.eval.knn_k = 200

  if arg.smoke:
    config_presets.shrink_cifar10_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32, 32)
    config.method.proj_dim = 16
    config.method.pred_hidden = (8,)
  return config
