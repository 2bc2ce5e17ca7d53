"""ssl_jax.export: the exported backbones compute ssl_jax's features.

For every backbone family the exported PyTorch model (timm, or the copy of
ssl_jax/torch_backbones.py written with it) gives the features of ssl_jax's
embed on the same uint8 images (evaluation preprocessing, float32) to 1e-4
of the feature scale: on random weights (BatchNorm statistics and scales
random too, ResNets in eval mode) and on smoke runs trained here (the
ResNet one by the CLI, in the background while the other tests run). Then
the safetensors round trip, config.model_init, and the errors. Needs the
`export` extra (torch, timm, safetensors); without it these tests skip,
saying so.
"""

import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import checkpoint
from ssl_jax import config_lib
from ssl_jax import evaluate
from ssl_jax import export
from ssl_jax import export_formats
from ssl_jax import methods
from ssl_jax import model_init
from ssl_jax import models
from ssl_jax import step as step_lib
from ssl_jax import train
from ssl_jax.data import augment
from ssl_jax.data import fashion_mnist_offline
from ssl_jax.evals import finetune

from conftest import REPO, missing_extra, subprocess_env

TOLERANCE = 1e-4  # Of the largest feature, float32.


def _require(*names):
  """The modules, or a skip naming what to install."""
  # The CUDA build of torch ships triton (its GPU compiler, unused on the
  # CPU), whose library segfaults when loaded after TensorFlow (conftest's
  # dataset imports it); timm's import of torchvision would load it. Made
  # unimportable, torch runs without it.
  sys.modules.setdefault('triton', None)
  try:
    return [importlib.import_module(n) for n in names]
  except ImportError as e:
    missing_extra(
        f'needs the export extra, pip install -e ".[export]": {e}')


def _images(size, channels, n=3, seed=0):
  return np.random.default_rng(seed).integers(
      0, 256, (n, size, size, channels), dtype=np.uint8)


def _torch_features(folder, fmt, x):
  """Features of the exported model on normalised NHWC images."""
  torch, timm = _require('torch', 'timm')
  if fmt == 'timm':
    model = timm.create_model(f'local-dir:{folder}', pretrained=True).eval()
    assert model.num_classes == 0
  else:  # The copy written with the weights: no ssl_jax needed.
    spec = importlib.util.spec_from_file_location(
        'exported_torch_backbones', os.path.join(folder,
                                                 'torch_backbones.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load(folder)
    assert not model.training
  with torch.no_grad():
    nchw = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2)
    return model(nchw).numpy()


def _assert_same(features, reference):
  assert features.shape == reference.shape
  scale = np.abs(reference).max()
  err = np.abs(features - reference).max() / scale
  assert err <= TOLERANCE, f'max abs diff {err:.2e} x feature scale {scale}'


def _config(backbone, size, channels):
  config = config_lib.base_config()
  name = backbone.pop('name')
  config.backbone = config_lib.backbone_config(name, **backbone)
  config.data.image_size = size
  config.data.mean = (0.4,) * channels
  config.data.std = (0.3,) * channels
  return config


def _random_variables(module, x, seed=1):
  """Every array drawn at random (no initialisation to compile), so no
  mapping hides behind a constant: BatchNorm statistics, scales (zero-init
  ones too) and biases; kernels scaled by their fan-in."""
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name, shape = jax.tree_util.keystr(path), leaf.shape
    if "'var'" in name:
      return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if "'scale'" in name:
      return (1 + 0.5 * rng.standard_normal(shape)).astype(np.float32)
    fan_in = np.prod(shape[:-1]) if len(shape) > 1 else 4
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x,
                                              train=False))
  return jax.tree_util.tree_map_with_path(draw, shapes)


RANDOM = {
    # timm's resnet18/50: width 1, standard stem, 33 px (= 32k + 1, where
    # XLA's 'SAME' padding is symmetric at every stride-2 window).
    'resnet18-timm': ('timm', dict(name='resnet', depth=18), 33, 3),
    'resnet50-timm': ('timm', dict(name='resnet', depth=50), 33, 1),
    'resnet18-cifar-stem-x0.0625-torch': ('torch', dict(
        name='resnet', depth=18, width=0.0625, cifar_stem=True), 28, 1),
    # 28 px: 'SAME' pads (0, 1) / (2, 3) where timm would pad symmetrically.
    'resnet50-x0.0625-torch': ('torch', dict(
        name='resnet', depth=50, width=0.0625), 28, 1),
    'vit-cls-registers-timm': ('timm', dict(
        name='vit', dim=16, depth=2, heads=2, patch_size=7,
        num_registers=2), 28, 1),
    'vit-mean-timm': ('timm', dict(name='vit', dim=16, depth=2, heads=2,
                                   patch_size=7, pool='mean'), 28, 1),
    # DINO's table: a CLS row, 2x2 patches resized to the 4x4 evaluation
    # grid; timm adds the CLS row too (no_embed_class=False).
    # With DINOv2's LayerScale (timm's init_values; random gammas here).
    'vit-cls-interpolated-timm': ('timm', dict(
        name='vit', dim=16, depth=1, heads=2, patch_size=7,
        pos_embed='interpolated', pos_grid=2, layer_scale_init=1e-5), 28, 1),
    'vit-mean-no-cls-learned-timm': ('timm', dict(
        name='vit', dim=24, depth=1, heads=3, patch_size=4, pool='mean',
        cls_token=False, num_registers=1, pos_embed='learned',
        mlp_ratio=2.0), 16, 3),
}


