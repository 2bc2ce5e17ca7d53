"""Pretraining CLI.

  python -m ssl_jax.main --config configs/simclr_fashion_mnist.py[:smoke] \
      --workdir DIR [--config.optim.lr=0.3 ...]

Only parses flags; the work is `ssl_jax.train.run(config, workdir)`.
Running the same command again on the same workdir resumes (a change of
settings that alters what the run computes is refused unless
`--config.allow_config_change=True`; config_history.py). Bad input ends
with one `FATAL:` line, exit code 1 (`--verbose`: the traceback too).
The console shows the run's own messages and one progress line
(progress.py); TensorFlow's, XLA's and absl's start-up banners and library
warnings go to WORKDIR/log.txt (console_log.py; `--verbose` shows them).
Multi-host:
`--distributed` (TPU pods, SLURM) or `--coordinator_address/--num_processes/
--process_id` (cli_flags.py; launch/ has scripts).
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ssl_jax import cli_flags
from ssl_jax import config_lib
from ssl_jax import console_log
from ssl_jax import errors

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with :preset.', lock_config=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  with console_log.quiet(cli_flags.WORKDIR.value,
                         enabled=not errors.verbose()), \
      config_lib.user_errors_exit():
    config = _CONFIG.value
    config_lib.prefer_overridden_durations(
        config, config_flags.get_override_values(flags.FLAGS['config']))
    cli_flags.initialize()
    from ssl_jax import train  # pylint: disable=g-import-not-at-top
    # Imported late: flags are parsed and checked within a second.
    train.run(config, cli_flags.WORKDIR.value)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=cli_flags.parse_flags)
