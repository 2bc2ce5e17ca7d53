"""SimCLR on ImageNet-1k: the two official recipes (docs/methods.md#simclr).

Presets (comma-separated with `smoke`):

  v2 (default)  google-research/simclr README's ImageNet command (the SimCLR
                v2 code, arXiv 2006.10029): LARS at lr 0.075 x sqrt(B)
                (`--learning_rate=0.075 --learning_rate_scaling=sqrt`),
                weight decay 1e-4, the 3-layer projector (2048, 2048) -> 128
                (`num_proj_layers=3`).
  v1            the SimCLR paper (arXiv 2002.05709, Sec. 2.3 and B.9) and
                the v1 README: LARS at lr 0.3 x B/256, weight decay 1e-6,
                the 2-layer projector 2048 -> 128.

At B = 4096 both peak at 4.8 (the README: "0.3 with linear is equivalent to
0.075 with sqrt when the batch size is 4096"); they differ at other batch
sizes, in weight decay (the README notes that v1's convolution weights end
16.8x larger) and in the head. Common to both: ResNet-50, batch 4096, temperature 0.1, 100 epochs
(the papers also report 1000), 10 warm-up epochs then cosine to 0, LARS
momentum 0.9, trust coefficient 1e-3, biases and BN out of weight decay and
the trust ratio. Projector: Dense (no bias) -> BN -> ReLU per hidden layer,
then Dense (no bias) -> BN without beta. Views: 224 px random resized crops
(0.08-1), flip, colour jitter strength 1.0 with p 0.8, grayscale 0.2,
Gaussian blur 0.5, no solarize. Streams the tfds `imagenet2012` dataset from
config.data.data_dir.

  python -m ssl_jax.main --config configs/simclr_imagenet.py:v1 --workdir W \
      --config.data.data_dir=gs://bucket/tensorflow_datasets
"""

from ssl_jax import config_lib
from ssl_jax import config_presets
from ssl_jax.methods import simclr

# version -> (base lr, lr scaling, weight decay, projector hidden widths).
_RECIPES = {'v1': (0.3, 'linear', 1e-6, (2048,)),
            'v2': (0.075, 'sqrt', 1e-4, (2048, 2048))}


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, smoke=False, v1=False, v2=False)
  if arg.v1 and arg.v2:
    raise config_lib.ConfigError(
        'simclr_imagenet: give one of the presets v1, v2 (not both).')
  lr, scaling, weight_decay, proj_hidden = _RECIPES['v1' if arg.v1 else 'v2']
  config = config_lib.base_config()
  config.method = simclr.default_config()
  config.method.temperature = 0.1
  config.method.proj_hidden = proj_hidden
  config.method.proj_dim = 128
  config.backbone = config_lib.backbone_config('resnet', depth=50, width=1.0,
                                               cifar_stem=False)

  config_presets.imagenet_data(config)
  # The official crop resize (data_util.py crop_and_resize: tf.image.resize
  # BICUBIC, no antialias).
  config.aug.interpolation = 'bicubic'
  config_presets.imagenet_views(
      config, jitter=(0.8, 0.8, 0.8, 0.2),  # Strength 1.0.
      blur_p=(0.5,), solarize_p=(0.0,))

  config.batch_size = 4096
  config.total_epochs = 100.0
  config.warmup_epochs = 10.0
  config.optim.name = 'lars'
  config.optim.lr = lr
  config.optim.lr_scaling = scaling
  config.optim.weight_decay = weight_decay
  config_presets.imagenet_run_settings(config)

  if arg.smoke:
    config_presets.shrink_imagenet_for_smoke(config)
    config.backbone.width = 0.0625
    config.method.proj_hidden = (32,) * len(proj_hidden)
    config.method.proj_dim = 16
  return config
