"""Helpers the built-in systems share: who said a message, how it reads as a line, a rough token count."""

from __future__ import annotations

import math
from datetime import datetime

from deltamem.core.session import Message


def speaker_name(message: Message, speakers: tuple[str, ...]) -> str:
    """The name to show for a message.

    Benchmarks with roles (HaluMem, LongMemEval, PersonaMem) say ``user`` / ``assistant``; the user's real name is
    ``speakers[0]`` where the loader knows it (HaluMem), so memories name the person instead of "the user".
    """
    role = (message.role or "").lower()
    if role == "user":
        name = speakers[0] if speakers and speakers[0].lower() not in ("", "user") else "User"
        return name
    if role == "assistant":
        return "Assistant"
    if role == "system":
        return "System"
    return message.speaker


def line(message: Message, speakers: tuple[str, ...]) -> str:
    """``Name: text``."""
    return f"{speaker_name(message, speakers)}: {message.text}"


def iso(date: datetime | None) -> str | None:
    """ISO text of a date as the benchmark files give it (UTC, without an offset), or None."""
    return date.replace(tzinfo=None).isoformat() if date is not None else None


def approx_tokens(text: str) -> int:
    """A model-independent token estimate: one token per 4 characters (rounded up), the usual English average."""
    return math.ceil(len(text) / 4)
