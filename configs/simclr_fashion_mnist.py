"""SimCLR on Fashion-MNIST (offline, from Debian's dataset-fashion-mnist).

  python -m ssl_jax.main --config configs/simclr_fashion_mnist.py --workdir W
  ...simclr_fashion_mnist.py:smoke           a few steps, tiny backbone (tests)
  ...simclr_fashion_mnist.py:backbone=vit    the same with a small ViT

The default is the CPU demo, chosen by measurement on a 2-core CPU (README,
"Measured"): pretraining + evaluation + report in under 15 minutes on a
quiet machine (9.6 min on a 2-core AMD EPYC on 2026-12-08). It is evaluated
on the backbone's last feature map, 4x4x64 flattened
(config.eval.readout='map'): kNN 0.8160, linear 0.8791 there, against the
pixel baselines' kNN 0.7913 (raw), 0.8212 (standardised) and linear probe
0.8442: linear +3.49 points over the best, kNN -2.82 (the goal of 3 points
is reached for the linear probe only). The same checkpoint read pooled (64
values): kNN 0.7896, linear 0.7913; the same network untrained, read as a
map: 0.7178, 0.7943; VICReg's and Barlow Twins' 3-epoch configs read as a
map: 0.8121 / 0.8751 and 0.8140 / 0.8677. What was measured before, all read pooled (3 epochs
unless said, kNN k=200 on the test split):
  ResNet-18 x0.125, B 256, tau 0.2, LARS 1.0        0.7906  (405 img/s)
  ... tau 0.5, B 128                                0.7770
  ... crops (0.35, 1)                               0.7891
  ... tau 0.1                                       0.7941
  ... tau 0.1, 5 epochs                             0.8007
  ... tau 0.1, B 128, 5 epochs                      0.8034  (444 img/s)
  ResNet-18 x0.1875, tau 0.2                        0.7873
  ViT d192 x6 /7 (16 tokens), AdamW, 1 epoch        0.7704  (245 img/s)
XLA:CPU trains these small convolutions faster per image at batch 128 than
at 256 or 512 (cache), hence the batch. On 2026-12-07 (a 2-core AMD EPYC,
quiet, the code of that day) the 5-epoch schedule took 19.3 min end to end
at 317 img/s, over the 15 minutes: kNN 0.7833 / 0.7943 / 0.8028 / 0.7990 /
0.7998 and linear 0.7735 / 0.7838 / 0.7954 / 0.7916 / 0.7948 after its
epochs 1-5, flat after epoch 3. The same recipe on a 3-epoch schedule (this
default) took 12.4 min there: kNN 0.7957, linear 0.7831;
--config.total_epochs=5 runs the longer one.
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simclr


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, backbone='resnet')
  config = config_lib.base_config()
  config.method = simclr.default_config()
  config.method.temperature = 0.1
  config.method.proj_hidden = (512,)
  config.method.proj_dim = 128

  # resnet: the optimizer below; vit: AdamW lr 5e-4, wd 0.05.
  config_presets.fashion_mnist_backbone(config, arg.backbone)
  if arg.backbone == 'resnet':
    config.optim.name = 'lars'
    config.optim.lr = 1.0  # x 128/256: peak 0.5.
    config.optim.weight_decay = 1e-6

  config_presets.fashion_mnist_data(config)
  config_presets.fashion_mnist_views(config, solarize_p=(0.0,))
  # Evaluated on the last feature map (4x4x64) rather than its mean: the
  # layout the global pool discards is much of what the pixels win by.
  config.eval.readout = 'map'

  config.batch_size = 128
  config.total_epochs = 3.0  # 12.4 min end to end on a 2-core EPYC.
  config.warmup_epochs = 0.3
  config.log_every_steps = 100
  config.checkpoint.every_steps = 500

  if arg.smoke:
    config_presets.shrink_fashion_mnist_for_smoke(config)
    config.method.proj_hidden = (32,)
    config.method.proj_dim = 16
  return config
