"""A word-level diff of two texts, as segments a page shows (kept, removed, inserted)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Literal

from deltamem.core import MemoryEntry

Segment = tuple[Literal["same", "del", "ins"], str]
_TOKEN = re.compile(r"\s+|[^\s]+")


def word_diff(before: str, after: str) -> list[Segment]:
    """``before`` → ``after`` word by word (whitespace kept), neighbouring segments of one kind merged."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    out: list[Segment] = []

    def push(kind: Literal["same", "del", "ins"], words: list[str]) -> None:
        text = "".join(words)
        if not text:
            return
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))

    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            push("same", a[i1:i2])
        else:
            push("del", a[i1:i2])
            push("ins", b[j1:j2])
    return out


def change_diff(before: MemoryEntry | None, after: MemoryEntry | None) -> list[Segment] | None:
    """The word diff of a change that rewrote a memory (UPDATE); None for an ADD or a DELETE."""
    return word_diff(before.text, after.text) if before is not None and after is not None else None
