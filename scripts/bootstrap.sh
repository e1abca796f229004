#!/usr/bin/env bash
# Create .venv and install ucrenew with its dev tools and the lab; re-run only when a pyproject.toml
# changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "ucrenew needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
# The ACME backend's tests run Debian's pebble (ACME test server); CI installs it as root.
if ! command -v pebble >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if ! apt-cache show pebble >/dev/null 2>&1; then
    apt-get update -qq
  fi
  # A stale package list can name a file the mirror no longer has: refresh once and retry.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null; }
fi
# The dashboard's browser tests drive Debian's chromium (headless, through playwright with the
# system browser: nothing is downloaded at test time); CI installs it as root.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.ucrenew-installed
want=$(cat pyproject.toml lab/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # The lab is its own distribution (lab/pyproject.toml): the `lab` extra names it, and the
  # second -e makes pip take it from this checkout.
  .venv/bin/python -m pip install --quiet -e ".[dev,lab]" -e ./lab
  echo "$want" > "$stamp"
fi
