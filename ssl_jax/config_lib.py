"""Shared config defaults, duration conversion and validation.

Every `configs/<method>_<data>.py` starts from `base_config()` and changes what
its paper changes. `validate(config)` is the one place that checks values
before anything compiles or writes; each error names the key, the value and
what is allowed. Durations are written once (`x_steps` or `x_epochs`) and
turned into steps by `steps_for`, so the loop only ever sees steps.
"""

import math
import os
import traceback

import ml_collections
from ml_collections import config_dict

from ssl_jax import config_checks
from ssl_jax import errors
from ssl_jax.data import source_config
from ssl_jax.data import views as views_lib

# Keys whose duration may be given in steps or epochs: `<key>_steps` and
# `<key>_epochs` both exist in every config, at most one set (`total`: exactly
# one).
DURATION_KEYS = ('total', 'warmup')
DTYPES = ('float32', 'bfloat16')
PARALLEL_MODES = ('jit', 'pmap')
OPTIMIZERS = ('lars', 'adamw', 'sgd')
LR_SCALINGS = ('linear', 'sqrt', 'none')
EVAL_READOUTS = ('pooled', 'map')  # config.eval.readout.


# Defined in errors.py (which the checks share); the names every module uses.
UserError = errors.UserError
ConfigError = errors.ConfigError
user_errors_exit = errors.user_errors_exit


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by all methods (SimCLR-on-CIFAR-like values)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.batch_size = 256  # Global batch, split over all devices and processes.
  # Micro-batches per step (same update for losses without batch coupling).
  c.grad_accum_steps = 1
  c.total_steps = config_dict.placeholder(int)
  c.total_epochs = config_dict.placeholder(float)
  c.warmup_steps = config_dict.placeholder(int)
  c.warmup_epochs = config_dict.placeholder(float)
  c.dtype = 'float32'  # Compute dtype; params and optimizer state stay f32.
  # Methods whose papers normalise each view with its own BatchNorm
  # statistics (BYOL, SimSiam, MoCo v3, Barlow Twins, VICReg) run the views
  # through one call with per-view statistics (the same function, a larger
  # batch for the accelerator); False calls the network once per view.
  c.fuse_views = True

  c.method = ml_collections.ConfigDict({'name': 'simclr'})
  c.backbone = ml_collections.ConfigDict({'name': 'resnet'})

  c.data = ml_collections.ConfigDict(dict(
      name='fashion_mnist_offline',
      data_dir=config_dict.placeholder(str),  # None: $TFDS_DATA_DIR or ~/...
      # A data_dir that does not exist is refused (a typo would otherwise
      # prepare the dataset in a new tree); True creates it. The default
      # folder (data_dir None) is always created.
      create_data_dir=False,
      manual_dir=config_dict.placeholder(str),  # Offline builders' files.
      download=False,
      train_split='train',
      eval_split='test',
      in_memory=True,  # Random access from RAM; False streams from disk.
      shuffle_buffer=50_000,  # Streaming only.
      image_size=28,  # Evaluation resolution (centre crop after resize).
      mean=(0.2860,),
      std=(0.3530,),
      prefetch=2,
      # name='folder' or 'packed': images from files (data/source_config.py).
      **source_config.data_keys(),
  ))
  # A separate labelled evaluation source (data/source_config.py).
  c.eval_data = source_config.eval_data_config()
  # Augmentation policy (docs/methods.md#view-policies). blur_p and
  # solarize_p are tuples: one value shared by all global views, e.g.
  # (0.5,), or one per view, e.g. (1.0, 0.1) (BYOL's asymmetric views).
  c.aug = ml_collections.ConfigDict(dict(
      crop_size=28,
      crop_scale=(0.08, 1.0),
      crop_ratio=(3 / 4, 4 / 3),
      flip_p=0.5,
      jitter=(0.4, 0.4, 0.4, 0.1),  # brightness, contrast, saturation, hue
      jitter_p=0.8,
      gray_p=0.2,
      blur_p=(0.0,),
      solarize_p=(0.0,),
      # Multi-crop (DINO): extra low-resolution views after the global ones.
      local_crops=0,
      local_crop_size=12,
      local_crop_scale=(0.05, 0.4),
      local_blur_p=0.5,
      local_solarize_p=0.0,
      # How crops are resized, every view (docs/methods.md#crops): one of
      # data/views.py INTERPOLATIONS; the ImageNet configs set the official.
      interpolation='bilinear',
  ))

  c.optim = ml_collections.ConfigDict(dict(
      name='lars',
      lr=0.3,  # Base lr; scaled by batch_size / 256 when lr_scaling=linear.
      lr_scaling='linear',  # Or 'sqrt' (x sqrt(batch_size)), 'none'.
      end_lr_ratio=0.0,  # Cosine decays to lr * end_lr_ratio.
      start_lr_ratio=0.0,  # Warm-up starts at lr * this (I-JEPA: 0.2).
      lr_per_epoch=False,  # The lr changes once per epoch (SimSiam).
      weight_decay=1e-6,
      # Set to schedule weight decay along a half cosine (DINO: 0.04 -> 0.4).
      weight_decay_end=config_dict.placeholder(float),
      exclude_norm_and_bias=True,  # Keep wd/trust ratio off ndim <= 1.
      # Parameter groups (optim.py): a base lr of their own for the arrays
      # of ndim <= 1 (Barlow Twins' lr-biases 0.0048), and the predictor at
      # the peak lr throughout (SimSiam's --fix-pred-lr).
      lr_biases=config_dict.placeholder(float),
      fix_pred_lr=False,
      # Per-array lr multipliers (optim.py; DINOv2): layer-wise decay over
      # the backbone's layers and the patch embedding's multiplier.
      layer_decay=config_dict.placeholder(float),
      patch_embed_lr_mult=config_dict.placeholder(float),
      momentum=0.9,
      trust_coefficient=1e-3,
      b1=0.9,
      b2=0.999,
      grad_clip_norm=config_dict.placeholder(float),  # Global norm.
      grad_clip_per_tensor=config_dict.placeholder(float),  # DINO: 3.0.
  ))
  # Online linear probe on stop_gradient(backbone features) of view 0: its
  # own optimizer partition (no weight decay, own lr), as solo-learn's.
  # enabled None: on when the training data has labels (train.plan sets it).
  c.probe = ml_collections.ConfigDict(dict(
      enabled=config_dict.placeholder(bool), lr=0.1, momentum=0.9))

  c.parallel = ml_collections.ConfigDict(dict(
      mode='jit',
      mesh_data=-1,  # -1: all devices not used by the other axis.
      mesh_fsdp=1,
  ))
  c.checkpoint = ml_collections.ConfigDict(dict(
      every_steps=500, keep=3, async_save=False,
      # 'fail': a corrupt newest checkpoint stops the run, naming the file;
      # 'previous': move it to <workdir>/corrupt/ and resume from the newest
      # good one.
      on_corrupt='fail'))
  # Rows of train_metrics.jsonl and TensorBoard (metrics.py).
  c.log_every_steps = 50
  # The console's progress line (progress.py) when stdout is not a terminal:
  # one every this many seconds (0: every step); a terminal's line is
  # rewritten in place every second.
  c.progress_seconds = 10.0
  # Consecutive non-finite steps tolerated (each skipped, not applied) before
  # the run stops; 0 stops at the first.
  c.nonfinite_skips = 0
  # A folder written by `python -m ssl_jax.export --format safetensors`: a
  # new run's backbone (and its EMA copies) starts from those weights
  # (model_init.py); used only when the workdir has no checkpoint to resume.
  c.model_init = config_dict.placeholder(str)
  # Resuming with other values of keys that change what the run computes
  # (durations, batch, optimizer, method, ...: config_history.py) is refused
  # unless this is True; config.json keeps the first run's config either way.
  c.allow_config_change = False

  c.eval = ml_collections.ConfigDict(dict(
      batch_size=1024,
      knn_k=200,
      knn_temperature=0.07,
      linear_epochs=30,
      linear_lr=1e-3,
      linear_batch_size=1024,
      linear_weight_decay=0.0,
      # kNN on raw and standardised pixels and the linear probe on
      # standardised pixels, next to the features' (evals/pixels.py).
      pixel_baselines=True,
      # What every protocol reads: 'pooled', the method's features (the
      # backbone's global pool); 'map', the same weights' last feature map
      # flattened, its positions kept (a ResNet's last stage, a ViT's patch
      # tokens; step.make_embed_fn): for small images whose classes differ
      # in where things are, as the linear probes on spatially pooled conv
      # maps of Goyal et al. 2019 (arXiv 1905.01235).
      readout='pooled',
      # Fine-tuning (evals/finetune.py; MAE's recipe for ViTs): AdamW, peak
      # lr after a warm-up, cosine to 1e-6, label smoothing 0.1; layer-wise
      # lr decay for backbones that declare layers (ViT, ConvNeXt;
      # models/__init__.py). The train split is held in memory.
      finetune_epochs=10,
      finetune_lr=1e-3,
      finetune_batch_size=256,
      finetune_layer_decay=0.75,
      finetune_weight_decay=0.05,
      finetune_warmup_epochs=1.0,
  ))
  return c


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses a config argument 'smoke,backbone=vit' (big_vision's style).

  A bare word sets that key to True; `key=value` sets a string. Keys not in
  `defaults` raise, listing the valid ones.
  """
  parsed = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    if key not in defaults:
      raise ConfigError(f'Unknown config argument {key!r}; valid: '
                        f'{sorted(defaults)}.')
    parsed[key] = value if _ else True
  return parsed


def backbone_config(name: str, **overrides) -> ml_collections.ConfigDict:
  """All the options of a backbone, so `--config.backbone.x=y` can set any:
  its module's `default_config()` (models/__init__.py), then `overrides`."""
  from ssl_jax import models  # pylint: disable=g-import-not-at-top
  return models.default_config(name, **overrides)


def load_file(spec: str) -> ml_collections.ConfigDict:
  """Loads `path/to/config.py[:arg]` as the CLI does (unlocked copy).

  For notebooks and tests: `config_lib.load_file('configs/x.py:smoke')`.
  """
  import importlib.util  # pylint: disable=g-import-not-at-top
  path, _, arg = spec.partition(':')
  if not os.path.isfile(path):
    raise ConfigError(f'--config file {path!r} does not exist'
                      + ('' if path.endswith('.py') else ' (a .py file)') + '.')
  module_spec = importlib.util.spec_from_file_location('_ssl_jax_config',
                                                       path)
  if module_spec is None:
    raise ConfigError(f'--config file {path!r} is not a Python file.')
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
    get_config = module.get_config
  except SyntaxError as e:
    if errors.verbose():
      raise
    raise ConfigError(f'--config file {e.filename}, line {e.lineno}: '
                      f'{e.msg}: {(e.text or "").strip()}') from None
  except Exception as e:  # pylint: disable=broad-except
    raise _config_file_error(path, e) from (e if errors.verbose() else None)
  try:
    return get_config(arg or None)
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise _config_file_error(path, e) from (e if errors.verbose() else None)


def _config_file_error(path: str, error: Exception) -> ConfigError:
  """The error of a config file that fails to run, at its line."""
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if os.path.abspath(f.filename) == os.path.abspath(path)]
  where = f', line {frames[-1].lineno}' if frames else ''
  return ConfigError(f'--config file {path}{where}: '
                     f'{type(error).__name__}: {error}')


