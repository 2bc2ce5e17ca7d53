"""Every config file loads, validates and builds its method (default and
smoke presets); the real configs train as smoke steps elsewhere."""

import glob
import os

import jax
import pytest

from ssl_jax import config_lib
from ssl_jax import methods

from conftest import REPO

CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', '*.py')))


def test_there_are_configs():
  names = {os.path.basename(p) for p in CONFIGS}
  assert {'simclr_fashion_mnist.py', 'simclr_cifar10.py',
          'simclr_imagenet.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=os.path.basename)
@pytest.mark.parametrize('preset', [None, 'smoke'])
def test_config_loads_validates_and_builds(path, preset):
  config = config_lib.load_file(path + (f':{preset}' if preset else ''))
  config.lock()
  config_lib.validate(config, num_devices=1)
  config.batch_size = 8 * (config.batch_size // 8 or 1)
  config_lib.validate(config, num_devices=jax.device_count())
  method = methods.get(config.method.name)(config)
  assert len(method.views) == method.num_views + config.aug.local_crops
  total = [k for k in ('total_steps', 'total_epochs') if config.get(k)]
  assert len(total) == 1
