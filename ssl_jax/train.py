"""The trainer: `run(config, workdir)`, top to bottom in banner-separated phases.

validate -> data -> method/optimizer -> the workdir's past (configs it ran
with) -> state (restore or init) -> step -> input stream -> loop (log,
checkpoint) -> final checkpoint.

Everything that can be wrong with the config, the dataset or the workdir is
checked before the first compile and before anything is written. The
console says where the run starts, what changed since the workdir's last
run, and when it compiles.
"""

import contextlib
import dataclasses
import functools
import json
import os

import jax
import numpy as np
import tensorflow as tf
from absl import logging
from jax.experimental import multihost_utils

from ssl_jax import checkpoint
from ssl_jax import config_checks
from ssl_jax import config_history
from ssl_jax import config_lib
from ssl_jax import console_log
from ssl_jax import errors
from ssl_jax import guards
from ssl_jax import metrics as metrics_lib
from ssl_jax import model_init
from ssl_jax import optim
from ssl_jax import parallel
from ssl_jax import progress as progress_lib
from ssl_jax import step as step_lib
from ssl_jax.data import data_record
from ssl_jax.data import image_source
from ssl_jax.data import pipeline
from ssl_jax.data import source_config
from ssl_jax.data import sources


class RecompileError(RuntimeError):
  """The step was traced more than once: shapes or dtypes changed."""


@dataclasses.dataclass
class Plan:
  """Everything derived from the config and the dataset, before compiling."""
  method: object
  parallel: object
  tx: object
  schedule: object
  total_steps: int
  warmup_steps: int
  steps_per_epoch: int
  num_classes: int
  init_fn: object
  builder: object


def _hygiene():
  # Keep TF (the input pipeline) off accelerators; JAX owns them.
  tf.config.set_visible_devices([], 'GPU')
  jax.config.update('jax_threefry_partitionable', True)


def sample_batch(views, channels: int, size: int = 2) -> dict:
  """A tiny host batch with the pipeline's structure (for shapes only)."""
  batch = {f'view{i}': np.zeros((size, v.crop_size, v.crop_size, channels),
                                np.uint8) for i, v in enumerate(views)}
  batch['label'] = np.zeros((size,), np.int32)
  batch['seed_id'] = np.arange(size, dtype=np.int32)
  return batch


def _prepared_builder(data_config):
  """Process 0 prepares the dataset (if needed) while the others wait: two
  processes preparing into one data_dir would race."""
  if jax.process_count() == 1:
    return sources.get_builder(data_config)
  if jax.process_index() == 0:
    builder = sources.get_builder(data_config)
  multihost_utils.sync_global_devices('ssl_jax: dataset prepared')
  return builder if jax.process_index() == 0 else sources.get_builder(
      data_config)


