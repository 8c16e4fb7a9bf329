"""A rule-based fake of the synthesis model: answers the four synthesis prompts with valid, deterministic JSON.

It reads the data back out of the prompts, so a whole synthesis runs without a model (tests, CI, a dry run of the
CLI with ``--llm fake``). The data are formulaic, not realistic: never train on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from deltamem.llm.base import Message
from deltamem.llm.scripted import ScriptedChatModel

_MARKERS = {"profile": '{"profile":', "timeline": '{"events":', "ops": '{"ops":', "dialogue": '{"turns":'}
_MEMORY = re.compile(r"^(m\d+) \[(\d{4}-\d{2}-\d{2})\] (.+)$", re.M)
_FEELINGS = ("relieved", "excited", "nervous", "proud", "tired", "hopeful")
_EVENTS = (
    "{first} starts pottery classes at a studio called Clayhouse.",
    "{first} adopts a rescue cat named Pixel.",
    "{first} moves to a flat in the Riverside district.",
    "{first} switches to working four days a week.",
    "{first} begins learning Portuguese with a tutor.",
    "{first} sells the old bicycle and buys an electric scooter.",
)


def prompt_stage(messages: Sequence[Message]) -> str | None:
    """Which synthesis step a conversation belongs to (``profile``, ``timeline``, ``ops``, ``dialogue``), or None."""
    first_user = next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")
    for stage, marker in _MARKERS.items():
        if marker in first_user:
            return stage
    return None


def _prompt(messages: Sequence[Message]) -> str:
    return next(str(m.get("content", "")) for m in messages if m.get("role") == "user")


def _after(text: str, label: str) -> str:
    m = re.search(re.escape(label) + r"\s*(.*)", text)
    return m.group(1).strip() if m else ""


def _longest_word(text: str) -> str:
    words = re.findall(r"[A-Za-z]{3,}", text)
    return max(words[1:] or words, key=len) if words else text.split()[0]


def fake_reply(messages: Sequence[Message]) -> str:
    """The fake's JSON reply to one synthesis conversation (repair turns get the same, valid, answer)."""
    stage = prompt_stage(messages)
    text = _prompt(messages)
    if stage == "profile":
        line = _after(text, "Person:")
        name, age, rest = (part.strip() for part in line.split(";")[0].split(",", 2))
        first = name.split()[0]
        occupation, _, location = rest.rpartition(" in ")
        city = location.split(",")[0].strip()
        interests = _after(line, "interests:").split(";")[0]
        memories = [
            {"text": f"{first} works as a {occupation}.", "keywords": [occupation]},
            {"text": f"{first} lives in {city}.", "keywords": [city]},
            {"text": f"{first} is {age} years old.", "keywords": [age]},
        ] + [{"text": f"{first} enjoys {i.strip()}.", "keywords": [i.strip()]} for i in interests.split(",") if i]
        return json.dumps({"profile": f"{name} is a {occupation} living in {location}.", "memories": memories})
    if stage == "timeline":
        first = _after(text, "Profile of").split()[0]
        dates = re.findall(r"^\d{4}-\d{2}-\d{2}$", text.split("Dates:", 1)[1], re.M)
        events = [{"date": d, "summary": _EVENTS[i % len(_EVENTS)].format(first=first)} for i, d in enumerate(dates)]
        return json.dumps({"events": events})
    if stage == "ops":
        first = _after(text, "Memories about").split()[0]
        entries: list[tuple[str, str, str]] = _MEMORY.findall(text)
        date, _, summary = _after(text, "Event on").partition(": ")
        n = len(entries)
        ops: list[dict[str, object]] = []
        newest = max(entries, key=lambda m: (m[1], int(m[0][1:])))
        ops.append({"op": "UPDATE", "id": newest[0], "text": f"As of {date}, {summary}",
                    "keywords": [_longest_word(summary)]})
        feeling = _FEELINGS[n % len(_FEELINGS)]
        ops.append({"op": "ADD", "text": f"{first} felt {feeling} on {date}.", "keywords": [feeling]})
        if n % 3 == 0 and n > 2:
            oldest = entries[0] if entries[0][0] != newest[0] else entries[1]
            ops.append({"op": "DELETE", "id": oldest[0], "keywords": [_longest_word(oldest[2])]})
        return json.dumps({"ops": ops})
    if stage == "dialogue":
        first = text.split(":", 1)[0]
        keywords = [k.strip() for k in _after(text, "must use these words:").rstrip(".").split(",") if k.strip()]
        changes = re.findall(r"^- (?:new|changed|no longer true): (.+)$", text, re.M)
        turns = [
            {"speaker": "user", "text": f"Hi, it's {first}. Some news: " + " ".join(changes)},
            {"speaker": "assistant", "text": "Thanks for telling me. How do you feel about it?"},
            {"speaker": "user", "text": "Mostly good. In short: " + ", ".join(keywords) + "."},
            {"speaker": "assistant", "text": "Got it, I will keep that in mind."},
        ]
        return json.dumps({"turns": turns})
    return "{}"


def fake_synth_model(*, name: str = "synth-fake") -> ScriptedChatModel:
    """A ChatModel that answers every synthesis prompt with :func:`fake_reply`."""
    return ScriptedChatModel(name=name, default=fake_reply)
