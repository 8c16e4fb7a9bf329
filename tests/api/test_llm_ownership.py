"""Memory.close closes the chat model that from_config built (a local GGUF holds 2 GB), never one passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deltamem import Memory, registry
from deltamem.config import MemoryConfig
from deltamem.embed.hashing import HashingEmbedder
from deltamem.llm import ScriptedChatModel
from deltamem.llm.lazy import LazyChatModel
from deltamem.stores.memory import InMemoryStore


class ClosingModel(ScriptedChatModel):
    def __init__(self) -> None:
        super().__init__(default="ok")
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[ClosingModel]:
    made: list[ClosingModel] = []

    def build(cfg: Any, **kwargs: Any) -> ClosingModel:
        made.append(ClosingModel())
        return made[-1]

    monkeypatch.setattr(registry, "build_chat_model", build)
    monkeypatch.setattr(registry, "build_embedder", lambda cfg: HashingEmbedder(dim=16))
    return made


def test_a_model_built_by_from_config_is_closed_with_the_memory(tmp_path: Path, built: list[ClosingModel]) -> None:
    with Memory.from_config(MemoryConfig(home=str(tmp_path))):
        pass
    assert [m.closed for m in built] == [1]


def test_a_model_passed_in_belongs_to_the_caller(tmp_path: Path, built: list[ClosingModel]) -> None:
    mine = ClosingModel()
    with Memory.from_config(MemoryConfig(home=str(tmp_path)), llm=mine):
        pass
    with Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=16), llm=mine):
        pass
    assert mine.closed == 0 and built == []


def test_a_lazy_model_closes_its_backend_only_once_built() -> None:
    backends: list[ClosingModel] = []

    def factory() -> ClosingModel:
        backends.append(ClosingModel())
        return backends[-1]

    lazy = LazyChatModel(factory, name="lazy")
    lazy.close()  # never built: nothing to close, nothing loaded
    assert backends == []
    lazy.chat([{"role": "user", "content": "hi"}])
    lazy.close()
    assert [b.closed for b in backends] == [1]
