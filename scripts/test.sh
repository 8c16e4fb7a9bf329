#!/usr/bin/env bash
# The whole test suite on a fresh machine: install everything, lint, type-check, run pytest (slow tests included).
# Pass pytest arguments through, e.g. `bash scripts/test.sh -m "not slow"` for a quick local run.
#
# It cannot hang: every test has a limit (pytest-timeout, plus a watchdog for tests stuck in native code), pytest
# as a whole has DELTAMEM_TEST_BUDGET seconds (default 1500), and scripts/run_pytest.py stops whatever the tests
# left running and removes their temp folder however the run ends. The slowest tests are listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '\n==> [%dm%02ds] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*"; }

step "install: .venv with deltamem[local,server,postgres,train,dev] (scripts/setup.sh)"
timeout 1800 bash scripts/setup.sh local,server,postgres,train,dev
. .venv/bin/activate
step "browser for the inspector tests: Debian's chromium + chromium-driver (scripts/setup_browser.sh)"
timeout 900 bash scripts/setup_browser.sh
step "ruff"
ruff check src tests bench scripts
# mypy (single-threaded, about 1.5 min without its cache) type-checks on the second core while pytest starts; its
# report is printed after pytest's, and either failing fails the run.
step "mypy, in the background (its report follows pytest's)"
mypy_log=$(mktemp)
mypy > "$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill "$mypy_pid" 2>/dev/null || true; rm -f "$mypy_log"' EXIT
step "pytest (the 15 slowest tests are listed at the end)"
set +e
python scripts/run_pytest.py --durations=15 --durations-min=1 "$@"
rc=$?
wait "$mypy_pid"
mypy_rc=$?
set -e
step "mypy report (exit status $mypy_rc)"
cat "$mypy_log"
step "done: pytest exit status $rc, mypy exit status $mypy_rc"
[ "$rc" -ne 0 ] && exit "$rc"
exit "$mypy_rc"
