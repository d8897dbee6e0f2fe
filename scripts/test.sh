#!/usr/bin/env bash
# Lint, type-check and run every test (unit, AppTest, real browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
if [ "$#" -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
else
  # Unit, AppTest and subprocess tests on every core (pytest-xdist: each worker its own
  # process, stores in its own tmp paths); then the browser, server and Spark tests one at
  # a time: each module starts its own server and chromium, or a JVM, and several of them
  # wait on a page under load, which a second worker's tests would double.
  # A test file stays on one worker (--dist loadfile): its module fixtures are built once.
  status=0
  .venv/bin/python -m pytest -n auto --dist loadfile -m "not e2e and not spark" || status=$?
  .venv/bin/python -m pytest -m "e2e or spark" || status=$?
  exit "$status"
fi
