#!/usr/bin/env bash
# Set up and run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# Lint first (pyproject.toml's [tool.ruff]): a style error fails in a second, not after the suite.
.venv/bin/ruff check .
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
# One worker per core, each file on one worker (module fixtures are built once): while
# one worker compiles (single-threaded), the other runs.
exec .venv/bin/python -m pytest -q -n auto --dist loadfile --durations=20 "$@"
