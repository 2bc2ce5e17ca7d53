"""Blocks of settings that several `configs/<method>_<data>.py` share.

A config file stays the recipe of one paper: its hyperparameters (lr, weight
decay, batch, epochs, loss weights, head sizes) and the ways its views differ
from the standard ones are written in the file. What is the same for every
method on a dataset lives here: the dataset's settings, the standard view
policies, the long-run settings of the ImageNet recipes, the backbones of the
Fashion-MNIST demos and the smoke presets' shrinking. Each helper changes
`config` in place; keys it does not name keep `config_lib.base_config()`'s
values.
"""

from ssl_jax import config_lib
from ssl_jax import models

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


def fashion_mnist_data(config) -> None:
  """`config.data` for Fashion-MNIST from Debian's dataset-fashion-mnist.

  The offline builder and its mean and std (held in memory at 28 px, as
  `base_config`'s defaults). Used by every `configs/*_fashion_mnist.py`.
  """
  config.data.name = 'fashion_mnist_offline'
  config.data.mean = FASHION_MNIST_MEAN
  config.data.std = FASHION_MNIST_STD


def cifar10_data(config) -> None:
  """`config.data` for the tfds `cifar10` dataset at 32 px (held in memory).

  Sets the name, image size, mean and std. Used by every
  `configs/*_cifar10.py` (solo-learn's CIFAR recipes and SimCLR's README
  one).
  """
  config.data.name = 'cifar10'
  config.data.image_size = 32
  config.data.mean = CIFAR10_MEAN
  config.data.std = CIFAR10_STD


def imagenet_data(config) -> None:
  """`config.data` for tfds `imagenet2012`, streamed from disk, 224 px.

  Trains on `train`, evaluates on `validation`. Used by every
  `configs/*_imagenet.py`.
  """
  config.data.name = 'imagenet2012'
  config.data.in_memory = False
  config.data.train_split = 'train'
  config.data.eval_split = 'validation'
  config.data.image_size = 224
  config.data.mean = IMAGENET_MEAN
  config.data.std = IMAGENET_STD
  config.data.shuffle_buffer = 50_000
  # Pixel baselines (evals/pixels.py) hold a split's pixels in memory and
  # fit a 150528 x 1000 linear probe: meant for Fashion-MNIST/CIFAR-sized
  # data, not for 1.28 M ImageNet images (--config.eval.pixel_baselines=True
  # still runs them).
  config.eval.pixel_baselines = False


def _colour_views(config, crop_size, crop_scale, jitter, blur_p,
                  solarize_p) -> None:
  config.aug.crop_size = crop_size
  config.aug.crop_scale = crop_scale
  config.aug.flip_p = 0.5
  config.aug.jitter = jitter
  config.aug.jitter_p = 0.8
  config.aug.gray_p = 0.2
  config.aug.blur_p = blur_p
  config.aug.solarize_p = solarize_p


def imagenet_views(config, *, crop_scale=(0.08, 1.0),
                   jitter=(0.4, 0.4, 0.2, 0.1), blur_p=(1.0, 0.1),
                   solarize_p=(0.0, 0.2)) -> None:
  """`config.aug`: BYOL's asymmetric views at 224 px, by default.

  224 px crops (`crop_scale`), flip 0.5, colour jitter `jitter` with p 0.8,
  grayscale 0.2, blur `blur_p` and solarize `solarize_p` per view (BYOL's:
  blur 1.0 / 0.1, solarize 0 / 0.2). Used as is by `configs/{byol,
  barlow_twins,vicreg}_imagenet.py` and `moco_v3_imagenet.py` (which then
  sets the crop scale per backbone); DINO's global crops (scale (0.4, 1)),
  SimCLR's (jitter strength 1.0, blur 0.5, no solarize) and SimSiam's (MoCo
  v2's: crops (0.2, 1), jitter (0.4, 0.4, 0.4, 0.1), blur 0.5, no solarize)
  through the keywords.
  """
  _colour_views(config, 224, crop_scale, jitter, blur_p, solarize_p)


def cifar10_views(config, *, crop_scale=(0.08, 1.0),
                  jitter=(0.4, 0.4, 0.2, 0.1), blur_p=(0.0,),
                  solarize_p=(0.0, 0.2)) -> None:
  """`config.aug`: solo-learn's asymmetric CIFAR views at 32 px, by default.

  solo-learn's `augmentations/asymmetric.yaml`: 32 px crops (`crop_scale`),
  flip 0.5, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2, no blur,
  solarize 0 / 0.2. Used as is by `configs/{barlow_twins,byol,dino,moco_v3}_
  cifar10.py`; VICReg's (crops 0.2-1, solarize 0.1), SimCLR's (jitter
  strength 0.5, no solarize) and SimSiam's (`symmetric_weak.yaml`: jitter
  (0.4, 0.4, 0.4, 0.1), blur 0.5, no solarize) through the keywords.
  """
  _colour_views(config, 32, crop_scale, jitter, blur_p, solarize_p)


def fashion_mnist_views(config, *, crop_scale=(0.2, 1.0),
                        solarize_p=(0.0,)) -> None:
  """`config.aug`: the Fashion-MNIST demos' grayscale views at 28 px.

  SimCLR's Fashion-MNIST views: 28 px crops (`crop_scale`), brightness and
  contrast jitter only (the images are grayscale), no blur (too strong at
  28 px); flip, jitter and grayscale probabilities stay at `base_config`'s
  0.5, 0.8 and 0.2.
  `solarize_p`: (0.0,) for symmetric views (SimCLR, SimSiam), BYOL's
  (0.0, 0.2) for Barlow Twins, BYOL, MoCo v3 and DINO (which also takes
  crops (0.4, 1)), (0.1,) for VICReg. Used by `configs/{barlow_twins,byol,
  dino,moco_v3,simclr,simsiam,vicreg}_fashion_mnist.py` (and LeJEPA's:
  crops (0.3, 1), solarize 0.2).
  """
  config.aug.crop_size = 28
  config.aug.crop_scale = crop_scale
  config.aug.jitter = (0.4, 0.4, 0.0, 0.0)  # Grayscale: brightness, contrast.
  config.aug.blur_p = (0.0,)
  config.aug.solarize_p = solarize_p


