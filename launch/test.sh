#!/usr/bin/env bash
# Set up (idempotent), then run the whole test suite on the CPU.
#   bash launch/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
exec .venv/bin/python -m pytest -q --durations=25 tests "$@"
