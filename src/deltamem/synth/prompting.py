"""Pure prompt builders for the four synthesis steps, plus the JSON schemas used only as a fallback.

Templates live in ``prompts/*.txt`` and use ``$name`` placeholders (:class:`string.Template`), so the JSON examples
in them need no brace escaping. Prompts are short and ask for one small JSON object: they are written for a 1.5B
model with an 8k context.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from string import Template
from typing import Any

from deltamem.core import MemoryState
from deltamem.synth.personas import Persona
from deltamem.synth.prompts import load
from deltamem.synth.records import id_number
from deltamem.synth.validate import LabelledOp

Messages = list[dict[str, Any]]


def _fill(template: str, /, **values: object) -> str:
    return Template(load(template)).substitute({k: str(v) for k, v in values.items()})


def _messages(user: str) -> Messages:
    return [{"role": "system", "content": load("system")}, {"role": "user", "content": user}]


def example_texts(template: str) -> tuple[str, ...]:
    """The texts of the JSON example shown in a prompt (the last ``{...}`` line of the template): its ops' memory
    texts, or its dialogue turns.

    A small model sometimes copies them as if they were about the persona; the ops and dialogue checks refuse them.
    """
    for raw in reversed(load(template).splitlines()):
        if raw.startswith("{"):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                return ()
            items = [*data.get("ops", []), *data.get("turns", [])]
            return tuple(str(o["text"]) for o in items if isinstance(o, dict) and o.get("text"))
    return ()


def memory_lines(state: MemoryState) -> str:
    """``m3 [2024-02-01] text`` lines in id order, or ``(none)``."""
    if not len(state):
        return "(none)"
    return "\n".join(f"{k} [{state[k].timestamp:%Y-%m-%d}] {state[k].text}" for k in sorted(state, key=id_number))


def profile_messages(persona: Persona, *, start: str, n_min: int, n_max: int) -> Messages:
    """Step 1: seed persona → enriched profile and the initial memories S_0."""
    return _messages(_fill("profile", persona=persona.describe(), start=start, n_min=n_min, n_max=n_max,
                           first=persona.first_name))


def timeline_messages(persona: Persona, *, profile: str, state: MemoryState, start: str,
                      dates: Sequence[str]) -> Messages:
    """Step 2: profile + S_0 → one event per given date (the dates are ours, so the order is guaranteed)."""
    return _messages(_fill("timeline", name=persona.name, first=persona.first_name, profile=profile,
                           memories=memory_lines(state), start=start, n=len(dates), dates="\n".join(dates)))


def ops_messages(persona: Persona, *, state: MemoryState, date: str, event: str) -> Messages:
    """Step 3: S_t + one event → labelled memory operations."""
    return _messages(_fill("ops", first=persona.first_name, memories=memory_lines(state), date=date, event=event))


def change_lines(ops: Sequence[LabelledOp], state: MemoryState) -> str:
    """What a session must convey, one line per op (old and new text, so UPDATEs read as changes)."""
    lines = []
    for lo in ops:
        if lo.op.kind == "ADD":
            lines.append(f"- new: {lo.target_text}")
        elif lo.op.kind == "UPDATE":
            lines.append(f"- changed: {state[lo.op.id].text} -> now: {lo.target_text}")
        else:
            lines.append(f"- no longer true: {lo.target_text}")
    return "\n".join(lines)


def dialogue_messages(persona: Persona, *, state: MemoryState, ops: Sequence[LabelledOp], date: str, event: str,
                      min_turns: int, max_turns: int) -> Messages:
    """Step 4: the changes of one event → a dated user/assistant dialogue expressing them."""
    keywords = ", ".join(dict.fromkeys(k for lo in ops for k in lo.keywords))
    return _messages(_fill("dialogue", first=persona.first_name, persona=persona.describe(), date=date, event=event,
                           changes=change_lines(ops, state), keywords=keywords, min_turns=min_turns,
                           max_turns=max_turns))


def repair_message(error: str) -> dict[str, Any]:
    """The user turn that shows the model why its reply failed."""
    return {"role": "user", "content": _fill("repair", error=error)}


_STR_LIST = {"type": "array", "items": {"type": "string"}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "profile": {"type": "object", "required": ["profile", "memories"], "properties": {
        "profile": {"type": "string"},
        "memories": {"type": "array", "items": {"type": "object", "required": ["text", "keywords"], "properties": {
            "text": {"type": "string"}, "keywords": _STR_LIST}}}}},
    "timeline": {"type": "object", "required": ["events"], "properties": {
        "events": {"type": "array", "items": {"type": "object", "required": ["date", "summary"], "properties": {
            "date": {"type": "string"}, "summary": {"type": "string"}}}}}},
    "ops": {"type": "object", "required": ["ops"], "properties": {
        "ops": {"type": "array", "items": {"type": "object", "required": ["op", "keywords"], "properties": {
            "op": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE"]}, "id": {"type": "string"},
            "text": {"type": "string"}, "keywords": _STR_LIST}}}}},
    "dialogue": {"type": "object", "required": ["turns"], "properties": {
        "turns": {"type": "array", "items": {"type": "object", "required": ["speaker", "text"], "properties": {
            "speaker": {"type": "string", "enum": ["user", "assistant"]}, "text": {"type": "string"}}}}}},
}