def plan(config, *, devices=None, dataset: sources.SplitInfo | None = None
         ) -> Plan:
  """Validates the config and the dataset; builds method and optimizer.

  Args:
    config: the run's ConfigDict.
    devices: the devices the step will run on (default: jax's). aot.py
      passes the abstract devices of a TPU slice that is not attached.
    dataset: the train split's SplitInfo, to plan without reading the
      dataset (aot.py); by default the builder is prepared and asked.
  """
  devices = jax.devices() if devices is None else devices
  num_processes = len({d.process_index for d in devices})
  # ---------------------------------------------------------------- validate
  config_lib.validate(config, len(devices), num_processes)
  method_cls = config_checks.validate_method(config)  # The method's keys.

  # -------------------------------------------------------------------- data
  if dataset is None:
    source_config.check_eval_path(config)  # Read after training.
  if dataset is None and image_source.is_image_source(config.data):
    # A folder or packed set: listed (and refused if unusable) here.
    builder = image_source.open_source(config.data)
    info = builder.split_info(len(config.data.mean))
  elif dataset is None:
    sources.check_data_dir(config.data)  # A typo is not a new folder.
    builder = _prepared_builder(config.data)
    info = sources.split_info(builder, config.data.train_split)
    sources.split_info(builder, config.data.eval_split)
  else:
    builder, info = None, dataset
  per_epoch = pipeline.steps_per_epoch(info.num_examples, config.batch_size)
  total = config_lib.steps_for(config, 'total', per_epoch)
  warmup = config_lib.steps_for(config, 'warmup', per_epoch)
  channels = info.image_shape[-1]
  source_config.resolve_probe(config, info.num_classes)  # None: labels?
  if len(config.data.mean) != channels:
    raise config_lib.ConfigError(
        f'config.data.mean={tuple(config.data.mean)} has '
        f'{len(config.data.mean)} values; {info.name} images have '
        f'{channels} channels.')

  # ------------------------------------------------------- method, optimizer
  par = parallel.make(config, devices)
  method = method_cls(config, bn_axis_name=par.bn_axis_name,
                      total_steps=total, steps_per_epoch=per_epoch)
  tx, schedule = optim.make(config, total, warmup, per_epoch,
                            frozen_start=method.frozen_start())
  init_fn = functools.partial(
      step_lib.init_state, method, tx, info.num_classes,
      jax.random.PRNGKey(config.seed), sample_batch(method.views, channels),
      probe=config.probe.enabled)
  return Plan(method, par, tx, schedule, total, warmup, per_epoch,
              info.num_classes, init_fn, builder)


def step_factory(p: Plan, config, *, on_trace=None):
  """The run's step function, for `p.parallel` to jit or pmap (aot.py jits
  it for a TPU slice)."""
  return functools.partial(
      step_lib.make_train_step, p.method, p.tx, p.schedule, seed=config.seed,
      num_classes=p.num_classes, probe=config.probe.enabled,
      on_trace=on_trace, grad_accum_steps=config.grad_accum_steps)


def make_step(p: Plan, config, abstract, *, on_trace=None):
  """The run's step, jitted (or pmapped) for `p`'s devices: what run()
  trains with, host batch in."""
  return p.parallel.make_step(step_factory(p, config, on_trace=on_trace),
                              abstract)


def restore_or_init(p: Plan, config, workdir: str):
  """Returns (state, start step, Checkpointer, abstract state).

  Refuses a workdir whose checkpoint belongs to another config
  (CheckpointMismatch) or is corrupt (CorruptCheckpoint, unless
  config.checkpoint.on_corrupt='previous').
  """
  abstract = p.parallel.abstract_state(p.init_fn)
  ckpt = checkpoint.Checkpointer(workdir, config, config.method.name)
  state, start = ckpt.restore_latest(abstract)
  if state is None:
    # A fresh state; its backbone from config.model_init when set.
    return model_init.initial_state(p, config, abstract), 0, ckpt, abstract
  logging.info('Resumed from step %d in %s', start, workdir)
  return p.parallel.from_restored(state), start, ckpt, abstract


def train_stream(p: Plan, config, start_step: int):
  """Host batches for steps start_step..total_steps-1 of this process.
  Image files: unreadable ones are logged and counted (image_stream.py)."""
  batches = train_dataset(p, config, start_step).as_numpy_iterator()
  if image_source.is_image_source(config.data):
    return p.builder.bad_files(batches, config.data.max_bad_fraction)
  return batches


def train_dataset(p: Plan, config, start_step: int):
  """train_stream's tf.data.Dataset (benchmarks extend it)."""
  shard = pipeline.Shard(jax.process_index(), jax.process_count())
  data = config.data
  if image_source.is_image_source(data):
    ds = p.builder.train(
        p.method.views, channels=len(data.mean),
        global_batch=config.batch_size, seed=config.seed,
        start_step=start_step, total_steps=p.total_steps, shard=shard,
        prefetch=data.prefetch)
  elif data.in_memory:
    images, labels = sources.load_in_memory(p.builder, data.train_split)
    ds = pipeline.in_memory_train(
        images, labels, p.method.views, global_batch=config.batch_size,
        seed=config.seed, start_step=start_step, total_steps=p.total_steps,
        shard=shard, prefetch=data.prefetch)
  else:
    ds = pipeline.streamed_train(
        p.builder, data.train_split, p.method.views,
        global_batch=config.batch_size, seed=config.seed,
        start_step=start_step, shuffle_buffer=data.shuffle_buffer,
        shard=shard, prefetch=data.prefetch)
  return ds


