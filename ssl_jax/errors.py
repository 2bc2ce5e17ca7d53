"""What the CLIs print when a run cannot go on: one line, no traceback.

Bad input (`UserError`: a config value, a dataset, a workdir), a failing
disk (`OSError`) and a diverged run (`FloatingPointError`) end the program
with their message alone, `FATAL: ...`, exit code 1; `--verbose` (cli_flags)
shows the traceback too. Programming errors always keep theirs. A second
SIGINT/SIGTERM (`Interrupted`) says what it abandoned. These lines reach
the console even while library output goes to the workdir's log
(console_log.py).
"""

import contextlib
import sys

from ssl_jax import console_log


class UserError(ValueError):
  """Bad input from the user (config, dataset, workdir): the CLIs print the
  message alone, without a traceback."""


class ConfigError(UserError):
  """A config value is wrong; the message names the key and what is allowed."""


class Interrupted(KeyboardInterrupt):
  """A second SIGINT/SIGTERM stopped the run at once (guards.py). A
  KeyboardInterrupt, so no `except Exception` on the way mistakes it for a
  failed save."""

  def __init__(self, message: str, signal_name: str = 'SIGINT'):
    super().__init__(message)
    self.signal_name = signal_name

  @property
  def exit_code(self) -> int:
    return 143 if self.signal_name == 'SIGTERM' else 130  # 128 + signal.


def verbose() -> bool:
  """--verbose was given (tracebacks wanted)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  return ('verbose' in flags.FLAGS and flags.FLAGS.is_parsed()
          and flags.FLAGS.verbose)


@contextlib.contextmanager
def user_errors_exit():
  """CLI helper: bad input, a failing disk or a diverged run end the
  program with their message alone (exit 1); programming errors keep their
  traceback."""
  try:
    yield
  except Interrupted as e:
    if verbose():
      raise
    print(f'STOPPED: {e}', file=console_log.console(), flush=True)
    sys.exit(e.exit_code)
  except (UserError, OSError, FloatingPointError) as e:
    if verbose():
      raise
    sys.exit(f'FATAL: {type(e).__name__}: {one_line(str(e))}')


def one_line(text: str) -> str:
  return ' '.join(text.split())
