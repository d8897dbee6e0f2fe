#!/usr/bin/env bash
# Create .venv and install the pinned requirements; --dev adds test tools and Debian's chromium
# and nginx; --serve adds nginx (scripts/serve.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
stamp=".venv/.installed-$(sha256sum requirements*.txt | sha256sum | cut -c1-16)-$(basename $req)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  touch "$stamp"
fi
debs=()
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null 2>&1; then debs+=(chromium); fi
if { [ "${1:-}" = "--dev" ] || [ "${1:-}" = "--serve" ]; } && [ ! -x /usr/sbin/nginx ]; then
  debs+=(nginx)
fi
if [ ${#debs[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${debs[@]}" >/dev/null
fi
