"""The one answer path: a question, the retrieved memories (each with its date) and one LLM call.

:meth:`deltamem.Memory.answer` calls it, and so does the benchmark harness for every system (deltamem's memories,
RAG's turns, the full transcript): same prompt (``agent/prompts/answer.txt``), same decoding, same order of the
context, so what a benchmark measures is what users get, and systems differ only in what their memory holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deltamem.agent.prompts import load
from deltamem.core import MemoryEntry
from deltamem.llm.base import ChatModel, Usage
from deltamem.stores.base import SearchHit

__all__ = ["ANSWER_MAX_TOKENS", "Answer", "answer_from_hits", "answer_messages", "ask", "memory_context", "ordered"]

ANSWER_MAX_TOKENS = 96


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


def ordered(hits: Sequence[SearchHit]) -> list[MemoryEntry]:
    """The memories of search hits in the order the answerer reads them: best first, ties by text (the store
    breaks score ties by its own ids, which would make reruns differ)."""
    return [h.entry for h in sorted(hits, key=lambda h: (-h.score, h.entry.text))]


def memory_context(entry: MemoryEntry) -> tuple[str, str]:
    """One memory as the answerer reads it: ``(YYYY-MM-DD, text)``, the text followed on its own line by the
    conversation line it was written from where the memory keeps one (:attr:`MemoryEntry.evidence`): a small
    model's fact sentence loses details and sometimes the speaker, the line keeps both."""
    text = f"{entry.text}\n{entry.evidence}" if entry.evidence else entry.text
    return f"{entry.timestamp:%Y-%m-%d}", text


def answer_messages(question: str, context: Sequence[tuple[str | None, str]], *, today: datetime | None
                    ) -> list[dict[str, Any]]:
    """The answer prompt as one user message; ``context`` holds ``(YYYY-MM-DD or None, text)`` pieces."""
    lines = "\n".join(f"- [{(date or 'undated')[:10]}] " + text.replace("\n", "\n  ") for date, text in context)
    prompt = load("answer").format(today=f"{today:%Y-%m-%d (%A)}" if today else "not known",
                                   context=lines or "(nothing)", question=question)
    return [{"role": "user", "content": prompt}]


def ask(llm: ChatModel, question: str, context: Sequence[tuple[str | None, str]], *,
        today: datetime | None) -> tuple[str, Usage]:
    """One answer call (temperature 0, at most :data:`ANSWER_MAX_TOKENS` tokens): the stripped reply and its cost."""
    reply = llm.chat(answer_messages(question, context, today=today), max_tokens=ANSWER_MAX_TOKENS, temperature=0.0)
    return reply.content.strip(), reply.usage


def answer_from_hits(llm: ChatModel, question: str, hits: Sequence[SearchHit], *,
                     today: datetime | None = None) -> Answer:
    """Answer from retrieved memories (see :func:`ordered`), each shown with the date it refers to."""
    memories = ordered(hits)
    text, usage = ask(llm, question, [memory_context(m) for m in memories], today=today)
    return Answer(text, tuple(memories), usage)