def fashion_mnist_multicrop(config, *, global_scale, solarize_p,
                            local_solarize_p=0.0) -> None:
  """The multi-crop demos' views and schedule (DINO, DINOv2, SwAV, LeJEPA).

  2 global 28 px views (`fashion_mnist_views` with crops `global_scale`)
  and 4 local 14 px crops whose scale ends where the global one starts, no
  blur; batch 256 for 3 epochs, warm-up half an epoch.
  """
  fashion_mnist_views(config, crop_scale=global_scale, solarize_p=solarize_p)
  config.aug.local_crops = 4
  config.aug.local_crop_size = 14
  config.aug.local_crop_scale = (0.1, global_scale[0])
  config.aug.local_blur_p = 0.0
  config.aug.local_solarize_p = local_solarize_p
  config.batch_size = 256
  config.total_epochs = 3.0
  config.warmup_epochs = 0.5
  config.log_every_steps = 50
  config.checkpoint.every_steps = 200


def crop_only_views(config, crop_size, crop_scale, flip_p=0.5) -> None:
  """`config.aug`: one random resized crop and a flip, no colour changes.

  The masked-image methods' views: MAE and data2vec 2.0 (crops (0.2, 1) +
  flip), I-JEPA (crops (0.3, 1), `flip_p=0.0`); used by `configs/{mae,
  data2vec,ijepa}_{fashion_mnist,imagenet}.py`.
  """
  config.aug.crop_size = crop_size
  config.aug.crop_scale = crop_scale
  config.aug.flip_p = flip_p
  config.aug.jitter_p = 0.0
  config.aug.gray_p = 0.0
  config.aug.blur_p = (0.0,)
  config.aug.solarize_p = (0.0,)


def imagenet_run_settings(config) -> None:
  """Settings of a long accelerator run, shared by the ImageNet recipes.

  bfloat16 compute, a checkpoint every 1000 steps written asynchronously, a
  log line every 100 steps, kNN evaluation with k = 20. Used by every
  `configs/*_imagenet.py`.
  """
  config.dtype = 'bfloat16'
  config.checkpoint.every_steps = 1000
  config.checkpoint.async_save = True
  config.log_every_steps = 100
  config.eval.knn_k = 20


def fashion_mnist_backbone(config, name: str) -> None:
  """The Fashion-MNIST demos' `backbone=<name>` preset, from the backbone's
  module (models/__init__.py): its `DEMO_SIZES['fashion_mnist']` size (ResNet-18
  x0.125 with the CIFAR stem; ViT dim 192, 6 blocks, 3 heads on 7x7
  patches, mean-pooled; ConvNeXt's CPU size with a stride-2 stem) and, if it
  names one, its `DEMO_OPTIMIZER` (ViT: AdamW lr 5e-4 x B/256, weight decay
  0.05); otherwise the config's optimizer stays (the ResNets: each paper's
  CIFAR values). Used by `configs/{barlow_twins,byol,dino,lejepa,moco_v3,
  simclr,simsiam,vicreg}_fashion_mnist.py`.

  Raises:
    ConfigError: `name` is no backbone module, or has no such preset.
  """
  sizes = models.demo_sizes(name).get('fashion_mnist')
  if sizes is None:
    raise config_lib.ConfigError(
        f'backbone={name!r}: its module defines no DEMO_SIZES["fashion_mnist"] '
        '(the size of the Fashion-MNIST demos; models/__init__.py); set '
        'config.backbone in a config of your own.')
  config.backbone = config_lib.backbone_config(name, **sizes)
  config.optim.update(models.demo_optimizer(name))


def shrink_fashion_mnist_for_smoke(config) -> None:
  """The smoke preset of the configs built on `fashion_mnist_backbone`.

  `config_lib.shrink_for_smoke`'s defaults (6 steps at batch 32), then the
  backbone's `DEMO_SIZES['smoke']` sizes (ResNet width 0.0625, ViT dim 16, 2
  blocks, 2 heads, ConvNeXt dims 8-64, one block per stage). The config
  then shrinks its heads.
  """
  config_lib.shrink_for_smoke(config)
  sizes = models.demo_sizes(config.backbone.name)
  config.backbone.update(sizes.get('smoke', {}))


def _shrink_steps_and_eval(config) -> None:
  config_lib.shrink_for_smoke(config, batch_size=16, steps=3)
  config.eval.batch_size = 64
  config.eval.knn_k = 5


def shrink_cifar10_for_smoke(config) -> None:
  """The smoke preset's common part for `configs/*_cifar10.py`.

  Three steps at batch 16 (`config_lib.shrink_for_smoke`), evaluation at
  batch 64 with k = 5. The config then shrinks its backbone and heads.
  """
  _shrink_steps_and_eval(config)


def shrink_imagenet_for_smoke(config) -> None:
  """The smoke preset's common part for `configs/*_imagenet.py`.

  Three steps at batch 16 (`config_lib.shrink_for_smoke`), evaluation at
  batch 64 with k = 5, and 64 px images (evaluation and crops) with a
  64-image shuffle buffer. The config then shrinks its backbone, heads and
  any other crops.
  """
  _shrink_steps_and_eval(config)
  config.data.image_size = 64
  config.data.shuffle_buffer = 64
  config.aug.crop_size = 64