def _say(message: str) -> None:
  if jax.process_index() == 0:
    print(message, flush=True)


def _announce(workdir, start, total, config_path, diffs, written, leftovers):
  """Where the run starts, and what it found in the workdir."""
  if leftovers:
    gone = not any(os.path.exists(os.path.join(workdir, d))
                   for d in leftovers)
    _say(f'Found an incomplete checkpoint folder (a save that was '
         f'interrupted): {", ".join(leftovers)}; '
         + ('removed.' if gone else 'ignored.'))
  if diffs:
    where = f' (recorded in {os.path.basename(written)})' if written else ''
    _say(f'Config changed since {os.path.basename(config_path)}: '
         f'{config_history.describe(diffs)}{where}.')
  if start >= total:
    _say(f'Nothing to do: {workdir} is trained to step {start} of {total} '
         f'(checkpoint {start}). Evaluate it: python -m ssl_jax.evaluate '
         f'--workdir {workdir}')
  elif start:
    _say(f'Resuming {workdir} from step {start} (its newest checkpoint) to '
         f'step {total}.')
  else:
    _say(f'Training {workdir} from step 0 (no checkpoint) to step {total}.')


def _interrupted(e: errors.Interrupted, workdir: str, step: int):
  """The message of a second signal: what it abandons."""
  saved = checkpoint.latest_step(workdir)
  if saved is None:
    kept = ('no checkpoint was written yet: the same command starts again '
            'from step 0')
  else:
    lost = (f'steps {saved + 1}-{step}' if step > saved + 1 else
            f'step {step}')
    kept = (f'{lost} will be redone; the newest complete checkpoint is step '
            f'{saved}: the same command resumes from it')
  return errors.Interrupted(
      f'Stopped at once by a second {e.signal_name} during step {step}, '
      f'without saving it: {kept}.', e.signal_name)


