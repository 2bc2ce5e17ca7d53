"""Every method's shipped configs run their smoke preset through the real
train step (synthetic batches, no dataset): the Fashion-MNIST ones must lower
the loss on a fixed batch; the CIFAR-10 ones must build and lower their step.

(test_config_smoke.py runs SimCLR's end to end on stand-in datasets; the
method files' own tests check jit == pmap.)
"""

import glob
import os

import jax
import numpy as np
import pytest

from ssl_jax import config_lib

import method_harness as harness
from conftest import REPO


def _configs(suffix):
  return sorted(glob.glob(os.path.join(REPO, 'configs', f'*_{suffix}.py')))


def _no_augmentation(config):
  """Deterministic views, so only learning moves the loss."""
  config.aug.update(flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=(0.0,),
                    solarize_p=(0.0,), local_blur_p=0.0)


@pytest.mark.parametrize('path', _configs('fashion_mnist'),
                         ids=os.path.basename)
def test_smoke_config_lowers_the_loss_on_a_fixed_batch(path):
  config = config_lib.load_file(f'{path}:smoke')
  _no_augmentation(config)
  config.probe.enabled = False  # The SSL loss alone.
  # One optimizer for all methods, so the check is about the objective and
  # its gradients, not each paper's lr (SimSiam's SGD 0.05 x B/256 barely
  # moves in a few steps).
  config.optim.update(name='adamw', lr=3e-3, lr_scaling='none',
                      weight_decay=0.0)
  _, history = harness.run_steps(config, steps=10, total_steps=10,
                                 fixed_batch=True)
  losses = [h['ssl_loss'] for h in history]
  assert np.all(np.isfinite(losses))
  assert np.mean(losses[-3:]) < losses[1], losses  # Step 0 has lr 0.


# CIFAR-10 presets of the methods other than SimCLR (whose CIFAR-10 and
# ImageNet configs run end to end in test_config_smoke.py). Their step is the
# same code as the Fashion-MNIST presets' above, on 3 channels with other
# hyperparameters: what can break is the config, so each is validated, built
# and its step lowered for the 8-device mesh (compiling a ResNet step each
# would cost ~12 s apiece). The ImageNet presets are built and validated in
# test_configs.py.
@pytest.mark.parametrize(
    'path', [p for p in _configs('cifar10')
             if not os.path.basename(p).startswith('simclr')],
    ids=os.path.basename)
def test_paper_config_smoke_preset_builds_and_its_step_lowers(path):
  config = config_lib.load_file(f'{path}:smoke')
  state, metrics = harness.lower_step(config, channels=3)
  assert metrics['loss'].shape == () and metrics['loss'].dtype == np.float32
  assert state.step.shape == ()
  # The stem sees RGB: its kernel has 3 input channels.
  kernels = [x.shape for x in jax.tree.leaves(state.params['model'])
             if len(x.shape) == 4]  # HWIO convolution kernels.
  assert sum(k[2] == 3 for k in kernels) == 1, kernels
