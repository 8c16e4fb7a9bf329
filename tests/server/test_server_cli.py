"""``deltamem keys create|list|revoke`` and ``deltamem serve`` / ``python -m deltamem.server`` in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.server.keys import KeyStore
from deltamem.server.state import StateDB


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exit_code == (0 if ok else 1), result.output
    return result.output


def test_keys_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    db = tmp_path / "m.db"
    made = json.loads(run("--db", str(db), "--json", "keys", "create", "--tenant", "acme", "--label", "ci"))
    admin = json.loads(run("--db", str(db), "--json", "keys", "create", "--admin"))
    state = StateDB(tmp_path / "server.db")  # next to the store by default
    keys = KeyStore(state)
    assert keys.verify(made["key"]).tenant == "acme"  # type: ignore[union-attr]
    assert keys.verify(admin["key"]).admin  # type: ignore[union-attr]
    listed = json.loads(run("--db", str(db), "--json", "keys", "list"))
    assert [(k["id"], k["tenant"], k["label"]) for k in listed] == [(made["id"], "acme", "ci"),
                                                                     (admin["id"], None, "")]
    assert made["key"] not in json.dumps(listed)
    run("--db", str(db), "keys", "revoke", made["id"])
    assert keys.verify(made["key"]) is None
    out = run("--db", str(db), "keys", "revoke", made["id"], ok=False)
    assert "already revoked" in out
    assert "--tenant" in run("--db", str(db), "keys", "create", ok=False)
    assert "tenant" in run("--db", str(db), "keys", "create", "--tenant", "a/b", ok=False)
    state.close()


def test_serve_rejects_bad_options() -> None:
    assert "--dsn" in run("serve", "--store", "postgres", ok=False)
    assert "--store" in run("serve", "--store", "mysql", ok=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_python_m_deltamem_server_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DELTAMEM_STORE__PATH": str(tmp_path / "m.db"), "DELTAMEM_EMBEDDER__PROVIDER": "hashing",
           "DELTAMEM_LLM__PROVIDER": "none", "DELTAMEM_SERVER__RATE_PER_S": "0"}
    key = KeyStore(StateDB(tmp_path / "server.db")).create(tenant="acme")[1]
    proc = subprocess.Popen([sys.executable, "-m", "deltamem.server", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() >= deadline:
                # Stop the server before reading its output: read() waits for EOF, which a live server never sends.
                proc.kill()
                pytest.fail(f"server not healthy within 30 s: {proc.communicate(timeout=30)[0]!r}")
            time.sleep(0.1)
        h = {"Authorization": f"Bearer {key}"}
        r = httpx.post(f"{base}/v1/memories", params={"user_id": "u"}, json={"facts": ["served fact"]}, headers=h)
        assert r.status_code == 201, r.text
        r = httpx.post(f"{base}/v1/answer", params={"user_id": "u"}, json={"question": "q"}, headers=h)
        assert r.status_code == 400 and "LLM" in r.json()["error"]["message"]  # llm provider none
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.integration
def test_keys_for_the_procrastinate_deployment_live_in_postgres(pg_dsn: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from deltamem.server.config import load_server_config
    from deltamem.server.state import open_state_db

    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    monkeypatch.chdir(tmp_path)
    pg = ("--store", "postgres", "--dsn", pg_dsn, "--queue", "procrastinate")
    made = json.loads(run("--json", "keys", "create", "--tenant", "acme", *pg))
    config = load_server_config(None, overrides={"queue": "procrastinate"},
                                memory_overrides={"store": {"provider": "postgres", "dsn": pg_dsn}})
    assert KeyStore(open_state_db(config)).verify(made["key"]).tenant == "acme"  # type: ignore[union-attr]
    assert not list(tmp_path.iterdir())  # nothing written to a local server.db
    assert [k["id"] for k in json.loads(run("--json", "keys", "list", *pg))] == [made["id"]]
    run("keys", "revoke", made["id"], *pg)
    assert KeyStore(open_state_db(config)).verify(made["key"]) is None
    out = run("keys", "list", "--queue", "procrastinate", ok=False)
    assert "postgres" in out.lower()


def test_worker_command_is_registered() -> None:
    out = run("worker", "--help")
    assert "--concurrency" in out
