"""The agent demo end to end with a scripted model (the real-model run is in tests/slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deltamem.api import Memory
from deltamem.cli.demo_cmd import _agent_tour
from deltamem.embed.hashing import HashingEmbedder
from deltamem.llm import ScriptedChatModel
from deltamem.stores.sqlite import SqliteStore


def echo_model() -> ScriptedChatModel:
    """Adds the session's first sentence as a fact; answers questions with a fixed phrase."""

    def reply(messages: list) -> str:
        content = messages[-1]["content"]
        if "Question:" in content:
            return "Seattle."
        first = next(ln for ln in content.splitlines() if ln.startswith("[0] "))
        return json.dumps({"ops": [{"op": "ADD", "text": first[4:].split(". ")[0]}]})

    return ScriptedChatModel(default=reply)


def test_agent_tour_runs_all_sessions_and_questions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = Memory(store=SqliteStore(tmp_path / "m.db"), embedder=HashingEmbedder(), llm=echo_model())
    assert _agent_tour(m, tmp_path)
    out = capsys.readouterr().out
    assert out.count("session s") >= 4 and out.count("Q:") == 4 and "A: Seattle." in out
    assert len(m.change_sets(user_id="caroline")) == 5  # four sessions and the demo's revert
    assert (tmp_path / "caroline.jsonl").exists()
