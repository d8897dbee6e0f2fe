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
  # Every test on every core (pytest-xdist: each worker its own process, stores in its own
  # tmp paths; a browser test's module starts its own server and chromium, a Spark test's
  # its JVM, on free ports, and every wait is for a state, never a fixed time, so two at
  # once only stretch each other's waits, SLOW_MS bounds them). A test file stays on one
  # worker (--dist loadfile): its module fixtures are built once. The files with browsers,
  # servers, Spark or slow tests go first (tests/conftest.py), so the run ends on short
  # tests; one run, not two, so no worker waits at a barrier between them. pytest-xdist would
  # hand out the files with the most tests first (--no-loadscope-reorder keeps ours): that put
  # one-test files such as the load run last, alone on one worker while the other idled.
  .venv/bin/python -m pytest -n auto --dist loadfile --no-loadscope-reorder --durations=30
fi
