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
  # process, stores in its own tmp paths); then the browser, server and Spark tests on two
  # workers: each module starts its own server and chromium, or a JVM, on a free port and
  # its own store, and every wait is for a state, never a fixed time, so two at once only
  # stretch each other's waits (SLOW_MS bounds them).
  # A test file stays on one worker (--dist loadfile): its module fixtures are built once.
  status=0
  .venv/bin/python -m pytest -n auto --dist loadfile -m "not e2e and not spark" --durations=15 || status=$?
  .venv/bin/python -m pytest -n 2 --dist loadfile -m "e2e or spark" --durations=25 || status=$?
  exit "$status"
fi
