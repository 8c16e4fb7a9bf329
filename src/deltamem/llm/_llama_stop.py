"""Stopping xllamacpp's in-process llama-server without ever hanging the caller.

``xllamacpp.Server`` has no ``stop()``: its destructor stops llama-server's loopback HTTP listener and joins its
threads. When the destructor runs before that listener has started accepting (a server dropped right after it
was made), the stop request is lost, the listener then starts anyway and the join waits forever, inside native code
where no Python signal handler or timeout can run (measured: 3 hangs in 10 tries on the packaged SmolLM2).

:func:`stop_server` closes that race and bounds what is left:

1. it waits (bounded) until the listener answers ``GET /health``, so the stop cannot come before the listen;
2. a listener that never answered is not stopped at all: the server is kept (and its memory with it) until the
   process ends, with a warning. The destructor holds the GIL while it waits, so a lost stop would freeze every
   thread of the process, not only the caller (seen once, on a loaded machine, where the listener took over the
   old 10 s to come up);
3. it drops the last reference in a daemon thread and waits for it at most ``timeout`` seconds;
4. past that it raises :class:`LLMError`; the stuck thread is a daemon, so it never keeps the process alive.

Callers hand over their only reference through a one-element list, so no frame of theirs keeps the server alive and
the destructor really runs in the helper thread.
"""

from __future__ import annotations

import contextlib
import http.client
import sys
import threading
import time
import warnings
from typing import Any
from urllib.parse import urlsplit

from deltamem.core.errors import LLMError

#: How long :func:`stop_server` waits for llama-server's threads to finish before giving up with an error.
STOP_TIMEOUT = 30.0
#: How long it waits for a just-started listener to come up; past it the server is kept, not stopped.
LISTEN_TIMEOUT = 120.0
_LEFT_AT_EXIT: list[Any] = []  # servers never stopped: open at interpreter exit, or never seen listening


def wait_listening(address: str, *, timeout: float = LISTEN_TIMEOUT) -> bool:
    """True once the HTTP listener at ``address`` (``http://host:port``) answers any request; False after
    ``timeout`` seconds without an answer."""
    parts = urlsplit(address)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection(host, port, timeout=2.0)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        finally:
            conn.close()


def stop_server(holder: list[Any], *, name: str, timeout: float = STOP_TIMEOUT,
                listen_timeout: float = LISTEN_TIMEOUT) -> None:
    """Stop the ``xllamacpp.Server`` in ``holder`` (a list holding the only reference; emptied here).

    Raises:
        LLMError: the server's threads did not finish within ``timeout`` seconds (they are left behind as a daemon
            thread; the process can still exit).
    """
    if not holder or holder[0] is None:
        holder.clear()
        return
    if sys.is_finalizing():
        # At interpreter exit no thread can start (Python 3.11's Thread.start then waits forever) and the listener
        # has long been up: the process is ending, so leave the server to it rather than stop it here.
        _LEFT_AT_EXIT.extend(holder)
        holder.clear()
        return
    listening = True
    with contextlib.suppress(Exception):  # an address we cannot read only costs the race protection
        listening = wait_listening(str(holder[0].listening_address), timeout=listen_timeout)
    if not listening:
        warnings.warn(f"llama.cpp's server for {name} never answered within {listen_timeout:.0f} s; it is kept "
                      "until the process ends rather than stopped (a stop before its listener starts would hang)",
                      RuntimeWarning, stacklevel=2)
        _LEFT_AT_EXIT.extend(holder)
        holder.clear()
        return
    thread = threading.Thread(target=holder.clear, name=f"deltamem-stop-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise LLMError(f"llama.cpp's server for {name} did not stop within {timeout:.0f} s; its thread is left "
                       "behind as a daemon (the process can still exit)")


__all__ = ["LISTEN_TIMEOUT", "STOP_TIMEOUT", "stop_server", "wait_listening"]
