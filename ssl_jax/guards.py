"""Guards of the training loop: preemption signals and non-finite steps.

Preemption: SIGTERM (cluster or TPU preemption notice) and SIGINT (Ctrl-C)
set a flag; the loop saves a checkpoint at the current step, finishes
writing and returns, so `python -m ssl_jax.main` exits 0 and the same
command resumes. A second SIGINT or SIGTERM stops at once (`Interrupted`; the
trainer says which steps that abandons). With several processes,
every process must stop at the same step (the save is collective): JAX's
preemption sync point is used where the coordination service provides it
(TPU pods), and the local flags are OR-ed across processes at log steps.

Non-finite steps: the train step never applies a non-finite update (it keeps
the old state and reports `nonfinite` = 1, step.py), so the state and every
checkpoint stay good. `NonFiniteGuard` checks each step's flag one step late
(after the next step is dispatched, so the device never waits for the host),
and raises `NonFiniteError` with the step and its metrics once more than
`config.nonfinite_skips` consecutive steps were non-finite (0: the first).
"""

import contextlib
import signal
import threading

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from ssl_jax import errors


class StopRequest:
  """Set by SIGTERM/SIGINT while installed; polled by the loop."""

  def __init__(self):
    self.signal_name = None

  @property
  def requested(self) -> bool:
    return self.signal_name is not None

  def _handler(self, signum, frame):
    del frame
    name = signal.Signals(signum).name
    if self.requested:  # A second signal: stop now, without the save.
      raise errors.Interrupted(f'second signal ({name})', name)
    self.signal_name = name
    logging.warning('%s received: saving a checkpoint at the end of this '
                    'step, then stopping.', self.signal_name)

  @contextlib.contextmanager
  def installed(self):
    """Handles SIGTERM/SIGINT inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
      yield self
      return
    previous = {s: signal.signal(s, self._handler)
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
      yield self
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)

  def agreed(self, step: int, sync_all: bool) -> bool:
    """Whether every process stops now. `sync_all`: also OR the local flags
    across processes (a collective: call it at the same steps everywhere)."""
    stop = self.requested
    if jax.process_count() == 1:
      return stop
    try:  # TPU pods: the coordination service relays preemption notices.
      stop = stop or multihost_utils.reached_preemption_sync_point(step)
    except Exception:  # pylint: disable=broad-except
      pass  # Not available without the preemption service.
    if sync_all:
      flags = multihost_utils.process_allgather(np.array(stop))
      stop = bool(np.any(flags))
    return stop


class NonFiniteError(FloatingPointError):
  """Too many consecutive steps had a non-finite loss or gradient."""


class NonFiniteGuard:
  """Counts consecutive non-finite steps from the step's `nonfinite` flag."""

  def __init__(self, max_skips: int, last_saved: int | None = None):
    self.max_skips = max_skips
    self.consecutive = 0
    self.last_saved = last_saved  # The trainer updates it at each save.

  def check(self, step: int, metrics) -> None:
    if not float(metrics['nonfinite']):
      self.consecutive = 0
      return
    self.consecutive += 1
    if self.consecutive > self.max_skips:
      scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
      if self.last_saved is None:
        kept = ('No checkpoint was written yet: a rerun starts from '
                'scratch.')
      else:
        kept = (f'The last checkpoint (step {self.last_saved}) is good: a '
                'rerun resumes from it.')
      raise NonFiniteError(
          f'Non-finite loss or gradient at step {step} '
          f'({self.consecutive} step(s) in a row; config.nonfinite_skips='
          f'{self.max_skips}). The update was not applied. {kept} '
          f'Metrics of that step: {scalars}')
    logging.warning('Step %d: non-finite loss or gradient; update skipped '
                    '(%d of %d allowed in a row).', step, self.consecutive,
                    self.max_skips)
