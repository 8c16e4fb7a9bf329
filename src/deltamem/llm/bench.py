"""A small, reproducible speed check of a local model: load, prefill, decode, and the KV-cache gain across turns.

A counting prompt measures decode speed over ``decode_tokens`` tokens. The exchange mimics the memory agent's
loop: a long fixed system prompt, a session, then a second turn that appends
the model's reply and a tool result. The second turn is timed twice — right after the first (its prefix is in the
KV cache) and cold (``cache_prompt`` off, everything prefilled) — so the gain of prefix reuse is measured.
"""

from __future__ import annotations

from typing import Any

from deltamem.llm.base import Message
from deltamem.llm.local_gguf import LocalGGUFChatModel

_SYSTEM = (
    "You maintain a user's long-term memory. After each session you emit a JSON list of operations: "
    "ADD a new fact, UPDATE a fact that changed (give its id), DELETE a fact that is no longer true, NOOP otherwise. "
    "Facts are short, self-contained, dated sentences about the user. Never invent facts. "
) * 6
_SESSION = "\n".join(
    f"[{i}] user: I {verb} last {day}." for i, (verb, day) in enumerate(
        [("moved to Seattle", "Monday"), ("adopted a cat named Miso", "Tuesday"), ("started pottery", "Wednesday"),
         ("quit my job at the hospital", "Thursday"), ("visited my sister in Boston", "Friday"),
         ("ran a half marathon", "Saturday"), ("sold my old car", "Sunday")] * 3))


def _round(x: Any) -> float:
    return round(float(x), 2)


def run_bench(llm: LocalGGUFChatModel, *, decode_tokens: int = 64) -> dict[str, Any]:
    """Run the exchange and return the figures (tokens, seconds, tokens per second; llama.cpp's own timings)."""
    turn1: list[Message] = [{"role": "system", "content": _SYSTEM},
                            {"role": "user", "content": f"Session:\n{_SESSION}\n\nSearch memory for what you need."}]
    r1 = llm.chat(turn1, max_tokens=decode_tokens)
    t1 = llm.last_timings
    turn2 = [*turn1, {"role": "assistant", "content": r1.content},
             {"role": "user", "content": "search_memory results: (1) lives in Boston (2) works as a nurse. "
                                         "Now emit the operations."}]
    warm = llm.chat(turn2, max_tokens=decode_tokens)
    tw = llm.last_timings
    previous, llm.cache_prompt = llm.cache_prompt, False
    try:
        cold = llm.chat(turn2, max_tokens=decode_tokens)
    finally:
        llm.cache_prompt = previous
    tc = llm.last_timings
    count = llm.chat([{"role": "user", "content": "Count from 1 to 500, one number per line, nothing else."}],
                     max_tokens=decode_tokens)
    td = llm.last_timings
    return {
        "load_seconds": _round(llm.load_seconds),
        "decode_tokens": count.usage.completion_tokens,
        "decode_tok_per_s": _round(td.get("predicted_per_second", 0)),
        "turn1_prompt_tokens": r1.usage.prompt_tokens,
        "turn1_prefill_tok_per_s": _round(t1.get("prompt_per_second", 0)),
        "turn1_decode_tokens": r1.usage.completion_tokens,
        "turn1_decode_tok_per_s": _round(t1.get("predicted_per_second", 0)),
        "turn2_prompt_tokens": warm.usage.prompt_tokens,
        "turn2_warm_cached_tokens": warm.usage.cached_tokens,
        "turn2_warm_prefilled_tokens": int(tw.get("prompt_n", 0)),
        "turn2_warm_prefill_seconds": _round(tw.get("prompt_ms", 0) / 1000),
        "turn2_warm_seconds": _round(warm.usage.seconds),
        "turn2_cold_cached_tokens": cold.usage.cached_tokens,
        "turn2_cold_prefilled_tokens": int(tc.get("prompt_n", 0)),
        "turn2_cold_prefill_seconds": _round(tc.get("prompt_ms", 0) / 1000),
        "turn2_cold_seconds": _round(cold.usage.seconds),
    }
