"""SimCLR on ImageNet-1k: the paper's recipe (METHODS.md §2).

ResNet-50, batch 4096, LARS at base lr 0.3 (x B/256 = 4.8), weight decay 1e-6,
temperature 0.1, 10 warm-up epochs then cosine, 100 epochs (the paper also
reports 1000); SimCLR v2's 3-layer 2048-wide projector to 128-d. Views:
224 px random resized crops (0.08-1), flip, colour jitter strength 1.0 with
p 0.8, grayscale 0.2, Gaussian blur 0.5, no solarize. Streams the tfds
`imagenet2012` dataset from config.data.data_dir.

  python -m ssl_jax.main --config configs/simclr_imagenet.py --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax.methods import simclr


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False)
  config = config_lib.base_config()
  config.method = simclr.default_config()
  config.method.temperature = 0.1
  config.method.proj_hidden = (2048, 2048)
  config.method.proj_dim = 128
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
  config.aug.jitter = (0.8, 0.8, 0.8, 0.2)  # Strength 1.0.
  config.aug.jitter_p = 0.8
  config.aug.gray_p = 0.2
  config.aug.blur_p = (0.5,)

  config.batch_size = 4096
  config.total_epochs = 100.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = 0.3
  config.optim.weight_decay = 1e-6
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
