"""The CLI through typer's runner: verbs, --json, readable errors (no tracebacks), namespace isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from deltamem.agent import AgentConfig, MemoryAgent
from deltamem.cli.ingest_view import ingest_dict, print_session
from deltamem.cli.main import app
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm import ScriptedChatModel
from deltamem.stores.memory import InMemoryStore


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    runner = CliRunner()
    db = tmp_path / "m.db"

    def run(*args: str, ok: bool = True) -> str:
        result = runner.invoke(app, ["--db", str(db), *args])
        assert "Traceback" not in result.output
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 1, result.output
        return result.output

    return run


def test_add_list_search_update_revert(cli) -> None:  # type: ignore[no-untyped-def]
    added = json.loads(cli("--json", "add", "Caroline lives in Boston", "Rex is a dog", "-u", "caro"))
    assert added["counts"]["ADD"] == 2
    mid = added["changes"][0]["memory_id"]
    listed = json.loads(cli("--json", "list", "-u", "caro"))["results"]
    assert [r["text"] for r in listed] == ["Caroline lives in Boston", "Rex is a dog"]
    upd = json.loads(cli("--json", "update", mid[:8], "Caroline lives in Seattle", "-u", "caro"))
    assert upd["changes"][0]["before"] == "Caroline lives in Boston"
    hits = json.loads(cli("--json", "search", "Seattle", "-u", "caro", "-k", "1"))["results"]
    assert hits[0]["memory"] == "Caroline lives in Seattle"
    log = json.loads(cli("--json", "log", "-u", "caro"))
    assert [r["counts"]["UPDATE"] for r in log] == [1, 0]
    cli("revert", log[0]["id"][:8], "-u", "caro")
    assert json.loads(cli("--json", "get", mid, "-u", "caro"))["text"] == "Caroline lives in Boston"
    hist = json.loads(cli("--json", "history", mid, "-u", "caro"))
    assert [h["kind"] for h in hist] == ["ADD", "UPDATE", "UPDATE"]
    out = cli("update", mid, "x", "-u", "caro")
    assert "~ x" in out and "was: Caroline lives in Boston" in out


def test_errors_are_readable(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "no live memory 'nope'" in cli("get", "nope", "-u", "caro", ok=False)
    assert "say whose memory" in cli("list", ok=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n")
    assert "bad.jsonl:1" in cli("import", str(bad), ok=False)
    assert "No such file" in cli("import", str(tmp_path / "missing.jsonl"), ok=False)
    assert "--mode must be" in cli("search", "x", "-u", "a", "--mode", "fuzzy", ok=False)


def test_cli_cannot_cross_namespaces(cli) -> None:  # type: ignore[no-untyped-def]
    a = json.loads(cli("--json", "add", "Alice secret", "-u", "alice"))
    mid = a["changes"][0]["memory_id"]
    cli("--json", "add", "Bob fact", "-u", "bob")
    assert "unknown" in cli("update", mid, "hacked", "-u", "bob", ok=False)
    assert "unknown" in cli("delete", mid, "-u", "bob", ok=False)
    assert "no live memory" in cli("get", mid, "-u", "bob", ok=False)
    assert "no change set" in cli("revert", a["id"], "-u", "bob", ok=False)
    assert "Alice" not in cli("--json", "search", "Alice secret", "-u", "bob")
    assert json.loads(cli("--json", "history", "-u", "bob"))[0]["after"]["text"] == "Bob fact"
    cli("delete-all", "--yes", "-u", "bob")
    cli("reset", "--yes", "-u", "bob")
    assert json.loads(cli("--json", "get", mid, "-u", "alice"))["text"] == "Alice secret"


def test_export_import_round_trip(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("add", "exported fact", "-u", "e")
    path = tmp_path / "e.jsonl"
    assert json.loads(cli("--json", "export", str(path), "-u", "e"))["records"] == 3
    cli("reset", "--yes", "-u", "e")
    assert json.loads(cli("--json", "import", str(path)))["records"] == 3
    assert json.loads(cli("--json", "list", "-u", "e"))["results"][0]["text"] == "exported fact"
    assert "already present" in cli("import", str(path), ok=False)


def test_demo_runs_with_hashing_embedder(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = cli("demo", "--home", str(tmp_path / "demo"), "--embedder", "hashing", "--store-only")
    assert "re-imported copy identical: True" in out
    assert "Caroline moved to Seattle" in out


def test_demo_without_home_removes_its_store(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = cli("demo", "--embedder", "hashing", "--store-only")
    assert "re-imported copy identical: True" in out and "was removed (--home DIR keeps it)" in out
    assert list(tmp_path.iterdir()) == []


def test_session_view_lists_repaired_apart_from_dropped_ops() -> None:
    emb = HashingEmbedder(dim=64)
    mem = Memory(store=InMemoryStore(), embedder=emb)
    reply = json.dumps({"ops": [{"op": "UPDATE", "id": "m42", "text": "Caroline bought a red bike"},
                                {"op": "DELETE", "id": "m43"}]})
    mem.agent = MemoryAgent(ScriptedChatModel([reply]), embedder=emb, config=AgentConfig(mode="session"))
    res = mem.add([{"role": "user", "content": "I bought a red bike."}], user_id="c")

    out = Console(record=True, width=200)
    print_session(res, 0, out)
    text = out.export_text()
    assert "repaired: Caroline bought a red bike — UPDATE of unknown id 'm42' kept as ADD" in text
    assert "dropped: DELETE — DELETE of unknown id 'm43' dropped" in text
    agent = ingest_dict(res)["agent"]
    assert [r["reason"] for r in agent["repaired"]] == ["UPDATE of unknown id 'm42' kept as ADD"]
    assert [r["reason"] for r in agent["rejected"]] == ["DELETE of unknown id 'm43' dropped"]
