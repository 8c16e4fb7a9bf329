"""Step two of a windowed episode: one candidate fact against its own nearest memories → NEW / SAME / UPDATE.

The model answers one narrow question per (memory, fact) pair, *is the old memory still true after the new fact?*,
as grammar-constrained ``{"still_true": bool}``, with a few worked examples as earlier chat turns. Measured on the
packaged 1.5B: asked to pick NEW / SAME / UPDATE / DELETE for a fact and its memories, it answered UPDATE for almost
every pair (8 of 18 right on hand-made pairs); asked this question, 14 of 18, its misses keeping a stale memory
beside the new fact rather than destroying one (``docs/agent.md``).

A memory that is no longer true is replaced by the fact (UPDATE); a fact whose topic is that of a memory, word for
word or nearly, is a no-op (SAME); anything else is added (NEW). The model can name no memory and write no text, so
nothing a conversation says can make this step delete a memory or rewrite one with words the session did not state.
Model-free checks come last: a memory of another person is never changed, and an UPDATE that restates the memory
is a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from deltamem.agent.guards import content_words, normalise
from deltamem.agent.prompts import load
from deltamem.agent.working import Item

Kind = Literal["NEW", "SAME", "UPDATE"]

#: The reply format of a judgement call.
STILL_TRUE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"still_true": {"type": "boolean"}},
                                     "required": ["still_true"]}


@cache
def _examples() -> list[tuple[str, str, bool]]:
    raw = resources.files("deltamem.agent.prompts").joinpath("judge_examples.json").read_text(encoding="utf-8")
    return [(str(o), str(n), bool(t)) for o, n, t in json.loads(raw)]


def _pair(old: str, new: str) -> str:
    return f"Old: {old}\nNew: {new}"


def judge_messages(old: str, new: str) -> list[dict[str, Any]]:
    """System, the worked examples as earlier turns, then the pair to judge."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": load("judge_system")}]
    for o, n, still in _examples():
        messages += [{"role": "user", "content": _pair(o, n)},
                     {"role": "assistant", "content": json.dumps({"still_true": still})}]
    return [*messages, {"role": "user", "content": _pair(old, new)}]


def parse_still_true(reply: str) -> bool | None:
    """The judgement, or None when the reply cannot be read (the caller then keeps the memory)."""
    start = reply.find("{")
    if start >= 0:
        try:
            value, _ = json.JSONDecoder().raw_decode(reply, start)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("still_true"), bool):
            return bool(value["still_true"])
    word = reply.strip().strip('."').casefold()
    return {"true": True, "yes": True, "false": False, "no": False}.get(word)


@dataclass(frozen=True, slots=True)
class Decision:
    """What becomes of one fact. ``target``: the alias an UPDATE replaces with the fact, or a SAME repeats.
    ``note``: why (for the trace), empty when the model's judgement stood as it was."""

    kind: Kind
    target: str = ""
    note: str = ""


def check(decision: Decision, fact: str, item: Item | None, names: Sequence[str]) -> Decision:
    """The model-free checks on an UPDATE (see the module docstring); returns the decision to carry out."""
    if decision.kind != "UPDATE" or item is None:
        return decision
    if other_person(fact, item.text, names):
        return Decision("NEW", note=f"UPDATE {decision.target} refused: the memory is about someone else")
    if normalise(fact) == normalise(item.text):
        return Decision("SAME", decision.target, note="UPDATE restates the memory unchanged: a no-op")
    return decision


def other_person(fact: str, memory: str, names: Sequence[str]) -> bool:
    """True when the two texts name different people of the conversation and share none."""
    def named(text: str) -> set[str]:
        words = content_words(text)
        return {n for n in names if content_words(n) and content_words(n) <= words}

    a, b = named(fact), named(memory)
    return bool(a) and bool(b) and not (a & b)
