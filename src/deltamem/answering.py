"""Answering a question from memory: top-k hybrid retrieval, memories shown with their dates, one LLM call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deltamem.agent.prompting import answer_messages
from deltamem.core import MemoryEntry
from deltamem.llm.base import ChatModel, Usage
from deltamem.stores.base import SearchHit


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer text and the memories it was given (their ids are the provenance of the answer)."""

    text: str
    memories: tuple[MemoryEntry, ...]
    usage: Usage

    @property
    def memory_ids(self) -> list[str]:
        """Ids of the memories the answer was based on."""
        return [m.id for m in self.memories]


def answer_from_hits(llm: ChatModel, question: str, hits: list[SearchHit], *, max_tokens: int = 96,
                     today: datetime | None = None) -> Answer:
    """Ask the model to answer from the retrieved memories (oldest first, so time order reads naturally)."""
    memories = sorted((h.entry for h in hits), key=lambda e: e.timestamp)
    reply = llm.chat(answer_messages(question, memories, today=today), max_tokens=max_tokens, temperature=0.0,
                     stop=["\n\n"])
    return Answer(reply.content.strip(), tuple(memories), reply.usage)
