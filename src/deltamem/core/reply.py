"""The agent's reply protocol: where the answer sits in a model's text. One reader for every place that reads one.

The agent (:mod:`deltamem.agent.parse`), the SFT gold replies (:func:`deltamem.train.sft.gold_reply`, written in
the form read here), the trainer's reward and ``deltamem reward --output`` (:func:`deltamem.reward.extract_ops`)
all find the answer with :func:`find_reply`, so a completion scores in training exactly as the deployed agent
would read it.

The rules:

- ``<think>...</think>`` blocks are left out; an unclosed ``<think>`` hides the rest of the text.
- Fenced code blocks are read before the bare text; inside a block or the text, every complete JSON value is a
  candidate, and the inside of a value is never a separate one.
- A reply value is a list of objects, or an object with one of the reply keys (``ops`` / ``operations`` /
  ``memory`` / ``search``) or a single op (``op``). When several qualify, the **last** wins: drafts come first.
- A reply cut off inside its ops list (the output cap) is :class:`Truncated`: :func:`salvage_ops` recovers the
  complete ops before the cut.
"""

from __future__ import annotations

import json
import re
from typing import Any

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_OPEN = re.compile(r"[\[{]")
_DECODER = json.JSONDecoder()

#: Keys that make an object a reply (besides ``op``, which makes it a single operation).
REPLY_KEYS = frozenset({"ops", "operations", "memory", "search"})


class Truncated(ValueError):
    """The reply's ops value starts but never closes (the reply was cut off)."""


def without_thinking(text: str) -> str:
    """``text`` without ``<think>`` blocks; an unclosed one hides everything after it."""
    text = _THINK.sub("", text)
    unclosed = text.lower().find("<think>")
    return text[:unclosed] if unclosed >= 0 else text


def is_reply(value: Any) -> bool:
    """True for a value the protocol accepts as a reply (see the module docstring)."""
    if isinstance(value, dict):
        return bool(REPLY_KEYS & set(value)) or "op" in value
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def find_reply(text: str) -> Any | None:
    """The reply value of a model's text, or None when it holds none. Raises :class:`Truncated` when the text ends
    inside an unfinished ops value and no complete reply comes after one."""
    text = without_thinking(text)
    for block in reversed(_FENCE.findall(text)):
        found = _last_reply(block)
        if found is not None:
            return found
    if _cut_ops(text) is not None:  # before the scan, which would take a complete op inside the cut list for all
        raise Truncated("the reply was cut off inside its list of operations")
    return _last_reply(text)


def salvage_ops(text: str) -> list[Any] | None:
    """The complete op objects of a reply cut off inside its ``ops`` list, or None when there are none."""
    text = without_thinking(text)
    start = _cut_ops(text)
    if start is None:
        return None
    items, i = [], start + 1
    while True:
        while i < len(text) and text[i] in " \n\r\t,":
            i += 1
        if i >= len(text) or text[i] != "{":
            break
        try:
            value, i = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError:
            break
        items.append(value)
    return items or None


def _last_reply(text: str) -> Any | None:
    last: Any = None
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        try:
            value, end = _DECODER.raw_decode(text, m.start())
        except json.JSONDecodeError:
            pos = m.start() + 1
            continue
        if is_reply(value):
            last = value
        pos = end  # the inside of a decoded value holds no separate answer
    return last


def _cut_ops(text: str) -> int | None:
    """Where the ``[`` of an unfinished ops list starts, if the text ends inside one."""
    key = text.rfind('"ops"')
    if key >= 0:
        start = text.find("[", key)
        if start >= 0:
            try:
                _DECODER.raw_decode(text, start)
            except json.JSONDecodeError:
                return start
            return None
    stripped = text.lstrip()
    if stripped.startswith("[") and stripped[1:].lstrip().startswith("{"):
        start = len(text) - len(stripped)
        try:
            _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            return start
    return None
