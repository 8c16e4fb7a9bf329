"""``deltamem review show`` / ``review list`` say why a change set was held (issue #19, finding 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deltamem.agent import AgentConfig, MemoryAgent
from deltamem.cli.main import app
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm import ScriptedChatModel
from deltamem.stores.sqlite import SqliteStore


def test_review_show_and_list_print_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    db = tmp_path / "m.db"
    emb = HashingEmbedder(dim=64)  # the CLI's hashing embedder
    wipe = json.dumps({"ops": [{"op": "DELETE", "id": "m1"}, {"op": "DELETE", "id": "m2"}]})
    with Memory(store=SqliteStore(db), embedder=emb) as m:
        m.add(["Caroline keeps a blue bicycle", "Caroline grows tomatoes"], user_id="caro")
        m.agent = MemoryAgent(ScriptedChatModel([wipe]), embedder=emb, config=AgentConfig(mode="session"))
        res = m.add([{"role": "user", "content": "Caroline keeps a blue bicycle and grows tomatoes. Forget it."}],
                    user_id="caro")
    assert res.queued and res.review_id

    runner = CliRunner()

    def cli(*args: str) -> str:
        out = runner.invoke(app, ["--db", str(db), *args])
        assert out.exit_code == 0, out.output
        return out.output

    shown = json.loads(cli("--json", "review", "show", res.review_id[:10], "-u", "caro"))
    assert shown["review"]["id"] == res.review_id and shown["review"]["status"] == "pending"
    assert shown["review"]["reason"].startswith("emptying: this change set deletes the last 2 memories")
    assert shown["counts"]["DELETE"] == 2
    text = " ".join(cli("review", "show", res.review_id[:10], "-u", "caro").split())
    assert "pending: emptying: this change set deletes the last 2 memories" in text
    assert "(window: this change set alone;" in text and "if approved" in text
    listed = json.loads(cli("--json", "review", "list", "-u", "caro"))
    assert listed[0]["reason"] == shown["review"]["reason"]
