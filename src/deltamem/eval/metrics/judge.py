"""Shared pieces of the LLM-judge protocols: pulling a JSON object out of a reply, and the verdict record.

A reply that cannot be read is never silently turned into a label: the verdict's ``label`` is None and ``reason``
says why, so aggregations can count it (as a failure over "all" items, and leave it out of the "valid" ones).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JudgeVerdict", "extract_json_object", "fenced_json_object"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """A parsed judge reply: ``label`` (benchmark-specific) or None when the reply was unusable."""

    label: str | None
    raw: str
    reason: str = ""
    fields: dict[str, Any] | None = None  # the JSON object the label came from, if any

    @property
    def valid(self) -> bool:
        """True when a label could be read."""
        return self.label is not None


def fenced_json_object(text: str) -> dict[str, Any] | None:
    """The first ```` ```json ```` fenced block of ``text`` that parses to a JSON object, else None.

    This is the strict reading HaluMem's official scorer applies: no fenced JSON means an invalid item.
    """
    for m in _FENCE.finditer(text):
        if m.group(1).lower() in ("json", ""):
            obj = _loads(m.group(2))
            if obj is not None:
                return obj
    return None


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model reply: a fenced block, the whole reply, or the first balanced ``{...}``.

    >>> extract_json_object('Reasoning first. {"label": "CORRECT"} done')
    {'label': 'CORRECT'}
    """
    obj = fenced_json_object(text)
    if obj is not None:
        return obj
    obj = _loads(text)
    if obj is not None:
        return obj
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        end = _balanced_end(text, start)
        if end is not None:
            obj = _loads(text[start:end])
            if obj is not None:
                return obj
    return None


def _loads(s: str) -> dict[str, Any] | None:
    try:
        value = json.loads(s.strip())
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start`` (string-aware), or None."""
    depth = 0
    in_str = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None
