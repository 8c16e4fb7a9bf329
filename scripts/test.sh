#!/usr/bin/env bash
# The whole test suite on a fresh machine: install everything, lint, type-check, run pytest (slow tests included).
# Pass pytest arguments through, e.g. `bash scripts/test.sh -m "not slow"` for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local,server,postgres,train,dev
. .venv/bin/activate
ruff check src tests bench
mypy
python -m pytest "$@"
