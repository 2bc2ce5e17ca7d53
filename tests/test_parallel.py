"""jit over the mesh and pmap give the same training; sharding rules."""

import os

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from ssl_jax import config_lib
from ssl_jax import parallel
from ssl_jax import train

import method_harness as harness
from conftest import REPO


def test_eight_fake_devices():
  assert jax.device_count() == 8


def test_jit_and_pmap_train_to_the_same_params(smoke_config, tmp_path):
  smoke_config.total_steps = 3
  smoke_config.log_every_steps = 1
  jit_state = train.run(smoke_config, str(tmp_path / 'jit'))
  smoke_config.parallel.mode = 'pmap'
  pmap_state = train.run(smoke_config, str(tmp_path / 'pmap'))
  assert int(pmap_state.step) == 3
  # Same maths, different reduction order: the losses agree to float32
  # round-off (below), and two LARS updates at temperature 0.1 amplify that
  # round-off on the smallest BatchNorm parameters, by how much depends on
  # the CPU's kernels (measured: ~2e-4 on a Xeon, 6e-4 on an AMD EPYC); a
  # real difference (per-device BN statistics, other augmentations) is
  # orders of magnitude larger.
  for tree in ('params', 'mutables'):
    jax.tree_util.tree_map_with_path(
        lambda path, a, b: np.testing.assert_allclose(
            a, b, rtol=2e-3, atol=1.5e-3,
            err_msg=f'{tree}{jax.tree_util.keystr(path)}'),
        jax.tree.map(np.asarray, getattr(jit_state, tree)),
        jax.tree.map(np.asarray, getattr(pmap_state, tree)))
  # Training really moved the params (the comparison is not vacuous).
  from ssl_jax import metrics  # pylint: disable=g-import-not-at-top
  jit_rows = metrics.read_jsonl(str(tmp_path / 'jit' / 'train_metrics.jsonl'))
  pmap_rows = metrics.read_jsonl(str(tmp_path / 'pmap' /
                                     'train_metrics.jsonl'))
  for a, b in zip(jit_rows, pmap_rows):
    np.testing.assert_allclose(a['loss'], b['loss'], rtol=1e-5)
  assert jit_rows[-1]['update_norm'] > 0  # (Step 1 has lr 0: warm-up.)


@pytest.mark.parametrize('method', ['simclr', 'barlow_twins'])
def test_views_in_one_call_keep_each_devices_rows_on_it(method):
  """Both views go through the network in one call, image-major: the
  step compiled for the 8-device mesh moves no batch rows between devices
  (concatenating the sharded views along the batch, view-major, compiles
  to collective permutes and all-to-alls, for the images and for every
  activation split back into views; docs/tpu.md)."""
  config = config_lib.load_file(
      os.path.join(REPO, 'configs', f'{method}_fashion_mnist.py:smoke'))
  hlo = harness.compiled_step_hlo(config)
  for collective in ('collective-permute', 'all-to-all'):
    assert f' {collective}(' not in hlo and f' {collective}-start(' not in (
        hlo), f'{method}: the step has a {collective}'
  assert ' all-reduce(' in hlo or ' all-reduce-start(' in hlo  # Gradients.


def test_fsdp_rule_shards_the_largest_divisible_dimension():
  assert parallel.param_spec((512, 128), 2) == P('fsdp', None)
  assert parallel.param_spec((3, 3, 64, 256), 4) == P(None, None, None,
                                                      'fsdp')
  assert parallel.param_spec((130, 127), 2) == P('fsdp', None)
  assert parallel.param_spec((127, 131), 2) == P()  # Nothing divisible.
  assert parallel.param_spec((64,), 2) == P()  # Small: replicated.
  assert parallel.param_spec((512, 128), 1) == P()  # No FSDP axis.


def test_state_is_sharded_as_the_rule_says(smoke_config):
  smoke_config.parallel.mesh_data = 4
  smoke_config.parallel.mesh_fsdp = 2
  smoke_config.backbone.width = 0.5  # Big enough arrays to be sharded.
  p = train.plan(smoke_config)
  state = p.parallel.init_state(p.init_fn)
  kernel = state.params['model']['backbone']['_Block_7']['Conv_1']['kernel']
  # (3, 3, 256, 256): the first of the largest dimensions is sharded.
  assert kernel.sharding.spec == P(None, None, 'fsdp', None)
  assert len(kernel.addressable_shards) == 8
  assert kernel.addressable_shards[0].data.shape == (3, 3, 128, 256)
