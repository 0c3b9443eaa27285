#!/usr/bin/env bash
# Regenerate the hash-locked requirements from their ranges (requirements*.in), for Python 3.11:
#   scripts/lock.sh            then review the diff of requirements*.txt and commit it with the .in change
# pip-tools runs from a throwaway virtualenv, so it never mixes with the project's.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
"$PYTHON" -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check 'pip-tools>=7.4,<8'
for name in requirements requirements-checkov; do
  "$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --output-file="$name.txt" "$name.in"
done
