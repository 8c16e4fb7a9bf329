"""Pure prompt builders: session + related memories → chat messages. Templates live in ``prompts/*.txt``.

The system prompt never changes and the session message comes first, so across the turns of one session (and
across sessions) the prompt prefix stays stable and a llama.cpp / vLLM prefix cache can reuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from deltamem.agent.prompts import load
from deltamem.agent.session import Session
from deltamem.core import MemoryEntry


def memory_lines(items: Sequence[tuple[str, MemoryEntry]]) -> str:
    """``m3 [2023-05-08] text`` lines, or ``(none)``."""
    if not items:
        return "(none)"
    return "\n".join(f"{alias} [{e.timestamp:%Y-%m-%d}] {e.text}" for alias, e in items)


def session_date_line(date: datetime | None) -> str:
    """``2023-05-08 (Monday)`` or ``unknown``."""
    return f"{date:%Y-%m-%d} ({date:%A})" if date else "unknown"


def agent_messages(session: Session, related: Sequence[tuple[str, MemoryEntry]]) -> list[dict[str, Any]]:
    """System + the first user turn of the agent loop."""
    user = load("session").format(date=session_date_line(session.date), memories=memory_lines(related),
                                  transcript=session.transcript())
    return [{"role": "system", "content": load("system")}, {"role": "user", "content": user}]


def observation_message(results: Sequence[tuple[str, MemoryEntry]], *, may_search: bool) -> dict[str, Any]:
    """The user turn that reports search results back to the model."""
    hint = " (or search again)" if may_search else " now; no more searches"
    return {"role": "user", "content": load("observation").format(memories=memory_lines(results), search_hint=hint)}


def repair_message(error: str) -> dict[str, Any]:
    """The user turn that shows the model why its reply was rejected."""
    return {"role": "user", "content": load("repair").replace("{error}", error)}