def fill_missing(config, defaults) -> ml_collections.ConfigDict:
  """Adds keys of `defaults` that `config` lacks, recursively.

  A workdir's config.json written by an older ssl_jax lacks keys added
  since; evaluation fills them with today's defaults instead of failing.
  """
  out = ml_collections.ConfigDict(config.to_dict())
  for key, value in defaults.items():
    if key not in out:
      out[key] = value
    elif isinstance(value, ml_collections.ConfigDict) and isinstance(
        out[key], ml_collections.ConfigDict):
      out[key] = fill_missing(out[key], value)
  return out


def shrink_for_smoke(config, batch_size: int = 32, steps: int = 6) -> None:
  """The `smoke` preset's common part: a few steps of a tiny model.

  Configs call it and then shrink their backbone; tests run every config's
  smoke preset end to end.
  """
  config.batch_size = batch_size
  config.total_epochs = None
  config.total_steps = steps
  config.warmup_epochs = None
  config.warmup_steps = max(1, steps // 3)
  config.log_every_steps = max(1, steps // 3)
  config.checkpoint.every_steps = max(1, steps // 2)
  config.checkpoint.async_save = False
  config.dtype = 'float32'
  config.eval.linear_epochs = 2
  config.eval.knn_k = 20
  config.eval.finetune_epochs = 1
  config.eval.finetune_warmup_epochs = 0.2


def _set(config, key):
  return config.get(key) is not None


def steps_for(config, key: str, steps_per_epoch: int) -> int:
  """Converts `<key>_steps` / `<key>_epochs` to a number of steps."""
  steps, epochs = config.get(f'{key}_steps'), config.get(f'{key}_epochs')
  if steps is not None:
    return int(steps)
  if epochs is not None:
    return int(math.ceil(epochs * steps_per_epoch))
  return 0


def prefer_overridden_durations(config, overridden_keys) -> None:
  """Clears the other half of a duration pair the command line set.

  `--config.total_steps=400` on a config written in epochs must mean 400
  steps, not "both set". Both halves given on the command line is an error.
  """
  for key in DURATION_KEYS:
    if {f'{key}_steps', f'{key}_epochs'} <= set(overridden_keys):
      raise ConfigError(
          f'--config.{key}_steps and --config.{key}_epochs were both given; '
          'a duration is given once, in steps or in epochs.')
  with config.unlocked():
    for key in DURATION_KEYS:
      for given, other in (('steps', 'epochs'), ('epochs', 'steps')):
        if f'{key}_{given}' in overridden_keys:
          config[f'{key}_{other}'] = None


def _err(key, value, allowed):
  return ConfigError(f'config.{key}={value!r} is invalid: {allowed}.')


def _check(ok, key, value, allowed):
  if not ok:
    raise _err(key, value, allowed)


def _check_choice(config, key, choices):
  value = config_get(config, key)
  _check(value in choices, key, value, f'allowed values are {choices}')


def _check_positive(config, key, allow_zero=False):
  value = config_get(config, key)
  ok = isinstance(value, (int, float)) and (
      value >= 0 if allow_zero else value > 0)
  _check(ok, key, value,
         'must be a number ' + ('>= 0' if allow_zero else '> 0'))


def _check_probability(config, key):
  value = config_get(config, key)
  values = value if isinstance(value, (tuple, list)) else (value,)
  _check(all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values),
         key, value, 'probabilities must lie in [0, 1]')


def unknown_key_message(config, dotted: str) -> str | None:
  """Describes why `dotted` is not a key of `config`, listing valid keys."""
  node, walked = config, []
  for part in dotted.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = 'config.' + '.'.join(walked) if walked else 'config'
      valid = (sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict)
               else [])
      return (f'Unknown config key config.{dotted}: {where} has no key '
              f'{part!r}. Valid keys of {where}: {", ".join(valid)}.')
    node = node[part]
    walked.append(part)
  return None


def config_get(config, dotted: str):
  node = config
  for part in dotted.split('.'):
    node = node[part]
  return node


def validate(config, num_devices: int, num_processes: int = 1) -> None:
  """Checks every value that can be checked before data or compile.

  Raises:
    ConfigError: naming the key, the value and what is allowed.
  """
  total = [k for k in ('total_steps', 'total_epochs') if _set(config, k)]
  if len(total) != 1:
    raise ConfigError(
        'Exactly one of config.total_steps and config.total_epochs must be '
        f'set; got {total or "neither"}.')
  if _set(config, 'warmup_steps') and _set(config, 'warmup_epochs'):
    raise ConfigError('Set at most one of config.warmup_steps and '
                      'config.warmup_epochs.')
  for key in ('total_steps', 'total_epochs'):
    if _set(config, key):
      _check_positive(config, key)
  for key in ('warmup_steps', 'warmup_epochs'):
    if _set(config, key):
      _check_positive(config, key, allow_zero=True)

  batch = config.batch_size
  _check(isinstance(batch, int) and batch > 0, 'batch_size', batch,
         'must be a positive integer')
  _check(batch % num_devices == 0, 'batch_size', batch,
         f'must be divisible by the number of devices ({num_devices})')
  _check(batch % num_processes == 0, 'batch_size', batch,
         f'must be divisible by the number of processes ({num_processes})')
  accum = config.grad_accum_steps
  _check(isinstance(accum, int) and accum >= 1, 'grad_accum_steps', accum,
         'must be an integer >= 1')
  _check(batch % (num_devices * accum) == 0, 'batch_size', batch,
         f'must be divisible by devices x grad_accum_steps '
         f'({num_devices} x {accum})')
  _check_choice(config, 'dtype', DTYPES)
  _check_choice(config, 'fuse_views', (True, False))

  _check_choice(config, 'optim.name', OPTIMIZERS)
  _check_choice(config, 'optim.lr_scaling', LR_SCALINGS)
  _check_positive(config, 'optim.lr')
  if config.optim.get('lr_biases') is not None:
    _check_positive(config, 'optim.lr_biases')
  _check_choice(config, 'optim.fix_pred_lr', (True, False))
  _check_positive(config, 'optim.weight_decay', allow_zero=True)
  _check_positive(config, 'optim.end_lr_ratio', allow_zero=True)
  if 'start_lr_ratio' in config.optim:
    config_checks.fraction(config, 'optim.start_lr_ratio')
  if 'lr_per_epoch' in config.optim:
    _check_choice(config, 'optim.lr_per_epoch', (True, False))
  for key in ('layer_decay', 'patch_embed_lr_mult'):
    if config.optim.get(key) is not None:
      config_checks.fraction(config, f'optim.{key}', open_low=True)
  _check_positive(config, 'probe.lr')

  aug = config.aug
  _check(isinstance(aug.crop_size, int) and aug.crop_size > 0,
         'aug.crop_size', aug.crop_size, 'must be a positive integer')
  config_checks.pair(config, 'aug.crop_scale', high=1)
  config_checks.pair(config, 'aug.crop_ratio')
  for key in ('flip_p', 'jitter_p', 'gray_p', 'blur_p', 'solarize_p',
              'local_blur_p', 'local_solarize_p'):
    _check_probability(config, f'aug.{key}')
  _check(isinstance(aug.local_crops, int) and aug.local_crops >= 0,
         'aug.local_crops', aug.local_crops, 'must be an integer >= 0')
  if aug.local_crops:
    config_checks.pair(config, 'aug.local_crop_scale', high=1)
    _check(isinstance(aug.local_crop_size, int) and aug.local_crop_size > 0,
           'aug.local_crop_size', aug.local_crop_size,
           'must be a positive integer')
  if 'interpolation' in aug:
    _check(aug.interpolation in views_lib.INTERPOLATIONS, 'aug.interpolation',
           aug.interpolation,
           "must be 'bilinear' (no antialiasing), 'bilinear_antialias' "
           "(PIL's BILINEAR, torchvision's default), 'bicubic' (TF's "
           "tf.image.resize BICUBIC) or 'bicubic_antialias' (PIL's BICUBIC)")
  config_checks.numbers(config, 'aug.jitter', 4)
  config_checks.numbers(config, 'data.mean')
  config_checks.numbers(config, 'data.std')
  _check(len(aug.jitter) == 4 and all(v >= 0 for v in aug.jitter),
         'aug.jitter', tuple(aug.jitter),
         'need 4 non-negative strengths (brightness, contrast, saturation, '
         'hue)')
  _check(len(config.data.mean) == len(config.data.std), 'data.std',
         config.data.std, 'need one value per channel, as data.mean')
  _check(all(s > 0 for s in config.data.std), 'data.std', config.data.std,
         'must be > 0')

  _check_choice(config, 'parallel.mode', PARALLEL_MODES)
  _check(config.parallel.mode == 'jit' or num_processes == 1,
         'parallel.mode', config.parallel.mode,
         f"'jit' with {num_processes} processes (pmap maps over one "
         "process's devices; the jit mesh spans every process)")
  _, fsdp = mesh_shape(config, num_devices)  # Raises unless it fits.
  _check(config.parallel.mode == 'jit' or fsdp == 1, 'parallel.mesh_fsdp',
         config.parallel.mesh_fsdp,
         "must be 1 with parallel.mode='pmap' (pmap keeps a full copy of "
         "the state on every device; FSDP needs mode='jit')")
  config_checks.validate_backbone(config)
  _check_choice(config, 'data.create_data_dir', (True, False))
  source_config.validate(config)  # Image sources, eval_data, probe.
  _check_choice(config, 'allow_config_change', (True, False))
  _check_choice(config, 'checkpoint.on_corrupt', ('fail', 'previous'))
  _check_positive(config, 'checkpoint.every_steps')
  _check_positive(config, 'checkpoint.keep')
  _check_positive(config, 'log_every_steps')
  _check(isinstance(config.progress_seconds, (int, float)) and
         config.progress_seconds >= 0, 'progress_seconds',
         config.progress_seconds, 'a number of seconds >= 0')
  _check(isinstance(config.nonfinite_skips, int) and
         config.nonfinite_skips >= 0, 'nonfinite_skips',
         config.nonfinite_skips, 'must be an integer >= 0')
  _check_positive(config, 'eval.knn_k')
  _check_positive(config, 'eval.knn_temperature')
  for key in ('finetune_epochs', 'finetune_lr', 'finetune_batch_size'):
    _check_positive(config, f'eval.{key}')
  _check(0 <= config.eval.finetune_layer_decay <= 1,
         'eval.finetune_layer_decay', config.eval.finetune_layer_decay,
         'a factor in [0, 1]')
  _check_choice(config, 'eval.readout', EVAL_READOUTS)
  if config.eval.readout == 'map':
    from ssl_jax import models  # pylint: disable=g-import-not-at-top
    _check(models.has_feature_map(models.backbone_class(
        config.backbone.name)), 'eval.readout', config.eval.readout,
           f"'map' needs a backbone with a feature_map method "
           f"(models/__init__.py); {config.backbone.name!r} has none: use "
           "'pooled'")
  if config.get('model_init') is not None:
    from ssl_jax import model_init  # pylint: disable=g-import-not-at-top
    model_init.check(config)  # Exists and holds this config's backbone.


def mesh_shape(config, num_devices: int) -> tuple[int, int]:
  """Resolves (data, fsdp) sizes; -1 takes the devices the other leaves."""
  data, fsdp = config.parallel.mesh_data, config.parallel.mesh_fsdp
  if data == -1 and fsdp == -1:
    raise ConfigError('At most one of config.parallel.mesh_data and '
                      'mesh_fsdp may be -1.')
  for key, value in (('parallel.mesh_data', data),
                     ('parallel.mesh_fsdp', fsdp)):
    _check(isinstance(value, int) and (value == -1 or value > 0), key, value,
           'must be a positive integer or -1')
  if data == -1:
    _check(num_devices % fsdp == 0, 'parallel.mesh_fsdp', fsdp,
           f'must divide the number of devices ({num_devices})')
    data = num_devices // fsdp
  if fsdp == -1:
    _check(num_devices % data == 0, 'parallel.mesh_data', data,
           f'must divide the number of devices ({num_devices})')
    fsdp = num_devices // data
  if data * fsdp != num_devices:
    raise ConfigError(
        f'config.parallel.mesh_data x mesh_fsdp = {data} x {fsdp} must equal '
        f'the number of devices ({num_devices}).')
  return data, fsdp
