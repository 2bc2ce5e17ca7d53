"""SwAV on CIFAR-10: solo-learn's recipe (docs/methods.md#swav).

From solo-learn `scripts/pretrain/cifar/swav.yaml` (+ `augmentations/
symmetric.yaml`) and the defaults of `solo/methods/swav.py`: ResNet-18 with
the CIFAR stem, batch 256, 1000 epochs, projector 2048-128 with BN, K = 3000
prototypes, T 0.1, Sinkhorn eps 0.05 with 3 iterations, a queue of 3840
embeddings from epoch 50, prototypes frozen for 2 epochs (390 updates at
B = 256), LARS lr 0.6 (x B/256), wd 1e-6, biases and norms out of decay and
adaptation, warmup_cosine (10 warm-up epochs, cosine to 0).
Views (symmetric, two 32 px crops, no local crops): crops (0.08-1), flip
0.5, jitter (0.8, 0.8, 0.8, 0.2) p 0.8, grayscale 0.2, blur 0.5, no
solarize. Reported: linear 89.17 on CIFAR-10 (solo-learn README).

Not reproduced: solo-learn's LARS is LARC-style (eta 0.02, clipped); ours is
optax.lars with trust coefficient 1e-3 (docs/methods.md#cifar-10-recipes).
Warm-up starts at 0, not 3e-5. solo-learn keeps its prototypes weight-
normalised (g = 1) and uses the queue from its start epoch while still
partly empty; here the official main_swav.py mechanics: prototypes
renormalised after each update, the queue used once full (15 steps later).
Needs the tfds `cifar10` dataset prepared in config.data.data_dir.

  python -m ssl_jax.main --config configs/swav_cifar10.py --workdir W \
      --config.data.data_dir=/path/to/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import swav


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = swav.default_config()
  config.method.update(
      num_prototypes=3000, proj_hidden=(2048,), proj_dim=128,
      temperature=0.1, epsilon=0.05, sinkhorn_iterations=3,
      queue_length=3840, epoch_queue_starts=50,
      freeze_prototypes_niters=2 * (50_000 // 256))  # 2 epochs.
  config.backbone = config_lib.backbone_config(
      'resnet', depth=18, width=1.0, cifar_stem=True)

  config_presets.cifar10_data(config)
  config_presets.cifar10_views(config, jitter=(0.8, 0.8, 0.8, 0.2),
                               blur_p=(0.5,), solarize_p=(0.0,))
  config.aug.local_crops = 0

  config.batch_size = 256
  config.total_epochs = 1000.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 0.6
  config.optim.weight_decay = 1e-6
  config.optim.end_lr_ratio = 0.0
  config.checkpoint.every_steps = 2000
  config.eval.knn_k = 200

  if arg.smoke:
    config_presets.shrink_cifar10_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.update(num_prototypes=32, proj_hidden=(32,), proj_dim=16,
                         queue_length=config.batch_size,
                         freeze_prototypes_niters=1)
  return config
