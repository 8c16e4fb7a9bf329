"""The suite's guards against hanging and litter, tried on planted tests in a scratch folder.

- a test stuck in native code with the GIL held (pytest-timeout cannot fire) is killed by the watchdog, with a
  traceback naming it, right after its limit;
- ``scripts/run_pytest.py`` kills a run that outlives its budget, and afterwards nothing the run started is still
  running and its temp folder is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CONFTEST = "from tests.timeout_watchdog import pytest_configure, pytest_runtest_protocol\n"

HANGS_IN_NATIVE_CODE = '''
import ctypes
import signal
import pytest

@pytest.mark.timeout(2)
def test_hangs_in_native_code():
    # Like a C++ thread join: a native wait that a signal does not end (pytest-timeout's SIGALRM stays pending),
    # entered with the GIL held (PyDLL), so neither a Python signal handler nor a Python timer thread can run.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    ctypes.PyDLL(None).sleep(600)
'''

LEAVES_LITTER = '''
import os, subprocess, tempfile
from pathlib import Path

def test_starts_a_daemon_and_writes_temp_files():
    Path(tempfile.mkdtemp(prefix="planted-")).joinpath("f").write_text("x")
    daemon = subprocess.Popen(["sleep", "600"], start_new_session=True)  # detached: outlives pytest
    Path(os.environ["PLANTED_PID_FILE"]).write_text(str(daemon.pid))
'''

SLEEPS_TOO_LONG = '''
import time

def test_sleeps_past_the_budget():
    time.sleep(120)
'''


def _plant(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\ntimeout = 60\n")
    (folder / "test_planted.py").write_text(body)
    return folder


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    system_tmp = tmp / "system-tmp"
    system_tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "DELTAMEM_TEST_BUDGET")}
    return {**env, "PYTHONPATH": str(REPO), "TMPDIR": str(system_tmp), **extra}


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_test_stuck_in_native_code_is_killed_with_its_traceback(tmp_path: Path) -> None:
    planted = _plant(tmp_path / "planted", HANGS_IN_NATIVE_CODE)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(planted)], cwd=planted,
                          env=_env(tmp_path, DELTAMEM_WATCHDOG_GRACE="1"), capture_output=True, text=True,
                          timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Timeout (0:00:03)!" in done.stderr
    assert "in test_hangs_in_native_code" in done.stderr  # the traceback names the stuck test
    assert elapsed < 60  # 2 s limit + 1 s grace + interpreter start, far from the 600 s the sleep asks for


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_the_runner_stops_what_a_run_left_running_and_removes_its_temp_folder(tmp_path: Path) -> None:
    planted = _plant(tmp_path / "planted", LEAVES_LITTER)
    pid_file = tmp_path / "daemon.pid"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "run_pytest.py"), "-p", "no:cacheprovider",
                           str(planted)], cwd=planted, env=_env(tmp_path, PLANTED_PID_FILE=str(pid_file)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    pid = int(pid_file.read_text())
    assert not _alive(pid)
    assert "1 leftover process(es) stopped" in done.stdout
    assert list((tmp_path / "system-tmp").iterdir()) == []  # the run's temp folder and all in it are gone
    assert "new in" in done.stdout and done.stdout.rstrip().endswith("nothing")


def test_the_runner_kills_a_run_that_outlives_its_budget(tmp_path: Path) -> None:
    planted = _plant(tmp_path / "planted", SLEEPS_TOO_LONG)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "run_pytest.py"), "-p", "no:cacheprovider",
                           str(planted)], cwd=planted, env=_env(tmp_path, DELTAMEM_TEST_BUDGET="15"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 124
    assert time.monotonic() - started < 60
    # 15 s, not less: the dump needs pytest to have loaded the watchdog plugin first, which took over 4 s once on the
    # CI machine while mypy ran beside it (SIGUSR1 then ended the run without a traceback).
    assert "outlived its budget of 15 s" in done.stderr
    assert "in test_sleeps_past_the_budget" in done.stderr  # the SIGUSR1 dump shows where it was
    assert list((tmp_path / "system-tmp").iterdir()) == []
