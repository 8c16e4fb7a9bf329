"""A server over SQLite + HashingEmbedder + a scripted model, with keys for tenants A and B."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deltamem.agent.prompts import load
from deltamem.config import MemoryConfig
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.server import ServerConfig, create_app
from deltamem.server.keys import KeyStore
from deltamem.server.ratelimit import RateLimiter
from deltamem.server.state import StateDB
from deltamem.stores.sqlite import SqliteStore

_LINE = re.compile(r"^\[(\d+)\] [^:]+: (.*)$")


#: scripted_reply speaks the whole-session reply protocol (ops), so the agent runs in that mode here.
SESSION_MODE = MemoryConfig(agent={"mode": "session"})


def scripted_reply(messages: Sequence[Any]) -> str:
    """The agent stores every message as a fact; ``GARBAGE`` makes it babble; ``WIPE`` deletes all it was shown;
    ``GHOST`` updates and deletes ids it was never shown.

    Answers quote the first memory they were given.
    """
    if messages[0]["content"] != load("system"):
        first = next((ln[2:] for ln in messages[-1]["content"].splitlines() if ln.startswith("- [")), "nothing")
        return f"From memory: {first}"
    session = messages[1]["content"]
    if "GARBAGE" in session:
        return "I am not going to answer in JSON, sorry."
    if "WIPE" in session:
        shown = [ln.split()[0] for ln in session.splitlines() if re.match(r"^m\d+ \[", ln)]
        return json.dumps({"ops": [{"op": "DELETE", "id": a} for a in shown]})
    texts = [m.group(2) for ln in session.splitlines() if (m := _LINE.match(ln))]
    if "GHOST" in session:
        return json.dumps({"ops": [{"op": "UPDATE", "id": "m99", "text": texts[0]}, {"op": "DELETE", "id": "m98"}]})
    return json.dumps({"ops": [{"op": "ADD", "text": t} for t in texts]})


@dataclass
class Srv:
    """A running test server and the keys of two tenants."""

    client: TestClient
    app: FastAPI
    keys: KeyStore
    key_a: str
    key_b: str
    admin_key: str
    memory: Memory
    db: StateDB
    extra: dict[str, Any] = field(default_factory=dict)

    def h(self, key: str | None = None) -> dict[str, str]:
        """Auth headers (tenant A by default)."""
        return {"Authorization": f"Bearer {key or self.key_a}"}

    def wait_job(self, job_id: str, key: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        """Poll a job until it is done or failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.client.get(f"/v1/jobs/{job_id}", headers=self.h(key)).json()
            if job["status"] in ("done", "failed"):
                return job
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish: {job}")


def make_memory(path: Path) -> Memory:
    """The facade every server test uses."""
    return Memory(store=SqliteStore(path), embedder=HashingEmbedder(dim=64),
                  llm=ScriptedChatModel(default=scripted_reply), config=SESSION_MODE)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Builds servers (several per test if needed); closes them at the end."""
    opened: list[tuple[TestClient, Memory, StateDB]] = []

    def make(*, config: dict[str, Any] | None = None, limiter: RateLimiter | None = None,
             name: str = "s") -> Srv:
        memory = make_memory(tmp_path / f"{name}-memory.db")
        db = StateDB(tmp_path / f"{name}-server.db")
        cfg = ServerConfig(state_path=tmp_path / f"{name}-server.db", admin_key="admin-secret-key-for-tests",
                           rate_per_s=0, **(config or {}))
        app = create_app(cfg, memory=memory, db=db, limiter=limiter)
        client = TestClient(app, raise_server_exceptions=True)
        client.__enter__()
        opened.append((client, memory, db))
        keys = KeyStore(db)
        _, key_a = keys.create(tenant="acme")
        _, key_b = keys.create(tenant="bravo")
        return Srv(client, app, keys, key_a, key_b, "admin-secret-key-for-tests", memory, db)

    yield make
    for client, memory, db in opened:
        client.__exit__(None, None, None)
        memory.close()
        db.close()


@pytest.fixture
def srv(make_server: Any) -> Srv:
    """One server."""
    s: Srv = make_server()
    return s
