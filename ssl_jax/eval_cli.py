"""The command lines of `ssl_jax.evaluate` and `ssl_jax.report`: their flags,
checked before TensorFlow and JAX are imported.

`python -m ssl_jax.evaluate` and `python -m ssl_jax.report` call `run_cli`
first thing: flags are parsed and checked (an unknown or empty protocol, a
map other than t-SNE or PCA, a workdir that holds no run) within a fraction
of a second, with one `FATAL:` line, and only then is the module imported
and its `main` run, with library banners and warnings sent to
WORKDIR/log.txt (console_log.py; `--verbose` shows them). This module
imports absl only.
"""

import importlib
import os
import sys

from absl import app
from absl import flags

from ssl_jax import cli_flags
from ssl_jax import console_log
from ssl_jax import errors

PROTOCOLS = ('knn', 'linear', 'fewshot', 'finetune', 'diagnostics')
DEFAULT_PROTOCOLS = ('knn', 'linear')
MAP_METHODS = ('tsne', 'pca')  # plots.MAP_METHODS.
READOUTS = ('pooled', 'map')  # config_lib.EVAL_READOUTS.

PROTOCOLS_FLAG = flags.DEFINE_list(
    'protocols', list(DEFAULT_PROTOCOLS),
    f'Comma-separated, any of {",".join(PROTOCOLS)}.')
MAP = flags.DEFINE_enum('map', 'tsne', MAP_METHODS,
                        '2-D map of the eval features (report).')
MAP_EXAMPLES = flags.DEFINE_integer('map_examples', 2000,
                                    'Eval examples in the 2-D map (report).')
READOUT = flags.DEFINE_enum(
    'readout', None, READOUTS,
    "What the protocols read: 'pooled', the method's features, or 'map', "
    "the backbone's last feature map flattened (config.eval.readout); "
    "default: the run's config.")
QUERIES = flags.DEFINE_integer('queries', 8, 'Retrieval queries (report).')
TOP_K = flags.DEFINE_integer('top_k', 8, 'Neighbours per query (report).')


def check_protocols(names) -> tuple[str, ...]:
  """The protocols, in order, once each; UserError if none or unknown."""
  names = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
  if not names:
    raise errors.ConfigError(
        f'No protocol given (--protocols=): name one or more of '
        f'{",".join(PROTOCOLS)}; the default is '
        f'{",".join(DEFAULT_PROTOCOLS)}.')
  if unknown := [n for n in names if n not in PROTOCOLS]:
    raise errors.ConfigError(
        f'Unknown protocol(s) {",".join(unknown)} in --protocols; known: '
        f'{",".join(PROTOCOLS)}.')
  return names


def check_workdir(workdir: str) -> None:
  """A workdir to evaluate holds a training run's config."""
  if not os.path.isdir(workdir):
    raise errors.UserError(f'--workdir {workdir!r} does not exist.')
  if not os.path.isfile(os.path.join(workdir, 'config.json')):
    raise errors.UserError(
        f'{os.path.join(workdir, "config.json")} not found: is {workdir!r} '
        'a training workdir (python -m ssl_jax.main ...)?')


def _early_checks() -> None:
  check_protocols(PROTOCOLS_FLAG.value)
  for flag in (MAP_EXAMPLES, QUERIES, TOP_K):
    if flag.value < 1:
      raise errors.ConfigError(f'--{flag.name}={flag.value} must be >= 1.')
  check_workdir(cli_flags.WORKDIR.value)


def run_cli(module: str, argv=None) -> None:
  """Checks the flags, then runs `ssl_jax.<module>.main`. Exits."""
  argv = sys.argv if argv is None else argv
  flags.mark_flags_as_required(['workdir'])
  cli_flags.parse_flags(argv)
  with errors.user_errors_exit():
    _early_checks()
  with console_log.quiet(cli_flags.WORKDIR.value,
                         enabled=not errors.verbose()):
    main = importlib.import_module(f'ssl_jax.{module}').main
    app.run(main, argv=argv, flags_parser=cli_flags.parse_flags)
