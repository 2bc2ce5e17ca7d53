"""SimCLR's CIFAR-10 and ImageNet configs: smoke steps and evaluation, end
to end through tfds.

CIFAR-10 and ImageNet are not on this machine: they run on small random
stand-ins prepared under their real tfds names (fake_tfds.py), so the real
reading path (tfds records, JPEG decoding, streaming, variable image sizes)
is exercised. (Every method's configs take smoke steps in
test_method_configs.py.)
"""

import os
import re

import numpy as np
import pytest

from ssl_jax import config_lib
from ssl_jax import evaluate
from ssl_jax import train

import fake_tfds
from conftest import REPO


@pytest.fixture(scope='module')
def fake_data_dir(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('fake_tfds'))
  fake_tfds.prepare_fake('cifar10', data_dir, {'train': 48, 'test': 24})
  fake_tfds.prepare_fake('imagenet2012', data_dir,
                         {'train': 48, 'validation': 24})
  return data_dir


def _config(name, preset):
  config = config_lib.load_file(os.path.join(REPO, 'configs', name) + ':' +
                                preset)
  config.lock()
  return config


@pytest.mark.parametrize('name', ['simclr_cifar10.py', 'simclr_imagenet.py'])
def test_paper_configs_smoke_on_stand_in_data(name, fake_data_dir, tmp_path):
  config = _config(name, 'smoke')
  config.data.data_dir = fake_data_dir
  if config.backbone.depth == 50:
    # What this test is about is the reading path and the protocols; compiling
    # a ResNet-50 step costs ~2 min on 2 cores, a ResNet-18 one a third of
    # that. ResNet-50's blocks are checked against timm's in test_export.py.
    config.backbone.depth = 18
  config.checkpoint.every_steps = 1  # Steps 1-3 kept: an older one below.
  state = train.run(config, str(tmp_path))
  assert int(state.step) == config.total_steps
  results = evaluate.run(str(tmp_path), protocols=('knn', 'linear'))
  assert results['step'] == config.total_steps
  # An older checkpoint's features (benchmarks/accuracy_curve.py): its own.
  features = lambda **step: evaluate.extract_features(
      str(tmp_path), evaluate.load_config(str(tmp_path)), **step)
  newest, first = features(), features(step=1)
  assert (first.step, newest.step) == (1, config.total_steps)
  assert not np.allclose(first.test_x, newest.test_x)
  steps = list(range(1, config.total_steps + 1))
  with pytest.raises(FileNotFoundError,
                     match=re.escape(f'there are steps {steps}')):
    features(step=config.total_steps + 1)
  # Random stand-in data: only check the protocols ran on every example.
  assert 0.0 <= results['knn_top1'] <= 1.0
  assert np.isfinite(results['linear_top1'])

