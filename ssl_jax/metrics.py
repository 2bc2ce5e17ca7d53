"""Metric writers (TensorBoard + JSONL) and the input-wait measure.

Only process 0 writes files; other processes log nothing (clu's
`just_logging`). The console's progress line is progress.py.
"""

import json
import os
import time

import jax
from clu import metric_writers


class JsonlWriter(metric_writers.MetricWriter):
  """Appends one JSON object per write_scalars call to `path`."""

  def __init__(self, path: str):
    self._path = path
    self._file = open(path, 'a', encoding='utf-8')

  def write_scalars(self, step, scalars):
    row = {'step': int(step)}
    row.update({k: float(v) for k, v in scalars.items()})
    self._file.write(json.dumps(row) + '\n')

  def write_summaries(self, step, values, metadata=None):
    pass

  def write_images(self, step, images):
    pass

  def write_videos(self, step, videos):
    pass

  def write_audios(self, step, audios, *, sample_rate):
    pass

  def write_texts(self, step, texts):
    pass

  def write_histograms(self, step, arrays, num_buckets=None):
    pass

  def write_hparams(self, hparams):
    pass

  def flush(self):
    self._file.flush()

  def close(self):
    self._file.close()


def create_writer(workdir: str, name: str = 'train'):
  """TensorBoard events + `<workdir>/<name>_metrics.jsonl` on process 0."""
  if jax.process_index() > 0:
    return metric_writers.create_default_writer(None, just_logging=True)
  os.makedirs(workdir, exist_ok=True)
  return metric_writers.MultiWriter([
      metric_writers.SummaryWriter(os.path.join(workdir, 'tensorboard')),
      JsonlWriter(os.path.join(workdir, f'{name}_metrics.jsonl')),
  ])


def read_jsonl(path: str) -> list[dict]:
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


def drop_rows_after(workdir: str, step: int, name: str = 'train') -> int:
  """Removes the rows of steps after `step` from `<name>_metrics.jsonl`
  (a run that logged past its last checkpoint, then stopped); the resumed
  run writes them again, so each step keeps one row. Returns how many were
  dropped. The file is replaced atomically: a crash keeps the old one."""
  path = os.path.join(workdir, f'{name}_metrics.jsonl')
  if jax.process_index() > 0 or not os.path.isfile(path):
    return 0
  with open(path, encoding='utf-8') as f:
    lines = [line for line in f if line.strip()]
  # A line cut short by a kill is dropped too.
  kept = [line for line in lines if _row_step(line) is not None
          and _row_step(line) <= step]
  if len(kept) == len(lines):
    return 0
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.writelines(line if line.endswith('\n') else line + '\n'
                 for line in kept)
  os.replace(path + '.tmp', path)
  return len(lines) - len(kept)


def _row_step(line: str) -> int | None:
  try:
    return int(json.loads(line)['step'])
  except (ValueError, KeyError, TypeError):
    return None


class DataWait:
  """Fraction of wall time the training loop spent waiting for its next
  batch, per logging window (`data_wait_fraction`; ~0 when the input
  pipeline keeps ahead of the step, which runs asynchronously)."""

  def __init__(self, batches):
    self._batches = iter(batches)
    self._waited = 0.0
    self._window = time.perf_counter()

  def next(self):
    """The next batch, or None when the stream has ended."""
    t0 = time.perf_counter()
    batch = next(self._batches, None)
    self._waited += time.perf_counter() - t0
    return batch

  def fraction(self) -> float:
    """Since the last call; starts a new window."""
    now = time.perf_counter()
    fraction = self._waited / max(now - self._window, 1e-9)
    self._waited, self._window = 0.0, now
    return fraction