@pytest.mark.parametrize('case', RANDOM)
def test_random_weights_give_the_same_features(case, tmp_path):
  _require('torch', 'timm', 'safetensors')
  fmt, backbone, size, channels = RANDOM[case]
  config = _config(dict(backbone), size, channels)
  module = models.build_backbone(config.backbone, jnp.float32)
  x = augment.eval_preprocess(jnp.asarray(_images(size, channels)),
                              config.data.mean, config.data.std)
  variables = _random_variables(module, x)
  reference = np.asarray(jax.jit(
      lambda v, x: module.apply(v, x, train=False))(variables, x))
  export.write(fmt, variables, config, str(tmp_path), {})
  _assert_same(_torch_features(str(tmp_path), fmt, x), reference)


def test_timm_names_every_resnet_depth_and_vit_preset():
  torch, timm = _require('torch', 'timm')
  for depth in (18, 34, 50, 101, 152):
    config = _config(dict(name='resnet', depth=depth), 225, 3)
    meta = export_formats.timm_config(config.backbone, config.data)
    assert meta['architecture'] == f'resnet{depth}'
    with torch.device('meta'):
      model = timm.create_model(meta['architecture'], **meta['model_args'])
    _, layers = models.resnet._STAGES[depth]  # pylint: disable=protected-access
    assert [len(getattr(model, f'layer{i}')) for i in range(1, 5)] == list(
        layers)
    assert model.num_features == meta['num_features']
  for variant in ('tiny', 'small', 'base', 'large'):
    config = _config(dict(name='vit', variant=variant, patch_size=16), 224, 3)
    meta = export_formats.timm_config(config.backbone, config.data)
    assert meta['architecture'] == f'vit_{variant}_patch16_224'
    assert 'embed_dim' not in meta['model_args']  # A named size.
    with torch.device('meta'):
      model = timm.create_model(meta['architecture'], **meta['model_args'])
    module = models.build_backbone(config.backbone, jnp.float32)
    flax_shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0),
                                 jnp.zeros((1, 224, 224, 3)))
    flax_count = sum(np.prod(s.shape) for s in jax.tree.leaves(flax_shapes))
    # timm holds the sin-cos positions as a tensor; Flax computes them.
    positions = (224 // 16)**2 * module.feature_dim
    assert sum(p.numel() for p in model.parameters()) == (flax_count +
                                                          positions)


@pytest.fixture(scope='module')
def small_fmnist(tmp_path_factory):
  """(data_dir, manual_dir): the real builder prepared from IDX files of the
  first 256 train and 64 test images of Debian's Fashion-MNIST (0.4 s; the
  whole dataset took 13 s here)."""
  debian = fashion_mnist_offline.DEBIAN_DIR
  assert not fashion_mnist_offline.missing_files(debian), (
      fashion_mnist_offline.INSTALL_HINT)
  manual_dir = tmp_path_factory.mktemp('fmnist_idx')
  for name in os.listdir(debian):
    if name.endswith('-ubyte.gz'):
      with gzip.open(os.path.join(debian, name)) as f:
        data = f.read()
      ndim = data[3]
      dims = np.frombuffer(data[4:4 + 4 * ndim], '>u4').copy()
      dims[0] = 256 if name.startswith('train') else 64
      size = int(np.prod(dims))
      with gzip.open(manual_dir / name, 'wb') as f:
        f.write(data[:4] + dims.astype('>u4').tobytes() +
                data[4 + 4 * ndim:4 + 4 * ndim + size])
  return str(tmp_path_factory.mktemp('tfds')), str(manual_dir)


# A smoke config cut to 2 steps of batch 8 (a checkpoint at each), without
# the online probe (less to compile).
_SHORT = {'total_steps': 2, 'warmup_steps': 1, 'batch_size': 8,
          'log_every_steps': 2, 'probe.enabled': False,
          'checkpoint.every_steps': 1}


def _smoke(config_file, small_fmnist, **overrides):
  config = config_lib.load_file(os.path.join(REPO, 'configs', config_file))
  config.data.data_dir, config.data.manual_dir = small_fmnist
  for key, value in {**_SHORT, **overrides}.items():
    parent, _, leaf = key.rpartition('.')
    (config_lib.config_get(config, parent) if parent else config)[leaf] = value
  return config


class _Run:
  """A trained smoke run: config, workdir, final state, method."""

  def __init__(self, config, workdir, state):
    self.config, self.workdir, self.state = config, workdir, state
    self.method = methods.get(config.method.name)(config)

  def embed(self, images, method=None):
    embed = step_lib.make_embed_fn(method or self.method)
    return np.asarray(jax.jit(embed)(self.state, images))


@pytest.fixture(scope='module', autouse=True)
def _resnet_training(small_fmnist, tmp_path_factory):
  """SimCLR's smoke run, ResNet-18 x0.0625 with the CIFAR stem, trained by
  the CLI in a process of its own while this module's other tests run (on
  two cores that keeps the module within its budget)."""
  workdir = str(tmp_path_factory.mktemp('resnet_run'))
  data_dir, manual_dir = small_fmnist
  overrides = {**_SHORT, 'data.data_dir': data_dir,
               'data.manual_dir': manual_dir}
  log = open(tmp_path_factory.mktemp('log') / 'resnet_run.log', 'w+')
  process = subprocess.Popen(
      [sys.executable, '-m', 'ssl_jax.main',
       f'--config={REPO}/configs/simclr_fashion_mnist.py:smoke',
       f'--workdir={workdir}',
       *(f'--config.{k}={v}' for k, v in overrides.items())],
      cwd=REPO, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
  yield process, workdir, log
  if process.poll() is None:  # Not waited for (tests deselected).
    process.kill()
    process.wait()
  log.close()


@pytest.fixture(scope='module')
def resnet_run(_resnet_training):
  """The finished ResNet run, its newest checkpoint restored here."""
  process, workdir, log = _resnet_training
  assert process.wait(timeout=600) == 0, log.seek(0) or log.read()
  config = evaluate.load_config(workdir)
  p = train.plan(config)
  state, step = checkpoint.Checkpointer(
      workdir, config, config.method.name, create=False).restore_latest(
          p.parallel.abstract_state(p.init_fn))
  assert step == 2
  return _Run(config, workdir, state)


@pytest.fixture(scope='module')
def vit_run(small_fmnist, tmp_path_factory):
  """DINO (an EMA teacher), ViT with a CLS token and a register, trained
  here."""
  config = _smoke('dino_fashion_mnist.py:smoke', small_fmnist,
                  **{'backbone.num_registers': 1, 'aug.local_crops': 0})
  workdir = str(tmp_path_factory.mktemp('vit_run'))
  return _Run(config, workdir, train.run(config, workdir))


def test_trained_resnet_cifar_stem_as_torch(resnet_run, tmp_path):
  _require('torch', 'safetensors')
  out = export.export(resnet_run.workdir, 'torch', str(tmp_path / 'out'))
  assert sorted(os.listdir(out)) == ['config.json', 'model.safetensors',
                                     'torch_backbones.py']
  images = _images(28, 1)
  x = augment.eval_preprocess(images, resnet_run.config.data.mean,
                              resnet_run.config.data.std)
  _assert_same(_torch_features(out, 'torch', x), resnet_run.embed(images))


def test_trained_dino_vit_as_timm_teacher_online_and_mean_pooled(
    vit_run, tmp_path):
  _require('torch', 'timm', 'safetensors')
  config, state = vit_run.config, vit_run.state
  images = _images(28, 1)
  x = augment.eval_preprocess(images, config.data.mean, config.data.std)
  # By default the network DINO evaluates: its teacher, CLS-pooled.
  teacher = export.export(vit_run.workdir, 'timm', str(tmp_path / 'teacher'))
  with open(os.path.join(teacher, 'config.json')) as f:
    assert json.load(f)['ssl_jax']['network'] == 'teacher'
  teacher_features = _torch_features(teacher, 'timm', x)
  _assert_same(teacher_features, vit_run.embed(images))
  online = export.export(vit_run.workdir, 'timm', str(tmp_path / 'online'),
                         network='online')
  online_reference = np.asarray(vit_run.method.backbone.apply(
      {'params': state.params['model']['backbone']}, x))
  _assert_same(_torch_features(online, 'timm', x), online_reference)
  assert np.abs(online_reference - teacher_features).max() > 1e-6
  # The same trained weights, mean-pooled (the pooling has no weights).
  mean_config = config.copy_and_resolve_references()
  mean_config.backbone.pool = 'mean'
  method = methods.get('dino')(mean_config)
  variables, _ = export.network_variables(method, state, None)
  export.write('timm', jax.tree.map(np.asarray, variables), mean_config,
               str(tmp_path), {})
  _assert_same(_torch_features(str(tmp_path), 'timm', x),
               vit_run.embed(images, method))


@pytest.fixture(scope='module')
def resnet_safetensors(resnet_run, tmp_path_factory):
  _require('safetensors')
  return export.export(resnet_run.workdir, 'safetensors',
                       str(tmp_path_factory.mktemp('st') / 'out'))


def _assert_trees_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_safetensors_round_trip_and_model_init(resnet_run, resnet_safetensors,
                                               tmp_path):
  run = resnet_run
  variables, meta = model_init.load(resnet_safetensors)
  expected = run.method.backbone_variables(
      run.state.params['model'], run.state.mutables, run.state.extras)
  _assert_trees_equal(variables, expected)  # Identical, names and values.
  assert meta['ssl_jax']['step'] == 2 and meta['in_chans'] == 1
  # A new run starting from the export: before its first update, its
  # backbone (and what fine-tuning takes) is the exported one.
  config = run.config.copy_and_resolve_references()
  config.model_init = resnet_safetensors
  config.seed = 7  # Another initialisation, overwritten.
  p = train.plan(config)
  state, start, _, _ = train.restore_or_init(p, config, str(tmp_path / 'w'))
  assert start == 0
  _assert_trees_equal(p.method.backbone_variables(
      state.params['model'], state.mutables, state.extras), variables)
  _assert_trees_equal(finetune.pretrained_backbone(p.method, state),
                      variables)


def test_model_init_errors_name_the_key_and_the_path(resnet_run,
                                                      resnet_safetensors,
                                                      tmp_path):
  config = resnet_run.config.copy_and_resolve_references()
  config.model_init = str(tmp_path / 'nowhere')
  where = re.escape(f'config.model_init={config.model_init!r}')
  with pytest.raises(config_lib.ConfigError, match=where):
    config_lib.validate(config, jax.device_count())
  config.model_init = resnet_safetensors
  config.backbone.width = 0.125
  with pytest.raises(config_lib.ConfigError,
                     match='backbone.width=0.0625 there, 0.125 here'):
    config_lib.validate(config, jax.device_count())
  assert not os.listdir(tmp_path)


def test_export_errors_are_user_errors_and_write_nothing(resnet_run, vit_run,
                                                         tmp_path):
  _require('safetensors')
  out = str(tmp_path / 'out')
  bare = tmp_path / 'bare'  # A workdir before its first checkpoint.
  bare.mkdir()
  (bare / 'config.json').write_text('{}')
  cases = [
      (resnet_run.workdir, 'timm', {}, 'no CIFAR stem.*Use --format torch'),
      (vit_run.workdir, 'torch', {}, 'Use --format timm'),
      (resnet_run.workdir, 'onnx', {}, "'onnx' is not one of"),
      (str(bare), 'torch', {}, 'No checkpoint in'),
      (resnet_run.workdir, 'torch', {'step': 5},
       'No checkpoint step 5 .* available steps: 1, 2'),
  ]
  for workdir, fmt, kwargs, message in cases:
    with pytest.raises(export.ExportError, match=message):
      export.export(workdir, fmt, out, **kwargs)
    assert not os.path.exists(out), message
  assert issubclass(export.ExportError, config_lib.UserError)
  # Raised after the restore (the state tells), before any write.
  with pytest.raises(export.ExportError, match="'simclr' has no teacher"):
    export.network_variables(resnet_run.method, resnet_run.state, 'teacher')
  os.makedirs(out)
  with open(os.path.join(out, 'old.txt'), 'w') as f:
    f.write('x')
  with pytest.raises(export.ExportError, match='--overwrite'):
    export.export(resnet_run.workdir, 'safetensors', out)
  assert os.listdir(out) == ['old.txt']
  export.export(resnet_run.workdir, 'safetensors', out, step=1,
                overwrite=True)
  assert sorted(os.listdir(out)) == ['config.json', 'model.safetensors']
  assert model_init.read_config(out)['ssl_jax']['step'] == 1


def test_cli_error_is_one_fatal_line(tmp_path):
  workdir, out = tmp_path / 'w', tmp_path / 'out'
  for step in (1, 2):  # What the step check reads.
    (workdir / 'checkpoints' / str(step)).mkdir(parents=True)
  (workdir / 'config.json').write_text('{}')
  result = subprocess.run(
      [sys.executable, '-m', 'ssl_jax.export', f'--workdir={workdir}',
       '--format=torch', f'--out={out}', '--step=9'], cwd=REPO,
      env=subprocess_env(), capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr
  fatal = [l for l in result.stderr.splitlines() if 'FATAL' in l]
  assert fatal == [f'FATAL: ExportError: No checkpoint step 9 in {workdir}/'
                   'checkpoints; available steps: 1, 2.'], result.stderr
  assert 'Traceback' not in result.stderr
  assert not out.exists()
