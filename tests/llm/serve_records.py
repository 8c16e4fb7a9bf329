"""Helpers for the serve-llm discovery tests: records, a dead pid, a closed port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from deltamem.llm.discovery import ServerRecord


def make_record(base_url: str = "http://127.0.0.1:8011/v1", *, pid: int | None = None,
                started: str = "2025-01-01T00:00:00+00:00", **kw: object) -> ServerRecord:
    """A record of the default packaged model at ``base_url``, of this (live) process unless ``pid`` says."""
    fields: dict[str, object] = {"model": "qwen2.5-coder-1.5b", "path": "/models/q.gguf",
                                 "packaged": "qwen2.5-coder-1.5b", "sha256": None, "context_size": 16384}
    fields.update(kw)
    return ServerRecord(base_url=base_url, pid=pid or os.getpid(), started=started, **fields)  # type: ignore[arg-type]


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