def run(config, workdir: str, *, stop_at_step: int | None = None):
  """Pretrains per `config` in `workdir`, resuming if it holds a checkpoint.

  Args:
    config: a ConfigDict (configs/*.py).
    workdir: checkpoints, metrics and config.json go here.
    stop_at_step: optionally stop (with a checkpoint) at this step, as if
      preempted there; the schedule still spans the config's total steps.

  Returns:
    The final TrainState as global arrays, one copy (whatever the mode).
    After SIGTERM/SIGINT, the state at the step where it stopped (saved).
  """
  _hygiene()
  checkpoint.check_workdir(workdir)
  p = plan(config)

  # --------------------------------------------------------- workdir's past
  # Refused here, before anything is written: changes that would alter what
  # a checkpointed run computes (config_history.py).
  saved = checkpoint.latest_step(workdir)
  config_path, diffs = config_history.check(config, workdir, saved)
  leftovers = checkpoint.incomplete_saves(workdir)
  files = image_source.is_image_source(config.data)
  if files:  # Other images than the checkpoint's run: refused here.
    data_record.check(workdir, p.builder, config.data, saved)

  # ------------------------------------------------------------------- state
  state, start, ckpt, abstract = restore_or_init(p, config, workdir)
  written = config_history.record(config, workdir, start, diffs)
  console_log.follow(workdir)  # The workdir exists: its log.txt from now.
  if files:
    data_record.record(workdir, p.builder, start)
    _say(f'Data: {p.builder.summary()}.')
  _announce(workdir, start, p.total_steps, config_path, diffs, written,
            leftovers)
  if start >= p.total_steps:
    return p.parallel.to_saveable(state)
  dropped = metrics_lib.drop_rows_after(workdir, start)
  if dropped:
    _say(f'Dropped {dropped} row(s) of train_metrics.jsonl after step '
         f'{start} (logged before the run stopped); they are logged again.')
  last_step = min(p.total_steps, stop_at_step or p.total_steps)

  # -------------------------------------------------------------------- step
  traces = []

  def refuse_a_second_trace():
    # Raised while tracing, so before XLA compiles the new program and
    # before the donated state is touched.
    traces.append(1)
    if len(traces) > 1:
      raise RecompileError(f'train_step traced {len(traces)} times: a '
                           'batch changed shape or dtype.')

  train_step = make_step(p, config, abstract,
                         on_trace=refuse_a_second_trace)

  # -------------------------------------------------------------------- loop
  writer = metrics_lib.create_writer(workdir)
  progress = progress_lib.Progress(p.total_steps, config.batch_size, start,
                                   every_seconds=config.progress_seconds)
  nonfinite = guards.NonFiniteGuard(config.nonfinite_skips,
                                    last_saved=start or None)
  stop = guards.StopRequest()
  stream = train_stream(p, config, start)
  batches = metrics_lib.DataWait(stream)
  step, pending, previous = start, None, None
  _say(f'Compiling the train step; step {start + 1} runs once it is '
       'compiled...')
  try:
    with stop.installed(), contextlib.closing(progress):
      for step in range(start + 1, last_step + 1):
        batch = batches.next()
        if batch is None:
          step -= 1
          break
        state, metrics = train_step(state, batch)
        if pending:  # Last step's flag: checked while this step runs.
          nonfinite.check(*pending)
        if previous and progress.due():  # Last step's metrics: ready too.
          progress.show(*previous)
        pending = previous = (step, metrics)
        if step == start + 1:
          jax.block_until_ready(metrics)
          progress.first_step_done(step)
          batches.fraction()  # Compile time is not input time.
          progress.say(f'Step {step} done in {progress.compile_seconds:.1f} '
                       's (compile included).')
          progress.show(step, metrics)
        log_now = step % config.log_every_steps == 0 or step == last_step
        if log_now:
          scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
          scalars['images_per_second'] = progress.images_per_second(step)
          scalars['data_wait_fraction'] = batches.fraction()
          if files:  # Unreadable images skipped so far (image_stream.py).
            scalars['skipped_images'] = stream.count
          writer.write_scalars(step, scalars)
          writer.flush()  # Readable while training runs (cheap at log steps).
        if step == last_step:
          progress.show(step, metrics)  # The last line, whatever the time.
        preempted = stop.agreed(step, sync_all=log_now)
        if (preempted or step % config.checkpoint.every_steps == 0
            or step == last_step):
          nonfinite.check(*pending)  # Never save after an unchecked step.
          pending = None
          ckpt.save(step, p.parallel.to_saveable(state), force=preempted)
          nonfinite.last_saved = step
        if preempted:
          ckpt.finish()
          progress.close()  # Every process says it stopped.
          print(f'Stopped by {stop.signal_name or "preemption"} at step '
                f'{step}: checkpoint saved. Run the same command to resume.',
                flush=True)
          return p.parallel.to_saveable(state)
  except errors.Interrupted as e:  # A second signal: no save.
    raise _interrupted(e, workdir, step) from None
  if step != last_step:
    raise RuntimeError(f'The input stream ended at step {step}, before '
                       f'{p.total_steps}.')

  # ------------------------------------------------------------- finish up
  ckpt.finish()
  writer.flush()
  summary = {'compile_seconds': progress.compile_seconds,
             'images_per_second': progress.images_per_second(step),
             'total_steps': p.total_steps, 'start_step': start}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'train_summary.json'), 'w') as f:
      json.dump(summary, f, indent=2)
  return p.parallel.to_saveable(state)


__all__ = ['run', 'plan', 'make_step', 'step_factory', 'RecompileError']
