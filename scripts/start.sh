#!/usr/bin/env bash
# Set up (first time) and start the dashboard; the demo dataset loads on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run serve.py "$@"
