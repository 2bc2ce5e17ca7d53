"""DINOv2: the objective against a float64 transcription of the official
`ssl_meta_arch.forward_backward` (packed masked tokens, reversed teacher
crops, per-GPU KoLeo), both centrings, the schedules, the frozen last
layers, bad values, jit == pmap. Cheap: the smoke config's one-block ViT,
2 global + 1 local crop."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_jax import config_checks
from ssl_jax import config_lib
from ssl_jax import methods
from ssl_jax.methods import dinov2

from conftest import REPO
import method_harness as harness

BATCH = 16


def _config(**method):
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', 'dinov2_fashion_mnist.py') + ':smoke')
  config.batch_size = BATCH
  config.aug.local_crops = 1  # A smaller step to compile.
  # Without LayerScale (1e-5 in the config): with it an untrained network's
  # CLS tokens barely see their image, so KoLeo's nearest-neighbour
  # distances between images are float32 round-off and the comparison with
  # the float64 transcription measures nothing but that.
  config.backbone.layer_scale_init = 0.0
  config.method.update(**method)
  return config


# ---------------------------------------- float64 transcription of dinov2/
def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _sinkhorn(t, temp, n_rows):
  q = np.exp(t / temp).T  # K x B
  q /= q.sum()
  for _ in range(3):
    q /= q.sum(1, keepdims=True)
    q /= q.shape[0]
    q /= q.sum(0, keepdims=True)
    q /= n_rows
  return (q * n_rows).T


def _koleo(x, eps=1e-8):
  x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)
  dots = x @ x.T
  np.fill_diagonal(dots, -1)
  d = np.linalg.norm(x - x[dots.argmax(1)] + eps, axis=-1)
  return -np.log(d + eps).mean()


def _official_loss(out, temp, gpus, centers=None):
  """forward_backward's loss_accumulator, `gpus` equal parts of the batch
  (DDP averages their losses); `centers`: 'centering' mode."""
  f = {k: np.asarray(v, np.float64) for k, v in out.items()}
  n, crops, k = f['student_logits'].shape
  n_local = crops - 2
  # Crop-major chunks, as the collate stacks crops.
  t_cls = np.concatenate([f['teacher_logits'][:, 1], f['teacher_logits'][:, 0]])
  valid = np.asarray(out['patch_valid']).transpose(1, 0, 2).reshape(2 * n, -1)
  t_patch = f['teacher_patch_logits'].transpose(1, 0, 2, 3).reshape(
      2 * n, -1, f['teacher_patch_logits'].shape[-1])[valid]
  s_patch = f['student_patch_logits'].transpose(1, 0, 2, 3).reshape(
      2 * n, -1, t_patch.shape[-1])[valid]
  if centers is None:
    t_cls = _sinkhorn(t_cls, temp, 2 * n)
    t_patch = _sinkhorn(t_patch, temp, len(t_patch))
  else:
    soft = lambda x: np.exp(_log_softmax(x))
    t_cls = soft((t_cls - centers[0]) / temp)
    t_patch = soft((t_patch - centers[1]) / temp)
  terms = 2 + max(2 * n_local, 1)
  lsm = lambda s: _log_softmax(s / 0.1)
  s_global = np.concatenate([f['student_logits'][:, 0],
                             f['student_logits'][:, 1]])
  dino = -np.sum(t_cls * lsm(s_global), -1).mean() * 2 / terms
  for j in range(2, crops):
    for t in (t_cls[n:], t_cls[:n]):
      dino -= np.sum(t * lsm(f['student_logits'][:, j]), -1).mean() / terms
  per = n // gpus
  koleo = np.mean([sum(_koleo(f['student_cls'][g * per:(g + 1) * per, c])
                       for c in range(2)) for g in range(gpus)])
  masks = np.asarray(out['patch_valid']).transpose(1, 0, 2).reshape(2 * n, -1)
  weight = np.repeat(1 / np.maximum(masks.sum(-1), 1), masks.sum(-1))
  ibot = -np.sum(np.sum(t_patch * lsm(s_patch), -1) * weight) / (2 * n)
  return dino + 0.1 * koleo + ibot, dino


@pytest.fixture(scope='module')
def forward():
  config = _config()
  method = methods.get('dinov2')(config, total_steps=8, steps_per_epoch=2)
  batch = harness.synthetic_batch(method.views, 1, BATCH, seed=0)
  views = [jnp.asarray(batch[f'view{i}'], jnp.float32) / 255
           for i in range(3)]

  @jax.jit
  def init_and_forward(views):
    variables = method.init(jax.random.PRNGKey(0), views)
    outputs, _ = method.forward(variables.params, variables.mutables,
                                variables.extras, views,
                                jax.random.PRNGKey(1))
    return variables, outputs

  return method, *init_and_forward(views)


def test_outputs_and_the_official_objective(forward):
  method, variables, out = forward
  m = method.config.method
  assert out['student_logits'].shape == (BATCH, 3, m.out_dim)
  assert out['teacher_patch_logits'].shape == (BATCH, 2, 8, m.ibot_out_dim)
  assert 0 < np.asarray(out['patch_valid']).sum() < out['patch_valid'].size
  # The teacher starts as the student (which differs by its masks and
  # drop-path).
  jax.tree.map(np.testing.assert_array_equal, variables.extras['teacher'],
               variables.params)
  # Step 1 of 2 warm-up steps (1 epoch): tau_t = 0.07 (linspace's end).
  objective = jax.jit(method.objective)
  loss, metrics, _ = objective(out, variables.extras, 1)
  expected, dino = _official_loss(out, 0.07, BATCH // m.koleo_batch)
  np.testing.assert_allclose(metrics['teacher_temp'], 0.07, rtol=1e-6)
  np.testing.assert_allclose(loss, expected, rtol=2e-5)
  # Without local crops the official divides the 2 pairs by 3.
  no_local = dict(out, student_logits=out['student_logits'][:, :2])
  _, metrics, _ = objective(no_local, variables.extras, 5)
  np.testing.assert_allclose(metrics['dino'],
                             _official_loss(no_local, 0.07, 2)[1], rtol=2e-5)
  assert metrics['dino'] < dino  # 2/3 of a mean of the same pairs' kind.


def test_centering_mode_and_its_extras(forward):
  method, variables, out = forward
  config = _config(centering='centering')
  centring = methods.get('dinov2')(config, total_steps=8, steps_per_epoch=2)
  k, kp = config.method.out_dim, config.method.ibot_out_dim
  extras = dict(variables.extras, dino_center=jnp.linspace(-1, 1, k),
                ibot_center=jnp.linspace(1, -1, kp))
  # Step 0: tau_t = 0.04 (the warm-up's start).
  loss, _, aux = jax.jit(centring.objective)(out, extras, 0)
  expected, _ = _official_loss(out, 0.04, 2, centers=(
      np.linspace(-1, 1, k), np.linspace(1, -1, kp)))
  np.testing.assert_allclose(loss, expected, rtol=2e-5)
  new = centring.update_extras(extras, variables.params, aux, 0)
  t = np.asarray(out['teacher_logits'], np.float64).reshape(-1, k)
  np.testing.assert_allclose(new['dino_center'], 0.9 * np.linspace(-1, 1, k)
                             + 0.1 * t.mean(0), rtol=1e-5, atol=1e-6)
  tp = np.asarray(out['teacher_patch_logits'], np.float64)[
      np.asarray(out['patch_valid'])]
  np.testing.assert_allclose(new['ibot_center'], 0.9 * np.linspace(1, -1, kp)
                             + 0.1 * tp.mean(0), rtol=1e-5, atol=1e-6)


def test_schedules_and_frozen_last_layers():
  temp = lambda s: float(dinov2.teacher_temperature(s, 30, 0.04, 0.07))
  assert temp(0) == pytest.approx(0.04)
  assert temp(1) == pytest.approx(0.04 + 0.03 / 29)  # np.linspace.
  assert temp(29) == pytest.approx(0.07) == temp(500)
  method = methods.get('dinov2')(_config(), total_steps=8, steps_per_epoch=4)
  assert method.freeze_steps == 2  # Half an epoch of 4 steps.
  ones = {'dino_head': {'last_layer': {'kernel': 1.0}, 'mlp0': 1.0},
          'ibot_head': {'last_layer': {'scale': 1.0}}, 'backbone': 1.0}
  frozen = method.adjust_updates(ones, 1)
  assert float(frozen['dino_head']['last_layer']['kernel']) == 0.0
  assert float(frozen['ibot_head']['last_layer']['scale']) == 0.0
  assert float(frozen['dino_head']['mlp0']) == 1.0
  live = method.adjust_updates(ones, 2)
  assert float(live['ibot_head']['last_layer']['scale']) == 1.0


@pytest.mark.parametrize('key, value, match', [
    ('method.centering', 'softmax', 'method.centering'),
    ('method.koleo_batch', 5, 'method.koleo_batch'),
    ('method.mask_ratio', (0.5, 0.1), 'method.mask_ratio'),
    ('backbone.cls_token', False, 'backbone.name')])
def test_bad_values_are_refused_naming_the_key(key, value, match):
  config = _config()
  section, name = key.split('.')
  config[section][name] = value
  with pytest.raises(config_lib.ConfigError, match=match):
    config_checks.validate_method(config)


def test_jit_and_pmap_agree_and_the_loss_moves():
  # SGD: Adam's first steps move a weight by about lr whatever its
  # gradient, so a round-off gradient (a bias ahead of a LayerNorm) would
  # differ between jit's and pmap's summation orders by the full step.
  # One head for both losses (the official default): a smaller step.
  # KoLeo is computed (its value below) but weighs 0 in the update: on an
  # untrained network its nearest-neighbour distances are tiny, so its
  # gradient (1/distance) turns the two summation orders' round-off into a
  # 1% difference in some parameters after two steps on some CPUs (measured
  # on an AMD EPYC: 3e-5 on values of 3e-3; 1e-7 without it).
  config = _config(separate_ibot_head=False, koleo_weight=0.0)
  config.optim.update(name='sgd', lr=0.5, lr_scaling='none')
  _, history = harness.assert_same_training(
      config, steps=2, metrics=('loss', 'dino', 'koleo', 'ibot'))
  assert history[0]['koleo'] != 0 and history[-1]['update_norm'] > 0
