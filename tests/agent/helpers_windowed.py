"""The scripted model and small builders the windowed-episode tests share."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from deltamem.agent import AgentConfig, MemoryAgent, MemorySearch, to_session
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm import ScriptedChatModel
from deltamem.stores.memory import InMemoryStore

EMB = HashingEmbedder(dim=256)
DATE = datetime(2024, 6, 10, 20, 0, tzinfo=UTC)
NS = "user:c"


def memory(*texts: str) -> Memory:
    m = Memory(store=InMemoryStore(), embedder=EMB)
    if texts:
        m.add(list(texts), namespace=NS)
    return m


def session(*lines: tuple[str, str]) -> Any:
    return to_session([{"speaker": s, "text": t} for s, t in lines], date=DATE, session_id="s3")


class Model:
    """Answers extraction calls from ``facts`` (one list per window, in order) and judgement calls with ``judge``
    (old memory, new fact) → still true? (a bool, or a raw reply string); records every call by kind."""

    def __init__(self, facts: Sequence[Sequence[str]], judge: Callable[[str, str], Any] | None = None) -> None:
        self.facts = list(facts)
        self.judge = judge or (lambda old, new: True)
        self.calls: list[tuple[str, str]] = []
        self.llm = ScriptedChatModel(default=self._reply)

    def _reply(self, messages: Sequence[Any]) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]
        if system.startswith("You write down facts"):
            self.calls.append(("extract", user))
            return json.dumps({"facts": list(self.facts.pop(0)) if self.facts else []})
        assert system.startswith("You check whether an old statement"), system[:60]
        self.calls.append(("judge", user))
        old, new = re.fullmatch(r"Old: (.*)\nNew: (.*)", user).groups()  # type: ignore[union-attr]
        reply = self.judge(old, new)
        return reply if isinstance(reply, str) else json.dumps({"still_true": reply})


def run(mem: Memory, model: Model, sess: Any, **cfg: Any) -> Any:
    agent = MemoryAgent(model.llm, embedder=EMB, config=AgentConfig(**cfg))
    return agent.run(sess, MemorySearch(mem.store, EMB, NS))
