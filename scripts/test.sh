#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint, format-check and run the whole test suite.
# promtool comes from Debian's `prometheus` package: .ci/run installs it; elsewhere the tests that
# need it are skipped with that reason unless CI=true, where they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Python's default: bytecode cached in __pycache__ (ignored by git). Environments that switch it off (this project's
# CI machines set PYTHONDONTWRITEBYTECODE) make every pytest worker and every command a test runs compile this
# project's modules again (pip installs the packages with theirs).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# On every core (pytest-xdist: each worker renders the stacks it needs once; what is expensive and shared, such as the
# checkov run and the charts' helm renders, is made once for all workers: tests/conftest.py `start_checkov`, `chart_objects`),
# and the 15 slowest tests, so that the suite's time stays visible (issue 21: at most 90 s on a 2-core machine).
.venv/bin/python -m pytest -n auto --durations=15 "$@"
