#!/usr/bin/env bash
# Create the project's virtual environments (idempotent). Needs only Python 3.11+.
#   .venv          the program, the offline runner, tests and validators
#   .venv-checkov  checkov, kept apart because it pins old versions of shared dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# requirements*.txt are hash-locked (scripts/lock.sh makes them from requirements*.in): pip installs exactly
# those files or nothing.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt

if [ "${AMS_SKIP_CHECKOV:-}" != "1" ]; then
  [ -x .venv-checkov/bin/python ] || "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-checkov.txt
fi
