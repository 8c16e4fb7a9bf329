"""Conversation vocabulary: a :class:`Message` and a dated :class:`Session`, the unit the memory agent works on.

One pair for the whole package: the agent, the facade, the benchmark data loaders (:mod:`deltamem.datasets`) and
the training data all speak it. Times enter through :func:`~deltamem.core.timeutil.as_utc` (naive = UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deltamem.core.changeset import check_label
from deltamem.core.timeutil import as_utc

__all__ = ["Message", "Session"]


@dataclass(frozen=True, slots=True)
class Message:
    """One utterance: who said it, what, and optionally when.

    ``role`` is ``"user"`` / ``"assistant"`` / ``"system"`` where the source has roles (chat logs, most
    benchmarks); ``id`` is the source's own id of the turn where it has one (LoCoMo's ``"D1:3"``).
    """

    speaker: str
    text: str
    time: datetime | None = None
    role: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if self.time is not None:
            object.__setattr__(self, "time", as_utc(self.time, what="message time"))


@dataclass(frozen=True, slots=True)
class Session:
    """A dated conversation session (the agent's unit of work); ``date`` is None where no time is known."""

    messages: tuple[Message, ...]
    date: datetime | None = None
    id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.date is not None:  # the one gate for times (range, zone), also for sessions built directly
            object.__setattr__(self, "date", as_utc(self.date, what="session date"))
        check_label(self.id, "session id")  # stored with the change set, or with the review item that holds it

    @property
    def key(self) -> str:
        """The session's id, or ``""`` for a session without one (for maps and labels)."""
        return self.id or ""

    def transcript(self) -> str:
        """The session as numbered lines ``[i] Speaker: text``."""
        return "\n".join(f"[{i}] {m.speaker}: {m.text}" for i, m in enumerate(self.messages))
