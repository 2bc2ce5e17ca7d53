"""ssl_jax.aot: the real step compiled for a TPU slice on this CPU machine.

Needs the `tpu` extra (libtpu), which launch/test.sh installs; where libtpu
cannot be installed these tests skip, saying so (under CI they fail).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from ssl_jax import aot
from ssl_jax import config_lib
from ssl_jax import tpu_chips

import conftest

if importlib.util.find_spec('libtpu') is None:
  conftest.missing_extra('libtpu is not installed: ' + tpu_chips.INSTALL_HINT,
                         module_level=True)

SMOKE = os.path.join(conftest.REPO, 'configs', 'simclr_fashion_mnist.py')


def _config(**overrides):
  config = config_lib.load_file(f'{SMOKE}:smoke')
  config.update(overrides)
  return config


def _cli(out, *flags):
  """`python -m ssl_jax.aot` on the smoke config for v5p:2x2x1."""
  return subprocess.run(
      [sys.executable, '-m', 'ssl_jax.aot', f'--config={SMOKE}:smoke',
       '--topology=v5p:2x2x1', *flags, f'--out={out}'],
      env=conftest.subprocess_env(), capture_output=True, text=True,
      timeout=300, check=False)


def test_cli_compiles_the_train_step_and_writes_its_report(tmp_path):
  out = tmp_path / 'report.json'
  result = _cli(out, '--config.parallel.mesh_fsdp=2')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'estimate' in result.stdout and 'MFU' in result.stdout
  r = json.loads(out.read_text())
  chip = tpu_chips.CHIPS['v5p']
  assert (r['what'], r['chips'], r['devices'], r['hosts']) == (
      'train', 4, 4, 1)
  assert r['device_kind'] == 'TPU v5'
  assert r['mesh'] == {'data': 2, 'fsdp': 2}
  assert r['images_per_chip'] == 32 / 4
  m = r['memory_per_chip_bytes']
  assert m['arguments'] > 0 and m['temporaries'] > 0
  assert m['total'] == (m['arguments'] + m['outputs'] - m['aliased'] +
                        m['temporaries'] + m['code'])
  assert m['hbm'] == chip.hbm_bytes
  assert m['fraction_of_hbm'] == pytest.approx(m['total'] / chip.hbm_bytes)
  flops = r['flops_per_chip_step']
  assert flops > 0
  assert r['flops_per_image'] == pytest.approx(flops / 8)
  roofline = max(flops / chip.peak_flops,
                 r['bytes_accessed_per_chip_step'] / chip.hbm_bytes_per_second)
  assert r['roofline_step_seconds'] == pytest.approx(roofline)
  used = r['step_seconds_used']
  if r['xla_estimated_step_seconds'] is None:
    assert used == r['roofline_step_seconds']
    assert r['step_seconds_source'].startswith('roofline')
  else:
    assert used == r['xla_estimated_step_seconds'] > 0
  assert r['images_per_second_per_chip'] == pytest.approx(8 / used)
  assert r['mfu'] == pytest.approx(flops / used / chip.peak_flops)
  assert 'not a measurement' in r['note']
  # Parameters are sharded over fsdp: the largest argument is listed with
  # its per-device share.
  assert r['largest_arguments'][0]['bytes_per_device'] > 0
  assert r['largest_values'] and r['largest_values'][0]['bytes_per_chip'] > 0
  # Where XLA's estimate goes: shares of its per-instruction cycles, largest
  # first, the model's backward pass among them (tests/test_hlo_cycles.py).
  shares = [s['share'] for s in r['estimate_by_scope']['scopes']]
  assert shares == sorted(shares, reverse=True)
  assert 0 < sum(shares) <= 1 + 1e-9
  assert any(s['scope'].startswith('backward/')
             for s in r['estimate_by_scope']['scopes'])
  assert 'where the estimate goes' in result.stdout


def test_embed_program_compiles_for_evaluation_on_v4():
  # A v4 chip's two TensorCores must be one device (megacore), as on a real
  # slice: jax's mesh builder refuses a slice listed core by core.
  config = _config()
  config.eval.batch_size = 64
  r = aot.compile_for_tpu(config, 'v4:2x2x1', what='embed')
  assert r['what'] == 'embed' and r['device_kind'] == 'TPU v4'
  assert (r['chips'], r['devices']) == (4, 4)
  assert r['global_batch'] == 64 and r['flops_per_chip_step'] > 0
  assert r['memory_per_chip_bytes']['hbm'] == tpu_chips.CHIPS[
      'v4'].hbm_bytes


def test_oversized_batch_refused_before_compiling(monkeypatch):
  # ImageNet's smoke preset (planned from tfds's split sizes, no data here)
  # at 224 px: 2^18 images x 2 views of uint8 crops are 18 GiB per v5e chip.
  config = config_lib.load_file(
      os.path.join(conftest.REPO, 'configs', 'simclr_imagenet.py:smoke'))
  config.update(batch_size=2**18)
  config.aug.crop_size = 224
  lowered = []
  monkeypatch.setattr(aot, '_refuse_oversized_arguments',
                      _spy(aot._refuse_oversized_arguments, lowered))
  with pytest.raises(aot.DoesNotFit, match=r"batch\['view0'\]") as e:
    aot.compile_for_tpu(config, 'v5e:2x2')
  assert 'GiB of HBM' in str(e.value) and 'batch_size' in str(e.value)
  assert lowered == ['checked']  # Refused at the check, before lowering.


def _spy(fn, calls):
  def wrapped(*args):
    calls.append('checked')
    return fn(*args)
  return wrapped


@pytest.mark.parametrize('topology,overrides,message', [
    ('v5p:2x2x1', {'parallel': {'mesh_fsdp': 3}},
     'mesh_fsdp=3 is invalid: must divide the number of devices'),
    ('v5p:2x2x1', {'batch_size': 30},
     'must be divisible by the number of devices'),
    ('v9:2x2', {}, r"unknown TPU kind 'v9'; known kinds: \['v4', 'v5e'"),
    ('v5p-8', {}, 'is an accelerator type; give the chips as KIND:AxB'),
    ('v5p:1x1x1', {}, 'is not a v5p slice libtpu can build'),
    ('v5p:2x2x1', {'parallel': {'mode': 'pmap'}}, "aot compiles the 'jit'"),
])
def test_bad_slices_and_meshes_are_refused(topology, overrides, message):
  config = _config()
  for key, value in overrides.items():
    if isinstance(value, dict):
      config[key].update(value)
    else:
      config[key] = value
  with pytest.raises(config_lib.UserError, match=message):
    aot.compile_for_tpu(config, topology)


def test_cli_refusal_is_one_line_and_writes_nothing(tmp_path):
  out = tmp_path / 'report.json'
  result = _cli(out, '--config.parallel.mesh_data=3')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      'FATAL: ConfigError: config.parallel.mesh_data x mesh_fsdp = 3 x 1 '
      'must equal the number of devices (4)')
  assert 'Traceback' not in result.stderr
  assert not out.exists()


def test_attention_benchmark_replaces_and_restores_the_attention_core():
  """benchmarks/tpu_attention.py compiles the backbone with vit.attention
  replaced: without the attention core the program has fewer FLOPs (the
  q k^T and weights-times-v products are gone), and the project's own
  attention is put back afterwards."""
  sys.path.insert(0, os.path.join(conftest.REPO, 'benchmarks'))
  import tpu_attention  # pylint: disable=g-import-not-at-top
  from ssl_jax.models import vit  # pylint: disable=g-import-not-at-top
  own = vit.attention
  vit_smoke = os.path.join(conftest.REPO, 'configs',
                           'mae_fashion_mnist.py') + ':smoke'
  rows = {v: tpu_attention.run(vit_smoke, 'v5p:2x2x1', 2, v)
          for v in ('as_written', 'no_attention_core')}
  assert vit.attention is own
  full, cut = rows['as_written'], rows['no_attention_core']
  assert full['images_per_chip'] == 2 and full['topology'] == 'v5p:2x2x1'
  assert 0 < cut['flops_per_chip_step'] < full['flops_per_chip_step']
  assert 'not a measurement' in full['note']
  with pytest.raises(config_lib.ConfigError, match="backbone.name='resnet'"):
    tpu_attention.run(f'{SMOKE}:smoke', 'v5p:2x2x1', 2, 'as_written')
