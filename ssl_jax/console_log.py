"""Keeps library noise off the console: it goes to WORKDIR/log.txt instead.

TensorFlow's and XLA's C++ start-up banners are written straight to file
descriptor 2, before any Python handler could filter them; absl log lines
and Python's (deprecation) warnings go to `sys.stderr`, which writes to
the same descriptor. So while a CLI runs, `quiet(workdir)` points
descriptor 2 at the log file, and the console keeps what the program means
to say: its own prints on stdout, ssl_jax's own warnings (copied to the
console too, `_OwnWarnings`), and what ends the program (a `FATAL:` or
`STOPPED:` line, an unexpected traceback), which reaches the console after
the descriptor is restored and is also written to the log.

Bad input writes nothing (a new run's workdir does not even exist until
its checks have passed), so the log starts as a temporary file;
`follow(workdir)` (train.run and the evaluation, once the checks have
passed) and a successful exit of `quiet` append it to the workdir's log and
go on there; a command refused before that leaves no log (what it had to
say was its `FATAL:` line). `--verbose` keeps everything on the console, as
before.
"""

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback

LOG = 'log.txt'

_active = None  # The _Redirect of the quiet() in force.


def _writes_to_fd2(stream) -> bool:
  try:
    return stream.fileno() == 2
  except (AttributeError, OSError, ValueError):  # io.StringIO and the like.
    return False


class _Redirect:
  """Descriptor 2 and sys.stderr -> a log file; the console kept aside."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._temporary = True
    self._stderr = sys.stderr
    self._stderr.flush()
    self._console_fd = os.dup(2)
    # Where the user reads: the console's descriptor, or (a caller that
    # captures sys.stderr, as tests do) the stream it replaced it with.
    self.console = (os.fdopen(os.dup(self._console_fd), 'w', buffering=1,
                              encoding='utf-8', errors='replace')
                    if _writes_to_fd2(self._stderr) else self._stderr)
    fd, self.path = tempfile.mkstemp(prefix='ssl_jax_log_', suffix='.txt')
    self._point_fd2_at(fd)  # self.path: the file descriptor 2 writes to.
    # Python's writers (warnings, absl) write to whatever fd 2 is now.
    sys.stderr = open(2, 'w', buffering=1, encoding='utf-8',
                      errors='backslashreplace', closefd=False)
    # Runs append to one log: each starts with when and what.
    self.log(f'--- {time.strftime("%Y-%m-%d %H:%M:%S")} '
             f'{" ".join(sys.argv)}\n')

  def _point_fd2_at(self, fd: int) -> None:
    sys.stderr.flush()
    os.dup2(fd, 2)
    os.close(fd)

  def move_to_workdir(self) -> None:
    """Appends the temporary log to WORKDIR/log.txt and goes on there."""
    if not self._temporary or not os.path.isdir(self.workdir):
      return
    path = os.path.join(self.workdir, LOG)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stderr.flush()
    with open(self.path, 'rb') as early, os.fdopen(os.dup(fd), 'wb') as out:
      shutil.copyfileobj(early, out)
    os.remove(self.path)
    self._point_fd2_at(fd)
    self.path, self._temporary = path, False

  def log(self, text: str) -> None:
    sys.stderr.flush()
    os.write(2, text.encode('utf-8', 'replace'))

  def restore(self, succeeded: bool) -> None:
    sys.stderr.flush()
    if succeeded:
      self.move_to_workdir()
    sys.stderr.close()  # closefd=False: fd 2 stays open.
    sys.stderr = self._stderr
    os.dup2(self._console_fd, 2)
    os.close(self._console_fd)
    if self.console is not self._stderr:
      self.console.close()
    if self._temporary:  # Refused before its checks passed: nothing kept.
      os.remove(self.path)


class _OwnWarnings(logging.Handler):
  """ssl_jax's own warnings and errors (skipped steps, unreadable images)
  are meant for the user: copied to the console."""

  def __init__(self, console):
    super().__init__(logging.WARNING)
    self._console = console

  def emit(self, record):
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.abspath(record.pathname).startswith(here + os.sep):
      print(f'{record.levelname}: {record.getMessage()}', file=self._console,
            flush=True)


def console():
  """Where messages for the user go: the console while `quiet` is in force,
  otherwise sys.stderr."""
  return _active.console if _active is not None else sys.stderr


def follow(workdir: str) -> None:
  """The run's checks have passed and `workdir` exists: the log moves
  into it (a no-op unless `quiet` is in force for that workdir)."""
  if _active is not None and os.path.abspath(workdir) == os.path.abspath(
      _active.workdir):
    _active.move_to_workdir()


@contextlib.contextmanager
def quiet(workdir: str, *, enabled: bool = True):
  """Library output to WORKDIR/log.txt while the block runs (see above)."""
  global _active
  if not enabled or _active is not None:
    yield
    return
  _active = redirect = _Redirect(workdir)
  handler = _OwnWarnings(redirect.console)
  logging.getLogger().addHandler(handler)
  succeeded = False
  try:
    yield
    succeeded = True
  except SystemExit as e:
    succeeded = not e.code  # app.run ends with sys.exit(0).
    if isinstance(e.code, str):  # FATAL: ... (errors.user_errors_exit).
      redirect.log(e.code + '\n')
    raise
  except BaseException:
    redirect.log(traceback.format_exc())
    raise
  finally:
    logging.getLogger().removeHandler(handler)
    _active = None
    redirect.restore(succeeded)
