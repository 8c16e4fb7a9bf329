"""Helpers for the MCP tests: a config on the hashing embedder with no LLM, server subprocesses, timeouts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

#: Upper bound on one async test body (connect, round trip, shut down).
TEST_TIMEOUT_S = 15.0
#: Upper bound on a server subprocess becoming reachable (the mcp import alone takes about a second).
START_TIMEOUT_S = 15.0


def run_async(fn: Callable[[], Awaitable[Any]], timeout: float = TEST_TIMEOUT_S) -> Any:
    """Run an async test body on a fresh event loop, failing (not hanging) after ``timeout`` seconds."""

    async def bounded() -> Any:
        with anyio.fail_after(timeout):
            return await fn()

    return anyio.run(bounded)


def write_config(directory: Path) -> Path:
    """A TOML config: SQLite in ``directory``, the hashing embedder (no model download), no LLM."""
    path = directory / "deltamem.toml"
    path.write_text(f'[store]\nprovider = "sqlite"\npath = "{(directory / "memory.db").as_posix()}"\n'
                    '[embedder]\nprovider = "hashing"\n[llm]\nprovider = "none"\n', encoding="utf-8")
    return path


def server_env(**extra: str) -> dict[str, str]:
    """The test environment without any DELTAMEM_* variable of the caller's shell (they would change the config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTAMEM_")}
    return env | extra


def server_args(config: Path, *more: str) -> list[str]:
    """``python -m deltamem.mcp_server`` arguments (the ``deltamem mcp`` command on its own)."""
    return ["-m", "deltamem.mcp_server", "--config", str(config), "--user-id", "alice", *more]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


class HttpServer:
    """A ``deltamem mcp --transport http`` subprocess on a free loopback port."""

    def __init__(self, directory: Path, *, token: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.log = directory / "server.log"
        env = server_env(**({"DELTAMEM_MCP_TOKEN": token} if token else {}))
        with open(self.log, "wb") as log:
            args = server_args(write_config(directory), "--transport", "http", "--port", str(self.port))
            self.proc = subprocess.Popen(
                [sys.executable, *args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not listen within {START_TIMEOUT_S}s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """One token-protected HTTP server for the module (starting one costs about two seconds).

    The token travels in DELTAMEM_MCP_TOKEN, which also checks that it does not break config loading (every other
    DELTAMEM_* variable is read as a config key).
    """
    server = HttpServer(tmp_path_factory.mktemp("mcp-http"), token=HTTP_TOKEN)
    try:
        yield server
    finally:
        server.stop()


HTTP_TOKEN = "test-token-0123456789"
