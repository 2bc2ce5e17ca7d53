"""Pretraining CLI.

  python -m ssl_jax.main --config configs/simclr_fashion_mnist.py[:smoke] \
      --workdir DIR [--config.optim.lr=0.3 ...]

Only parses flags; the work is `ssl_jax.train.run(config, workdir)`.
Running the same command again on the same workdir resumes. Multi-host:
`--distributed` (TPU pods, SLURM) or `--coordinator_address/--num_processes/
--process_id` (cli_flags.py; launch/ has scripts).
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ssl_jax import cli_flags
from ssl_jax import config_lib

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with :preset.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Folder for checkpoints, metrics and evals.')
flags.mark_flags_as_required(['config', 'workdir'])


def parse_flags(argv):
  """absl parsing, with a misspelt `--config.x` answered by the valid keys."""
  try:
    return flags.FLAGS(argv)
  except Exception as error:  # pylint: disable=broad-except
    spec = next((a.split('=', 1)[1] for a in argv
                 if a.startswith('--config=')), None)
    if spec is None and '--config' in argv[:-1]:
      spec = argv[argv.index('--config') + 1]
    if spec:
      try:
        config = config_lib.load_file(spec)
      except Exception:  # pylint: disable=broad-except
        raise error from None
      for arg in argv:
        if arg.startswith('--config.'):
          key = arg[len('--config.'):].split('=', 1)[0]
          if message := config_lib.unknown_key_message(config, key):
            sys.exit(f'FATAL: {message}')
    if isinstance(error, flags.Error):
      sys.exit(f'FATAL: {error}')
    raise


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  config = _CONFIG.value
  config_lib.prefer_overridden_durations(
      config, config_flags.get_override_values(flags.FLAGS['config']))
  cli_flags.initialize()
  from ssl_jax import train  # Import late: flags are parsed, errors are clear.
  with config_lib.user_errors_exit():
    train.run(config, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
