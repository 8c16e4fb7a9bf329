"""Run pytest so that a run can neither hang nor leave anything behind; used by ``scripts/test.sh``.

    python scripts/run_pytest.py [pytest arguments...]

- **Whole-run budget**: ``DELTAMEM_TEST_BUDGET`` seconds (default 1500). Past it the run is asked for every thread's
  traceback (``SIGUSR1``, see ``tests/timeout_watchdog.py``) and killed; exit status 124.
- **Its own temp folder**: pytest runs with ``TMPDIR`` pointing at a fresh folder, so everything the tests put in
  "the temp directory" (pytest's ``tmp_path``, PostgreSQL data folders, schemathesis files) lands there. It is
  removed when the run ends, however it ends.
- **Nothing left running**: every process the run started carries ``DELTAMEM_TEST_RUN=<token>`` in its environment,
  daemons included (pgserver's PostgreSQL detaches from pytest). When pytest has exited, any such process still
  alive is killed and reported.
- Ctrl-C / ``SIGTERM`` are passed on to pytest (it runs in a session of its own so the budget can kill all of it).

Prints one summary line at the end: pytest's exit status, wall time, processes stopped, what was left in the
system temp directory (should be nothing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType

DEFAULT_BUDGET = 1500.0
TOKEN_VAR = "DELTAMEM_TEST_RUN"


def stray_processes(token: str) -> list[int]:
    """Pids (other than this process) whose environment carries ``DELTAMEM_TEST_RUN=token``."""
    needle = f"{TOKEN_VAR}={token}".encode()
    found: list[int] = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone already, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(pid)
    return found


def reap(token: str) -> list[int]:
    """Kill every process of this run that is still alive; the pids killed."""
    killed: list[int] = []
    for _ in range(5):  # a dying parent can fork once more; look again until nothing is left
        pids = stray_processes(token)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    return sorted(set(killed))


def main(args: list[str]) -> int:
    budget = float(os.environ.get("DELTAMEM_TEST_BUDGET", DEFAULT_BUDGET))
    system_tmp = Path(tempfile.gettempdir())
    before = set(os.listdir(system_tmp))
    run_dir = Path(tempfile.mkdtemp(prefix="deltamem-tests-", dir=system_tmp))
    token = uuid.uuid4().hex
    env = {**os.environ, "TMPDIR": str(run_dir), TOKEN_VAR: token}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], env=env, start_new_session=True)

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        try:
            rc = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            print(f"\n[run_pytest] the run outlived its budget of {budget:.0f} s (DELTAMEM_TEST_BUDGET): "
                  "every thread's traceback follows, then it is killed", file=sys.stderr, flush=True)
            forward(signal.SIGUSR1, None)
            time.sleep(3)
            forward(signal.SIGKILL, None)
            proc.wait()
            rc = 124
    finally:
        killed = reap(token)
        shutil.rmtree(run_dir, ignore_errors=True)
    left = sorted(set(os.listdir(system_tmp)) - before)
    print(f"[run_pytest] pytest exit status {rc} after {time.monotonic() - started:.0f} s; "
          f"{len(killed)} leftover process(es) stopped{' ' + str(killed) if killed else ''}; "
          f"temp folder removed; new in {system_tmp}: {', '.join(left) if left else 'nothing'}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
