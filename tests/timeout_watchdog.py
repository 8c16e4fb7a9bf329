"""A per-test watchdog that fires even when a test is stuck inside native code.

pytest-timeout's signal method (the ini ``timeout``) fails a test cleanly, but only once Python code runs again: a
test blocked inside a C extension (llama.cpp joining a thread, a driver waiting on a socket) never gets there, and its
thread method needs the GIL, which such code may hold. :mod:`faulthandler`'s watchdog is a C thread that needs
neither: armed for every test at its limit plus :data:`GRACE` seconds, it writes every thread's traceback to the
terminal and ends the process with exit status 1. ``scripts/run_pytest.py`` then stops whatever the run left
behind (servers, temp folders).

The limit is the test's ``@pytest.mark.timeout(N)`` or the ini ``timeout``. ``SIGUSR1`` dumps every thread's
traceback at any time (the runner sends it before killing a run that outlived its whole budget).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
from collections.abc import Iterator
from typing import IO

import pytest

#: Seconds between pytest-timeout's clean failure and the watchdog's hard exit (``DELTAMEM_WATCHDOG_GRACE``).
GRACE = float(os.environ.get("DELTAMEM_WATCHDOG_GRACE", "10"))
_stream: list[IO[str]] = []


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    with contextlib.suppress(ValueError, TypeError):
        return float(item.config.getini("timeout") or 0)
    return 0.0


def pytest_configure(config: pytest.Config) -> None:
    """Keep a handle on the real stderr: during a test, pytest points fd 2 at a capture file that an exit loses."""
    if not _stream:
        _stream.append(os.fdopen(os.dup(sys.__stderr__.fileno() if sys.__stderr__ else 2), "w"))
        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1, file=_stream[0], all_threads=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Arm the watchdog for the test's setup, call and teardown."""
    limit = _limit(item)
    if limit > 0 and _stream:
        faulthandler.dump_traceback_later(limit + GRACE, exit=True, file=_stream[0])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
