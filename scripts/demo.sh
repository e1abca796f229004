#!/usr/bin/env bash
# Set up (if needed) and run the demo: a full renewal of the lab cluster, end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/ucrenew demo "$@"
