"""The reproduction check pins every ImageNet config to its official recipe.

Each expected value is written from the official code's formula (the file
named beside it), for ImageNet's 1,281,167 train images: per-group lr at the
first, second and last update, weight decay, trust ratio, EMA momentum and
views. Then the command line: one screen, and one `FATAL:` line for bad
input. The trainer's schedules compute in float32 (optax): lrs are compared
within 1e-6 of the peak.
"""

import math
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from ssl_jax import check_recipe
from ssl_jax import config_lib
from ssl_jax import recipe
from ssl_jax.data import views

import conftest
from conftest import REPO

IMAGES = 1_281_167


def _recipe(spec, **overrides):
  config = config_lib.load_file(os.path.join(REPO, 'configs', spec))
  for key, value in overrides.items():
    config[key] = value
  return config, recipe.compute(config)


def _row(r, step, group='main', ndim='>1'):
  [row] = [x for x in r.rows if (x.step, x.group, x.ndim) == (step, group,
                                                               ndim)]
  return row


def _cosine(peak, k, warmup, total, end=0.0):
  """Warm-up then half cosine: the per-step form of the official
  schedules (SimCLR, BYOL, MoCo v3, Barlow Twins, VICReg, MAE, DINO)."""
  if k < warmup:
    return peak * k / warmup
  q = 0.5 * (1 + math.cos(math.pi * (k - warmup) / (total - warmup)))
  return peak * q + end * (1 - q)


def _assert_lars_groups(r, peak, wd, warmup, end=0.0, bias_peak=None):
  """Weights: lr, wd, trust ratio; ndim <= 1: no wd, no trust ratio."""
  last = r.total_steps - 1
  assert r.steps == (0, 1, last) and r.warmup_steps == warmup
  biases = 'main' if bias_peak is None else 'biases'
  for step in r.steps:
    w, b = _row(r, step), _row(r, step, biases, '<=1')
    assert w.lr == pytest.approx(_cosine(peak, step, warmup, r.total_steps,
                                         end * peak), rel=1e-5,
                                 abs=1e-6 * peak)
    b_peak = bias_peak or peak
    assert b.lr == pytest.approx(_cosine(
        b_peak, step, warmup, r.total_steps, end * b_peak), rel=1e-5,
                                 abs=1e-6 * b_peak)
    assert (w.weight_decay, w.trust_ratio) == (pytest.approx(wd), True)
    assert (b.weight_decay, b.trust_ratio) == (0.0, False)


def _views(r):
  return [(v.crop_size, v.crop_scale, v.blur_p, v.solarize_p)
          for v in r.views]


@pytest.mark.parametrize('preset, base, scaling, wd, head', [
    ('v1', 0.3, lambda b: b / 256, 1e-6, (2048,)),
    ('v2', 0.075, math.sqrt, 1e-4, (2048, 2048))])
