#!/usr/bin/env bash
# The main job on a fresh machine: install deltamem with the local models, then run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local
. .venv/bin/activate
deltamem demo "$@"
