#!/usr/bin/env bash
# Set up (idempotent, with the `tpu` extra: the suite compiles a TPU
# program; and `export`: torch and timm, which tests/test_export.py checks
# exported backbones against), then run the whole test suite on the CPU.
# Two worker processes (pytest-xdist), each taking the next test as it
# finishes one: most tests spend their time in XLA's single-threaded
# compiler, so two of them keep both cores busy (SSL_JAX_TEST_WORKERS=0 runs
# in one process).
#   bash launch/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
SSL_JAX_EXTRAS=dev,tpu,export bash launch/setup.sh
# Installed: a test needing them fails, not skips (tests/conftest.py).
export SSL_JAX_TEST_EXTRAS=tpu,export
exec .venv/bin/python -m pytest -q --durations=25 \
  -n "${SSL_JAX_TEST_WORKERS:-2}" --dist worksteal tests "$@"
