"""Runs many command lines of ssl_jax's CLIs in one process.

  python tests/cli_runner.py CASES.json RESULTS.json

CASES.json: a list of {"name", "cli": "main" | "evaluate" | "report" |
"export", "argv": [...]}. Each case goes through the CLI's own entry point
(absl's app.run with the CLI's flag parser, as `python -m ssl_jax.<cli>`
does), its stdout and stderr captured and SystemExit caught; an uncaught
exception is printed as Python would (a traceback, exit code 1).
RESULTS.json gets, per case: the exit code, stdout, stderr, seconds, and
whether TensorFlow and JAX had been imported by then (flags must be checked
before they are). One process for all cases: a process start costs ~6 s
here, the cases milliseconds to a second. Light cases go first.
"""

import contextlib
import io
import json
import sys
import time
import traceback

from absl import app
from absl import flags


def _dispatch(cli: str, argv: list[str]) -> None:
  from ssl_jax import cli_flags  # pylint: disable=g-import-not-at-top
  # The config flag reads its --config.x overrides from sys.argv.
  sys.argv = [f'ssl_jax.{cli}', *argv]
  if cli == 'main':
    from ssl_jax import main  # pylint: disable=g-import-not-at-top
    app.run(main.main, argv=sys.argv, flags_parser=cli_flags.parse_flags)
  elif cli == 'export':  # Defines its flags when run: once per process.
    from ssl_jax import export  # pylint: disable=g-import-not-at-top
    export._cli()  # pylint: disable=protected-access
  else:
    from ssl_jax import eval_cli  # pylint: disable=g-import-not-at-top
    eval_cli.run_cli(cli, sys.argv)


def run_case(case: dict) -> dict:
  out, err = io.StringIO(), io.StringIO()
  t0 = time.perf_counter()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    if flags.FLAGS.is_parsed():
      flags.FLAGS.unparse_flags()  # Each case starts from the defaults.
    for name in list(flags.FLAGS):  # The config flag defines one flag per
      if name.startswith('config.'):  # --config.x override it parses.
        delattr(flags.FLAGS, name)
    try:
      _dispatch(case['cli'], case['argv'])
      code = 0
    except SystemExit as e:
      if isinstance(e.code, str):  # sys.exit('FATAL: ...') prints it.
        print(e.code, file=sys.stderr)
        code = 1
      else:
        code = e.code or 0
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()
      code = 1
  return {'name': case['name'], 'code': code, 'stdout': out.getvalue(),
          'stderr': err.getvalue(), 'seconds': time.perf_counter() - t0,
          'tf_loaded': 'tensorflow' in sys.modules,
          'jax_loaded': 'jax' in sys.modules}


def main() -> None:
  cases_path, results_path = sys.argv[1:3]  # Each case sets sys.argv.
  with open(cases_path, encoding='utf-8') as f:
    cases = json.load(f)
  results = [run_case(case) for case in cases]
  with open(results_path, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=1)


if __name__ == '__main__':
  main()
