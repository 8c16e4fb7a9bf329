"""Conversation sessions from what users hand to ``add``: message lists, session objects and files.

The vocabulary itself (:class:`Message`, :class:`Session`) lives in :mod:`deltamem.core.session`; LoCoMo files are read
by the benchmark parser, :mod:`deltamem.datasets.locomo`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from deltamem.core import ConfigError, CorruptDataError
from deltamem.core.session import Message, Session
from deltamem.core.timeutil import as_utc
from deltamem.datasets.common import Record, read_text
from deltamem.datasets.locomo import locomo_sessions

__all__ = ["Message", "Session", "load_sessions", "looks_like_messages", "parse_sessions", "to_session"]


def _message(item: Any, i: int) -> Message:
    if isinstance(item, Message):
        return item
    if not isinstance(item, Mapping):
        raise ConfigError(f"message #{i} must be an object with speaker/role and text/content")
    speaker = item.get("speaker") or item.get("name") or item.get("role")
    text = item.get("text", item.get("content"))
    if not isinstance(speaker, str) or not isinstance(text, str):
        raise ConfigError(f"message #{i} needs a speaker (or role) and a text (or content) string")
    when = item.get("time") or item.get("timestamp")
    return Message(speaker=speaker, text=text, time=as_utc(when, what=f"time of message #{i}") if when else None)


def to_session(data: Session | Sequence[Any] | Mapping[str, Any], *, date: datetime | str | None = None,
               session_id: str | None = None) -> Session:
    """A Session from a Session, a list of messages (OpenAI ``role/content`` or ``speaker/text``) or a dict."""
    if isinstance(data, Session):
        if date is None and session_id is None:
            return data
        return Session(data.messages, as_utc(date, what="session date") if date else data.date, session_id or data.id,
                       data.metadata)
    if isinstance(data, Mapping):
        msgs = data.get("messages")
        if not isinstance(msgs, list):
            raise ConfigError("a session object needs a 'messages' list")
        date = date or data.get("date")
        session_id = session_id or data.get("id")
        data = msgs
    messages = tuple(_message(m, i) for i, m in enumerate(data))
    if not messages:
        raise ConfigError("a session needs at least one message")
    return Session(messages, as_utc(date, what="session date") if date else None, session_id)


def looks_like_messages(data: Any) -> bool:
    """True for a Session, or a non-empty list whose items are message dicts."""
    if isinstance(data, Session):
        return True
    return (isinstance(data, list | tuple) and bool(data) and isinstance(data[0], Mapping)
            and ("role" in data[0] or "speaker" in data[0]) and ("content" in data[0] or "text" in data[0]))


def load_sessions(path: str | Path) -> list[Session]:
    """Read dated sessions from a file.

    Formats: a LoCoMo conversation file (``conversation`` with ``session_N`` / ``session_N_date_time``); a JSON
    object ``{"sessions": [{"id", "date", "messages": [{"speaker", "text"}]}]}`` or a list of such sessions; or JSONL
    with one session per line.
    """
    path = Path(path)
    return parse_sessions(read_text(path), source=path, jsonl=path.suffix == ".jsonl")


def parse_sessions(raw: str, *, source: str | Path = "input", jsonl: bool = False) -> list[Session]:
    """:func:`load_sessions` on text already read (``source`` names it in errors). Besides the file formats, a
    single session object or a bare list of messages is one session."""
    path = Path(source)
    try:
        if jsonl:
            items: Any = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            items = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CorruptDataError(f"{path}: not valid JSON: {e}") from e
    if isinstance(items, list) and items and isinstance(items[0], Mapping) and "conversation" in items[0]:
        items = items[0]  # a LoCoMo file holds a list of conversations: take the first
    try:
        if isinstance(items, Mapping) and isinstance(items.get("conversation"), Mapping):
            return _locomo_sessions(items["conversation"], path)
        if looks_like_messages(items) or (isinstance(items, Mapping) and "messages" in items):
            return [to_session(items)]
        if isinstance(items, Mapping):
            items = items.get("sessions")
        if not isinstance(items, list) or not items:
            raise CorruptDataError(f"{path}: expected a list of sessions or an object with 'sessions'")
        return [to_session(s) for s in items]
    except (ConfigError, ValueError) as e:  # ValidationError (a date) is a ValueError
        raise CorruptDataError(f"{path}: {e}") from e


def _locomo_sessions(conv: Mapping[str, Any], path: Path) -> list[Session]:
    # The benchmark's own parser (strict: a malformed turn is a CorruptDataError naming it); a shared photo is kept
    # as its caption, which the agent can remember.
    sessions = locomo_sessions(Record(dict(conv), path=path, where="conversation"))
    out = [Session(tuple(Message(t.speaker, t.text_with_photo, id=t.dia_id) for t in s.turns), s.date,
                   f"session_{s.number}") for s in sessions if s.turns]
    if not out:
        raise CorruptDataError(f"{path}: LoCoMo conversation without sessions")
    return out
