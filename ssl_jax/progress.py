"""The console's progress line: step/total, loss, probe, images/s, ETA.

The loss shown is the method's own (`ssl_loss`), not the trainer's `loss`,
which adds the online probe's cross-entropy: the probe's loss swings while
the features move under it, and a reader would take its swings for the
method's (an MAE run's `loss` rose 3.7 -> 11.9 -> 2.8 in warm-up while its
own loss fell 1.38 -> 0.78). Without a method loss, `loss` is shown.

On a terminal one line is rewritten in place about once a second; when
stdout is a file or a pipe (logs, CI, `tee`) a plain line is printed every
`config.progress_seconds` (0: every step). Either way the first line comes
as soon as the compiling first step has finished, and the last step always
gets its line. The metric files keep their own cadence
(`config.log_every_steps`, metrics.py). Throughput and ETA exclude the
compile: the clock starts when the first step has finished. Only process 0
prints.
"""

import math
import sys
import time

import jax

TTY_SECONDS = 1.0  # A terminal's line: often enough to look alive.


def duration(seconds: float) -> str:
  """'1:02:03', '2:03' or '?' (not yet known)."""
  if not math.isfinite(seconds) or seconds < 0:
    return '?'
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return (f'{hours}:{minutes:02d}:{secs:02d}' if hours else
          f'{minutes}:{secs:02d}')


class Progress:
  """Owns the console while training runs (see the module doc)."""

  def __init__(self, total_steps: int, global_batch: int, start_step: int,
               *, every_seconds: float = 10.0, stream=None, tty=None,
               clock=time.perf_counter, devices: int | None = None):
    self.total_steps = total_steps
    self.global_batch = global_batch
    self.compile_seconds = None
    self._stream = stream or sys.stdout
    self._tty = self._stream.isatty() if tty is None else tty
    self._every = TTY_SECONDS if self._tty else every_seconds
    self._clock = clock
    self._start = clock()
    self._t0 = None
    self._step0 = start_step
    self._shown = None  # When the last line was shown,
    self._shown_step = None  # and of which step.
    self._open = False  # A terminal line waits to be rewritten.
    self._devices = devices or jax.device_count()
    self._quiet = jax.process_index() > 0

  def first_step_done(self, step: int) -> None:
    """Call once the first (compiling) step has finished."""
    self.compile_seconds = self._clock() - self._start
    self._t0 = self._clock()
    self._step0 = step

  def images_per_second(self, step: int) -> float:
    if self._t0 is None or step <= self._step0:
      return float('nan')
    return ((step - self._step0) * self.global_batch /
            max(self._clock() - self._t0, 1e-9))

  def line(self, step: int, scalars: dict) -> str:
    rate = scalars.get('images_per_second', self.images_per_second(step))
    eta = (self.total_steps - step) * self.global_batch / rate
    if not math.isfinite(rate):
      rate_text = '- img/s'
    elif self._devices > 1:
      rate_text = f'{rate:.0f} img/s ({rate / self._devices:.0f}/device)'
    else:
      rate_text = f'{rate:.0f} img/s'
    loss = scalars.get('ssl_loss', scalars.get('loss'))
    probe = scalars.get('probe_top1')
    probe_text = f'  probe {probe:.3f}' if probe is not None else ''
    return (f'step {step}/{self.total_steps}  loss {loss:.4f}'
            f'{probe_text}  {rate_text}  ETA {duration(eta)}')

  def due(self) -> bool:
    """Time for a new line (the caller then fetches the metrics)."""
    return self._shown is None or (
        self._clock() - self._shown >= self._every)

  def show(self, step: int, scalars: dict) -> None:
    """Shows `scalars` (floats, or device arrays: fetched here) of `step`,
    unless that step's line is already shown."""
    if self._shown_step == step:
      return
    self._shown, self._shown_step = self._clock(), step
    if self._quiet:
      return
    scalars = {k: float(v) for k, v in jax.device_get(scalars).items()}
    text = self.line(step, scalars)
    if self._tty:  # Back to the line's start, rewrite it, clear the rest.
      self._stream.write(f'\r{text}\x1b[K')
      self._open = True
    else:
      self._stream.write(text + '\n')
    self._stream.flush()

  def say(self, message: str) -> None:
    """A message on a line of its own (ends the terminal line first)."""
    if self._quiet:
      return
    self.close()
    print(message, file=self._stream, flush=True)

  def close(self) -> None:
    """Ends the terminal line, so that what follows starts on a new one."""
    if self._open:
      self._stream.write('\n')
      self._stream.flush()
      self._open = False
