#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint, format-check and run the whole test suite.
# promtool comes from Debian's `prometheus` package: .ci/run installs it; elsewhere the tests that
# need it are skipped with that reason unless CI=true, where they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# On every core (pytest-xdist; each worker renders the stacks it needs once, and the tests of one xdist_group, which
# share an expensive fixture such as the charts' helm renders, run on one worker), and the 15 slowest tests, so that
# the suite's time stays visible (issue 21: at most 90 s of pytest time on a 2-core machine).
.venv/bin/python -m pytest -n auto --dist loadgroup --durations=15 "$@"