def test_simclr_presets(preset, base, scaling, wd, head):
  # google-research/simclr: v1 README `--learning_rate=0.3 --weight_decay=
  # 1e-6` (linear scaling, 2-layer head); v2 README `--learning_rate=0.075
  # --learning_rate_scaling=sqrt --weight_decay=1e-4`, num_proj_layers=3.
  # LARS excludes batch_normalization and bias from decay and adaptation.
  config, r = _recipe(f'simclr_imagenet.py:{preset}')
  assert config.method.proj_hidden == head and config.method.temperature == 0.1
  peak = base * scaling(4096)
  assert peak == pytest.approx(4.8)  # The README: equal at B = 4096.
  assert r.total_steps == 100 * (IMAGES // 4096)
  _assert_lars_groups(r, peak, wd, warmup=10 * (IMAGES // 4096))
  assert _views(r) == [(224, (0.08, 1.0), 0.5, 0.0)] * 2
  # Other batch sizes tell them apart: v1 1.2, v2 2.4 at B = 1024.
  _, small = _recipe(f'simclr_imagenet.py:{preset}', batch_size=1024)
  assert small.peak_lr == pytest.approx(base * scaling(1024))
  with pytest.raises(config_lib.ConfigError, match='v1, v2'):
    config_lib.load_file(os.path.join(REPO, 'configs',
                                      'simclr_imagenet.py:v1,v2'))


def test_byol():
  # byol_experiment.py: lr 0.45 x 4096/256 warm-up 10 epochs then cosine;
  # tau = 1 - (1 - 0.99) (cos(pi k / K) + 1) / 2; LARS excludes bias / BN.
  _, r = _recipe('byol_imagenet.py')
  total = r.total_steps
  _assert_lars_groups(r, 0.45 * 16, 1e-6, warmup=10 * (IMAGES // 4096))
  for k in r.steps:
    assert r.ema_momentum[k] == pytest.approx(
        1 - 0.01 * (math.cos(math.pi * k / total) + 1) / 2, rel=1e-7)
  assert _views(r) == [(224, (0.08, 1.0), 1.0, 0.0),
                       (224, (0.08, 1.0), 0.1, 0.2)]


def test_moco_v3_resnet_and_vit():
  # main_moco.py / CONFIG.md. R50 100 epochs: LARS lr 0.6 x B/256, wd 1e-6,
  # m 0.99 (cosine), crops 0.2-1; ndim-1 arrays out of wd and adaptation.
  _, r = _recipe('moco_v3_imagenet.py')
  _assert_lars_groups(r, 0.6 * 16, 1e-6, warmup=10 * (IMAGES // 4096))
  assert r.ema_momentum[r.steps[-1]] == pytest.approx(1.0)
  assert _views(r)[0][:2] == (224, (0.2, 1.0))
  # ViT-B: AdamW lr 1.5e-4 x B/256, wd 0.1 on every parameter, 40 warm-up
  # epochs of 300, the patch embedding frozen (--stop-grad-conv1).
  _, r = _recipe('moco_v3_imagenet.py:backbone=vit')
  warmup = 40 * (IMAGES // 4096)
  assert r.total_steps == 300 * (IMAGES // 4096)
  for step in r.steps:
    for ndim in ('>1', '<=1'):
      row = _row(r, step, ndim=ndim)
      assert row.lr == pytest.approx(
          _cosine(1.5e-4 * 16, step, warmup, r.total_steps), abs=2.4e-9)
      assert (row.weight_decay, row.trust_ratio) == (0.1, False)
    assert r.frozen[step] == ['backbone/patch_embed/bias',
                              'backbone/patch_embed/kernel']
    assert _row(r, step, 'frozen').lr == 0.0
  assert _views(r)[0][:2] == (224, (0.08, 1.0))


def test_simsiam():
  # main_simsiam.py: SGD lr 0.05 x 512/256, wd 1e-4 on every parameter, no
  # warm-up, cosine set once per epoch by adjust_learning_rate (epoch e:
  # 0.1 (1 + cos(pi e / 100)) / 2); --fix-pred-lr: the predictor stays at
  # 0.1.
  _, r = _recipe('simsiam_imagenet.py')
  last = r.total_steps - 1
  assert r.total_steps == 100 * (IMAGES // 512) and r.warmup_steps == 0
  for step in r.steps:
    for ndim in ('>1', '<=1'):
      pred = _row(r, step, 'predictor', ndim)
      assert (pred.lr, pred.weight_decay) == (pytest.approx(0.1), 1e-4)
      enc = _row(r, step, ndim=ndim)
      assert enc.weight_decay == 1e-4 and not enc.trust_ratio
  assert _row(r, 0).lr == _row(r, 1).lr == pytest.approx(0.1)
  # The last epoch (99): 2.467e-5, where a per-step cosine would be ~1e-9.
  assert _row(r, last).lr == pytest.approx(
      0.1 * 0.5 * (1 + math.cos(math.pi * 99 / 100)), rel=1e-4)
  assert _views(r) == [(224, (0.2, 1.0), 0.5, 0.0)] * 2


def test_dino():
  # main_dino.py, boosted ViT-S/16 run: lr 0.0005 x 1024/256 warmed over 10
  # epochs (linspace(0, peak, W): step 1 is peak / (W - 1), ours peak / W),
  # cosine to 1e-6; wd cosine 0.04 -> 0.4 (not on biases / norms); teacher
  # 0.996 -> 1; teacher temperature 0.04 -> 0.07 over 30 epochs; the last
  # layer frozen in epoch 0. vision_transformer.py: a learned position
  # table at 224 / 16 = 14 patches a side (with a CLS row), interpolated
  # for the 96 px crops; the student's --drop_path_rate 0.1.
  config, r = _recipe('dino_imagenet.py')
  b = config.backbone
  assert (b.pos_embed, b.pos_grid, b.drop_path) == ('interpolated', 14, 0.1)
  per_epoch, last = IMAGES // 1024, r.total_steps - 1
  warmup = 10 * per_epoch
  assert _row(r, 1).lr == pytest.approx(0.002 / (warmup - 1), abs=2e-9)
  assert _row(r, last).lr == pytest.approx(_cosine(
      0.002, last, warmup, r.total_steps, end=1e-6), rel=1e-6)
  for step in r.steps:
    wd = 0.4 + 0.5 * (0.04 - 0.4) * (1 + math.cos(
        math.pi * step / r.total_steps))
    assert _row(r, step).weight_decay == pytest.approx(wd, rel=1e-6)
    assert _row(r, step, ndim='<=1').weight_decay == 0.0
    assert r.ema_momentum[step] == pytest.approx(
        1 + 0.5 * (0.996 - 1) * (1 + math.cos(math.pi * step /
                                              r.total_steps)), rel=1e-7)
  assert r.frozen[0] == r.frozen[1] == ['head/last_layer/kernel',
                                        'head/last_layer/scale']
  assert r.frozen[last] == []
  assert [r.teacher_temp[s] for s in r.steps] == pytest.approx(
      [0.04, 0.04, 0.07])
  assert _views(r) == ([(224, (0.4, 1.0), 1.0, 0.0),
                        (224, (0.4, 1.0), 0.1, 0.2)]
                       + [(96, (0.05, 0.4), 0.5, 0.0)] * 8)


def test_swav():
  # scripts/swav_800ep_pretrain.sh + main_swav.py: lr linspace(0.3, 4.8)
  # over 10 epochs (ours reaches 4.8 one update later), cosine to 0.0048;
  # LARC over SGD wraps every parameter, weight decay 1e-6 on all; the
  # prototypes' grad is None for the first 313 iterations; 2 x 224
  # (0.14-1) + 6 x 96 (0.05-0.14) crops, blur 0.5, no solarize.
  config, r = _recipe('swav_imagenet.py')
  per_epoch, last = IMAGES // 4096, r.total_steps - 1
  assert r.total_steps == 800 * per_epoch and r.warmup_steps == 10 * per_epoch
  assert _row(r, 0).lr == pytest.approx(0.3, abs=4.8e-6)
  assert _row(r, 1).lr == pytest.approx(0.3 + 4.5 / (10 * per_epoch),
                                        abs=4.8e-6)
  assert _row(r, last).lr == pytest.approx(_cosine(
      4.8, last, r.warmup_steps, r.total_steps, end=0.0048), rel=1e-5)
  for step in r.steps:
    for ndim in ('>1', '<=1'):
      row = _row(r, step, ndim=ndim)
      assert (row.weight_decay, row.trust_ratio) == (1e-6, True)
  assert r.frozen[0] == r.frozen[1] == ['head/prototypes/kernel']
  assert r.frozen[last] == []
  assert config.method.queue_length == 0
  assert _views(r) == ([(224, (0.14, 1.0), 0.5, 0.0)] * 2
                       + [(96, (0.05, 0.14), 0.5, 0.0)] * 6)
  # scripts/swav_200ep_bs256_pretrain.sh: lr 0.6 from the first update,
  # cosine to 0.0006, a queue of 3840 from epoch 15, 5005 frozen updates.
  config, r = _recipe('swav_imagenet.py:batch=256,epochs=200')
  assert r.total_steps == 200 * (IMAGES // 256) and r.warmup_steps == 0
  assert _row(r, 0).lr == _row(r, 1).lr == pytest.approx(0.6)
  assert _row(r, r.total_steps - 1).lr == pytest.approx(0.0006, rel=1e-3)
  m = config.method
  assert (m.queue_length, m.epoch_queue_starts,
          m.freeze_prototypes_niters) == (3840, 15, 5005)
  with pytest.raises(config_lib.ConfigError, match='200, 400'):
    config_lib.load_file(os.path.join(
        REPO, 'configs', 'swav_imagenet.py:batch=256,epochs=800'))


@pytest.mark.parametrize('name, bias_peak', [('barlow_twins', 0.0048 * 8),
                                             ('vicreg', None)])
def test_barlow_twins_and_vicreg(name, bias_peak):
  # barlowtwins main.py / vicreg main_vicreg.py adjust_learning_rate: base
  # B/256 = 8, warm-up 10 epochs, cosine to 0.001 x base; Barlow Twins'
  # biases and BN at 0.0048 x base (weights 0.2 x base), VICReg one lr.
  _, r = _recipe(f'{name}_imagenet.py')
  assert r.total_steps == 1000 * (IMAGES // 2048)
  _assert_lars_groups(r, 0.2 * 8, 1e-6, warmup=10 * (IMAGES // 2048),
                      end=0.001, bias_peak=bias_peak)
  assert not r.ema_momentum


def test_mae():
  # main_pretrain.py + lr_sched.py: lr 1.5e-4 x 4096/256 per iteration,
  # 40 warm-up epochs of 800, cosine to 0; AdamW wd 0.05 off biases/norms.
  _, r = _recipe('mae_imagenet.py')
  per_epoch = IMAGES // 4096
  assert r.total_steps == 800 * per_epoch
  for step in r.steps:
    assert _row(r, step).lr == pytest.approx(_cosine(
        1.5e-4 * 16, step, 40 * per_epoch, r.total_steps), abs=2.4e-9)
    assert _row(r, step).weight_decay == 0.05
    assert _row(r, step, ndim='<=1').weight_decay == 0.0
  assert _views(r) == [(224, (0.2, 1.0), 0.0, 0.0)]


def test_ijepa():
  # in1k_vith14_ep300.yaml + schedulers.py: warm-up from start_lr 2e-4 to
  # 1e-3 over 40 epochs (WarmupCosineSchedule steps before each update, so
  # its first update is one warm-up step further: a listed deviation); at
  # the last of K updates the cosine lr reaches final_lr 1e-6 and wd 0.4;
  # momentum 0.996 + 0.004 k/K.
  _, r = _recipe('ijepa_imagenet.py')
  last, warmup = r.total_steps - 1, 40 * (IMAGES // 2048)
  assert r.total_steps == 300 * (IMAGES // 2048) and r.warmup_steps == warmup
  assert _row(r, 0).lr == pytest.approx(2e-4, rel=1e-6)
  assert _row(r, 1).lr == pytest.approx(2e-4 + 8e-4 / warmup, rel=1e-6)
  assert _row(r, last).lr == pytest.approx(1e-6, rel=1e-6)
  assert _row(r, last).weight_decay == pytest.approx(0.4, rel=1e-6)
  assert _row(r, last, ndim='<=1').weight_decay == 0.0
  for step in r.steps:
    assert r.ema_momentum[step] == pytest.approx(
        0.996 + 0.004 * step / r.total_steps, rel=1e-7)
  assert _views(r) == [(224, (0.3, 1.0), 0.0, 0.0)]
  assert r.views[0].flip_p == 0.0


def test_data2vec():
  # base_images_only_task.yaml: lr 1e-3 (no batch scaling), 50,040 warm-up
  # updates of 375,300, cosine to 0; wd 0.05; teacher 0.9998 -> 0.99999
  # linear over 100,000 updates, then flat.
  _, r = _recipe('data2vec_imagenet.py')
  assert (r.total_steps, r.warmup_steps) == (375_300, 50_040)
  for step in r.steps:
    assert _row(r, step).lr == pytest.approx(
        _cosine(1e-3, step, 50_040, 375_300), abs=1e-9)
    assert _row(r, step).weight_decay == 0.05
  assert [r.ema_momentum[s] for s in r.steps] == pytest.approx(
      [0.9998, 0.9998 + 0.00019 / 100_000, 0.99999], rel=1e-7)


def test_dinov2():
  # dinov2 vitl16_short.yaml (+ ssl_default_config.yaml), 32 GPUs x 64:
  # lr 0.004 x sqrt(2048 / 1024) (sqrt_wrt_1024), CosineScheduler over 100
  # x 1,250 iterations (10 x 1,250 warm-up) to min_lr 1e-6; wd cosine
  # 0.04 -> 0.4; teacher 0.992 -> 1; tau_t linspace(0.04, 0.07, 30 x 1,250)
  # then 0.07; the last layers at lr 0 for 1,250 iterations;
  # param_groups.py: layer decay 0.9 over 24 blocks, patch embedding x 0.2.
  config, r = _recipe('dinov2_imagenet.py')
  peak, last = 0.004 * 2**0.5, r.total_steps - 1
  assert (r.total_steps, r.warmup_steps) == (125_000, 12_500)
  assert r.peak_lr == pytest.approx(peak, rel=1e-9)
  assert _row(r, 1).lr == pytest.approx(peak / 12_500, abs=1e-6 * peak)
  assert _row(r, last).lr == pytest.approx(_cosine(
      peak, last, 12_500, 125_000, end=1e-6), abs=1e-6 * peak)
  for step in r.steps:
    wd = 0.4 + 0.5 * (0.04 - 0.4) * (1 + math.cos(math.pi * step / 125_000))
    assert _row(r, step).weight_decay == pytest.approx(wd, rel=1e-6)
    assert r.ema_momentum[step] == pytest.approx(
        1 + 0.5 * (0.992 - 1) * (1 + math.cos(math.pi * step / 125_000)),
        rel=1e-7)
  assert [r.teacher_temp[s] for s in r.steps] == pytest.approx(
      [0.04, 0.04 + 0.03 / 37_499, 0.07])
  heads = ['dino_head/last_layer/kernel', 'dino_head/last_layer/scale',
           'ibot_head/last_layer/kernel', 'ibot_head/last_layer/scale']
  assert r.frozen[0] == r.frozen[1] == heads and not r.frozen[last]
  b = config.backbone
  assert (b.variant, b.patch_size, b.drop_path, b.drop_path_uniform) == (
      'large', 16, 0.3, True)
  from ssl_jax import optim  # pylint: disable=g-import-not-at-top
  leaf = jnp.zeros(())
  factors = optim.lr_multipliers(config, {
      'backbone': {'patch_embed': {'kernel': leaf}, 'cls': leaf,
                   'block0': {'w': leaf}, 'block23': {'w': leaf},
                   'norm': {'scale': leaf}},
      'ibot_head': {'mlp0': {'kernel': leaf}}})
  assert factors['backbone']['patch_embed']['kernel'] == pytest.approx(
      0.2 * 0.9**25)
  assert factors['backbone']['cls'] == pytest.approx(0.9**25)
  assert factors['backbone']['block0']['w'] == pytest.approx(0.9**24)
  assert factors['backbone']['block23']['w'] == pytest.approx(0.9)
  assert factors['backbone']['norm']['scale'] == 1.0
  assert factors['ibot_head']['mlp0']['kernel'] == 1.0
  assert _views(r) == ([(224, (0.32, 1.0), 1.0, 0.0), (224, (0.32, 1.0),
                                                       0.1, 0.2)]
                       + [(96, (0.05, 0.32), 0.5, 0.0)] * 8)


def test_lejepa():
  # rbalestr-lab/lejepa: lr 5e-4 with no batch scaling; MINIMAL.md's
  # LinearLR(start_factor=0.01, total_iters=W) over one epoch, so update k
  # of the warm-up runs at peak (0.01 + 0.99 k / W); cosine to peak / 1000
  # (README); AdamW weight decay 0.05 on every parameter (one group).
  _, r = _recipe('lejepa_imagenet.py')
  per_epoch, last = IMAGES // 512, r.total_steps - 1
  assert (r.total_steps, r.warmup_steps) == (100 * per_epoch, per_epoch)
  assert _row(r, 0).lr == pytest.approx(5e-6, rel=1e-5)
  assert _row(r, 1).lr == pytest.approx(5e-4 * (0.01 + 0.99 / per_epoch),
                                        rel=1e-5)
  assert _row(r, last).lr == pytest.approx(5e-7, rel=1e-3)
  for step in r.steps:
    for ndim in ('<=1', '>1'):
      assert _row(r, step, ndim=ndim).weight_decay == 0.05
  assert not r.ema_momentum and not r.frozen.get(0)
  assert _views(r) == ([(224, (0.3, 1.0), 0.5, 0.2)] * 2
                       + [(98, (0.05, 0.3), 0.5, 0.2)] * 6)


@pytest.mark.parametrize('name, interpolation', [
    # torchvision's RandomResizedCrop on PIL images (antialiased): its
    # default BILINEAR, or BICUBIC (interpolation=3); SimCLR's and BYOL's
    # tf.image.resize BICUBIC (no antialias). DINO's local crops too.
    ('barlow_twins', 'bicubic_antialias'), ('byol', 'bicubic'),
    ('data2vec', 'bicubic_antialias'), ('dino', 'bicubic_antialias'),
    ('dinov2', 'bicubic_antialias'),
    ('ijepa', 'bilinear_antialias'), ('lejepa', 'bilinear_antialias'),
    ('mae', 'bicubic_antialias'),
    ('moco_v3', 'bilinear_antialias'), ('simclr', 'bicubic'),
    ('simsiam', 'bilinear_antialias'), ('swav', 'bilinear_antialias'),
    ('vicreg', 'bicubic_antialias')])
def test_crop_resize_is_the_official(name, interpolation):
  config = config_lib.load_file(os.path.join(REPO, 'configs',
                                             f'{name}_imagenet.py'))
  specs = views.views_from_config(config.aug, num_views=2)
  assert {v.interpolation for v in specs} == {interpolation}


def test_format_is_one_screen():
  config, r = _recipe('barlow_twins_imagenet.py')
  text = check_recipe.format_recipe(config, r)
  assert len(text.splitlines()) <= 25
  assert '0.0048 base, 0.0384 peak' in text
  assert 'resize bicubic_antialias' in text
  assert '   624999  biases     <=1' in text


def _cli(*args):
  return subprocess.run(
      [sys.executable, '-m', 'ssl_jax.check_recipe', *args], cwd=REPO,
      env=conftest.subprocess_env(), capture_output=True, text=True,
      timeout=300)


def test_cli_prints_the_recipe_with_overrides():
  out = _cli('--config=configs/barlow_twins_imagenet.py',
             '--config.batch_size=1024')
  assert out.returncode == 0, out.stderr
  assert 'lr 0.2 x B/256 = 0.8 peak' in out.stdout
  assert f'{IMAGES // 1024} per epoch' in out.stdout


@pytest.mark.parametrize('args, words', [
    (['--config=configs/vicreg_imagenet.py', '--config.optim.lrr=1'],
     'config.optim has no key'),
    (['--config=configs/vicreg_imagenet.py', '--config.backbone.depth=51'],
     'config.backbone.depth=51'),
    (['--config=configs/vicreg_imagenet.py', '--config.data.name=x'],
     '--train_examples'),
])
def test_cli_bad_input_is_one_fatal_line(args, words):
  out = _cli(*args)
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 1 and len(lines) == 1, out.stderr
  assert lines[0].startswith('FATAL: ') and words in lines[0]
