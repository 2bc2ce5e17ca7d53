"""The trainer end to end on the smoke config: resume, recompiles, refusals."""

import os

import jax
import numpy as np
import pytest

from ssl_jax import checkpoint
from ssl_jax import config_lib
from ssl_jax import train
from ssl_jax.data import sources


def _params(state):
  return jax.tree.map(np.asarray, state.params)


def _assert_trees_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_stop_and_resume_equals_straight_run(smoke_config, tmp_path):
  smoke_config.total_steps = 6
  straight = train.run(smoke_config, str(tmp_path / 'straight'))
  workdir = str(tmp_path / 'resumed')
  train.run(smoke_config, workdir, stop_at_step=3)
  assert checkpoint.latest_step(workdir) == 3
  resumed = train.run(smoke_config, workdir)
  assert int(resumed.step) == 6
  _assert_trees_equal(_params(straight), _params(resumed))
  _assert_trees_equal(jax.tree.map(np.asarray, straight.mutables),
                      jax.tree.map(np.asarray, resumed.mutables))
  # The metrics files of the resumed run continue where they stopped.
  from ssl_jax import metrics  # pylint: disable=g-import-not-at-top
  steps = [r['step'] for r in metrics.read_jsonl(
      os.path.join(workdir, 'train_metrics.jsonl'))]
  assert steps == [2, 3, 4, 6]


def test_training_moves_params_and_logs_every_metric(smoke_config, tmp_path,
                                                     capsys):
  smoke_config.progress_seconds = 0  # A console line per step (piped).
  train.run(smoke_config, str(tmp_path))
  # The console's cadence is its own, not log_every_steps' (2): the
  # compiling step 1 and the steps between log steps get their line, so a
  # newcomer sees the run move as soon as it has compiled (issue 19).
  shown = [line.split()[1] for line in capsys.readouterr().out.splitlines()
           if line.startswith('step ')]
  assert shown == [f'{s}/6' for s in range(1, 7)]
  from ssl_jax import metrics  # pylint: disable=g-import-not-at-top
  rows = metrics.read_jsonl(str(tmp_path / 'train_metrics.jsonl'))
  for key in ('loss', 'nt_xent', 'lr', 'grad_norm', 'param_norm',
              'update_norm', 'embedding_std', 'probe_top1', 'probe_loss'):
    assert key in rows[-1], key
  assert rows[-1]['update_norm'] > 0
  assert os.listdir(tmp_path / 'tensorboard')


def test_a_changed_batch_shape_is_a_recompile_error(smoke_config, tmp_path,
                                                    monkeypatch):
  original = train.train_stream

  def shrinking_stream(p, config, start):
    for i, batch in enumerate(original(p, config, start)):
      if i == 2:  # Drop 8 rows: a new shape, a new trace.
        batch = {k: v[:-8] for k, v in batch.items()}
      yield batch

  monkeypatch.setattr(train, 'train_stream', shrinking_stream)
  with pytest.raises(train.RecompileError, match='traced 2 times'):
    train.run(smoke_config, str(tmp_path))


@pytest.mark.parametrize('key,value,message', [
    ('optim.lr', -0.1, 'optim.lr'),
    ('aug.crop_scale', (0.0, 1.0), 'crop_scale'),
    ('aug.crop_scale', (0.5, 1.5), 'crop_scale'),
    ('batch_size', 30, 'divisible by the number of devices'),
    ('aug.flip_p', 1.5, 'probabilities'),
    ('parallel.mode', 'spmd', 'allowed values'),
    ('parallel.mesh_fsdp', 3, 'mesh_fsdp'),
    ('progress_seconds', -1.0, 'progress_seconds'),
])
def test_bad_values_fail_before_any_write(smoke_config, tmp_path, key, value,
                                          message):
  node = smoke_config
  *parents, leaf = key.split('.')
  for part in parents:
    node = node[part]
  node[leaf] = value
  workdir = tmp_path / 'w'
  with pytest.raises(config_lib.ConfigError, match=message):
    train.run(smoke_config, str(workdir))
  assert not workdir.exists()


def test_both_durations_set_is_an_error(smoke_config, tmp_path):
  smoke_config.total_epochs = 1.0
  with pytest.raises(config_lib.ConfigError, match='Exactly one'):
    train.run(smoke_config, str(tmp_path / 'w'))


def test_missing_dataset_says_how_to_install(smoke_config, tmp_path):
  smoke_config.data.data_dir = str(tmp_path / 'empty_tfds')
  smoke_config.data.create_data_dir = True  # Else refused as a typo.
  smoke_config.data.manual_dir = str(tmp_path / 'no_idx_files')
  with pytest.raises(sources.DatasetError, match='dataset-fashion-mnist'):
    train.run(smoke_config, str(tmp_path / 'w'))
  assert not (tmp_path / 'w').exists()


def test_workdir_that_is_a_file_or_unwritable(smoke_config, tmp_path):
  a_file = tmp_path / 'file'
  a_file.write_text('x')
  with pytest.raises(NotADirectoryError):
    train.run(smoke_config, str(a_file))
  with pytest.raises(PermissionError, match='cannot be created'):
    train.run(smoke_config, '/proc/ssl_jax_workdir')


def _snapshot(root):
  return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, files in os.walk(root) for f in files}


def test_incompatible_checkpoint_is_refused_untouched(smoke_config, tmp_path):
  smoke_config.total_steps = 3
  train.run(smoke_config, str(tmp_path))
  before = _snapshot(tmp_path)
  wider = smoke_config.copy_and_resolve_references()
  wider.backbone.width = 0.125
  wider.total_steps = 6
  with pytest.raises(config_lib.ConfigError, match='backbone.width'):
    train.run(wider, str(tmp_path))  # config_history: another experiment.
  # Allowed to change settings, the checkpoint's shapes still refuse it.
  wider.allow_config_change = True
  with pytest.raises(checkpoint.CheckpointMismatch, match='does not fit'):
    train.run(wider, str(tmp_path))
  other_batch = smoke_config.copy_and_resolve_references()
  other_batch.batch_size = 64
  other_batch.allow_config_change = True
  with pytest.raises(checkpoint.CheckpointMismatch, match='batch_size'):
    train.run(other_batch, str(tmp_path))
  assert _snapshot(tmp_path) == before
