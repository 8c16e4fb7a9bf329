"""One structured synthesis step against any ChatModel: ask, extract JSON, check, repair or regenerate.

Per try: a plain call; if no JSON object can be read, one repair turn showing the model its error; if that fails
too, one call with ``json_schema=`` (constrained decoding where the backend supports it; it is only a fallback
because small models follow a shown example better than a schema). A reply that parses but fails its check is
regenerated with the check's message appended, up to ``max_tries`` tries; then the item is dropped.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from deltamem.llm.base import ChatModel, ChatResponse
from deltamem.synth.jsonio import JSONExtractError, extract_json_object
from deltamem.synth.prompting import Messages, repair_message
from deltamem.synth.validate import Rejection

T = TypeVar("T")


def derive_seed(base: int, *parts: object) -> int:
    """A stable 31-bit seed for one call, from the run seed and the call's identity (item, try, call)."""
    digest = hashlib.sha256(repr((base, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class Tally:
    """What an item cost and why its replies were rejected; stored with the item so stats survive resumes."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    tries: int = 0
    rejections: Counter[str] = field(default_factory=Counter)

    @classmethod
    def resumed(cls, record: Mapping[str, Any] | None) -> Tally:
        """A tally continuing an earlier (dropped) item's: its usage and rejections carry over into the new record."""
        if not record:
            return cls()
        usage = record.get("usage") or {}
        return cls(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                   int(usage.get("calls", 0)), int(usage.get("tries", 0)),
                   Counter({str(k): int(v) for k, v in (record.get("rejections") or {}).items()}))

    def record(self, response: ChatResponse) -> None:
        """Add one call's usage."""
        self.prompt_tokens += response.usage.prompt_tokens
        self.completion_tokens += response.usage.completion_tokens
        self.calls += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``usage`` / ``rejections`` fields of a checkpoint item)."""
        return {"usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                          "calls": self.calls, "tries": self.tries},
                "rejections": dict(sorted(self.rejections.items()))}


@dataclass(frozen=True, slots=True)
class CallSettings:
    """How a step calls the model."""

    max_tries: int = 3
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int = 0


def ask_structured(model: ChatModel, messages: Messages, check: Callable[[Mapping[str, Any]], T], *,
                   schema: Mapping[str, Any], settings: CallSettings, key: str, tally: Tally) -> T | None:
    """Run one step until ``check`` accepts the reply's JSON object (its result is returned) or the tries run out
    (``None``; every rejection is counted in ``tally`` under its reason). ``key`` names the item for seeding; tries
    are numbered on from ``tally.tries``, so an item retried later gets fresh seeds, not its old failing replies."""
    history = list(messages)
    calls = 0

    def call(msgs: Messages, attempt: int, *, with_schema: bool = False) -> ChatResponse:
        nonlocal calls
        calls += 1
        response = model.chat(msgs, json_schema=schema if with_schema else None, max_tokens=settings.max_tokens,
                              temperature=settings.temperature, seed=derive_seed(settings.seed, key, attempt, calls))
        tally.record(response)
        return response

    for attempt in range(tally.tries, tally.tries + settings.max_tries):
        tally.tries += 1
        reply = call(history, attempt).content
        data = _parse(reply)
        if isinstance(data, JSONExtractError):
            repaired = call([*history, {"role": "assistant", "content": reply}, repair_message(str(data))],
                            attempt).content
            data = _parse(repaired)
            if isinstance(data, JSONExtractError):
                reply = call(history, attempt, with_schema=True).content
                data = _parse(reply)
            else:
                reply = repaired
        if isinstance(data, JSONExtractError):
            tally.rejections["json"] += 1
            continue
        try:
            return check(data)
        except Rejection as e:
            tally.rejections[e.reason] += 1
            # Regenerate from the original prompt plus this one failed reply and its reason; older failures are
            # dropped so the prompt stays short for a small context window.
            history = [*messages, {"role": "assistant", "content": reply}, repair_message(str(e))]
    return None


def _parse(text: str) -> dict[str, Any] | JSONExtractError:
    try:
        return extract_json_object(text)
    except JSONExtractError as e:
        return e
