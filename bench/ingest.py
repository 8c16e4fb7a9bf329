"""Per-session cost of the memory agent: LLM calls, tokens (prompt / completion / served from the KV cache),
searches, ops and wall time, on the bundled sample conversation and on sessions of a LoCoMo dev conversation.

    python bench/ingest.py --llm local --locomo ../shared/data/locomo/locomo_dev.json --locomo-sessions 5

Targets (issue 5): median ≤ 2 LLM calls per session; prompt tokens actually processed (prompt − cached)
≤ 1.3 × (session tokens + retrieved memory tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from deltamem.agent.prompting import memory_lines
from deltamem.agent.session import Session, load_sessions
from deltamem.config import EmbedderConfig, LLMConfig
from deltamem.facade.memory import Memory
from deltamem.registry import build_chat_model, build_embedder, parse_llm_spec
from deltamem.stores.memory import InMemoryStore


def token_counter(llm: Any) -> tuple[Any, str]:
    """The model's own tokenizer when the backend exposes one, else ~4 characters per token."""
    inner = getattr(llm, "loaded", llm)
    counter = getattr(inner, "count_tokens", None)
    if callable(counter):
        return counter, "model tokenizer"
    return (lambda text: max(1, len(text) // 4)), "chars/4 estimate"


def run(name: str, sessions: list[Session], memory: Memory, count: Any) -> list[dict[str, Any]]:
    rows = []
    for i, session in enumerate(sessions):
        started = time.perf_counter()
        res = memory.add(session, user_id=name)
        wall = time.perf_counter() - started
        agent = res.agent
        assert agent is not None
        u = agent.usage
        shown = list(agent.shown.items())
        session_tokens = count(session.transcript())
        memory_tokens = count(memory_lines(shown)) if shown else 0
        processed = u.prompt_tokens - u.cached_tokens
        rows.append({
            "set": name, "session": session.id or str(i + 1), "messages": len(session.messages),
            "calls": u.calls, "prompt_tokens": u.prompt_tokens, "cached_tokens": u.cached_tokens,
            "processed_prompt_tokens": processed, "completion_tokens": u.completion_tokens,
            "session_tokens": session_tokens, "memory_tokens": memory_tokens,
            "processed_ratio": processed / max(1, session_tokens + memory_tokens),
            "searches": len(agent.searches), "ops": len(agent.ops), "rejected": len(agent.rejected),
            "queued": res.queued, "wall_s": wall, "llm_s": u.seconds,
        })
        r = rows[-1]
        print(f"{name} {r['session']}: {r['calls']} calls, {r['prompt_tokens']} prompt ({r['cached_tokens']} cached), "
              f"{r['completion_tokens']} completion, ratio {r['processed_ratio']:.2f}, {r['ops']} ops, "
              f"{wall:.1f} s", file=sys.stderr)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sessions": len(rows),
        "median_calls": statistics.median(r["calls"] for r in rows),
        "total_processed_prompt_tokens": sum(r["processed_prompt_tokens"] for r in rows),
        "total_session_plus_memory_tokens": sum(r["session_tokens"] + r["memory_tokens"] for r in rows),
        "processed_ratio_total": sum(r["processed_prompt_tokens"] for r in rows)
        / max(1, sum(r["session_tokens"] + r["memory_tokens"] for r in rows)),
        "median_wall_s": statistics.median(r["wall_s"] for r in rows),
        "mean_completion_tokens": statistics.mean(r["completion_tokens"] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", default="local")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--locomo", type=Path, default=None, help="LoCoMo file; its first conversation is used")
    ap.add_argument("--locomo-sessions", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    llm = build_chat_model(LLMConfig(**{k: v for k, v in parse_llm_spec(args.llm).items() if v is not None}))
    embedder = build_embedder(EmbedderConfig(provider=args.embedder))
    memory = Memory(store=InMemoryStore(), embedder=embedder, llm=llm)
    count, counting = token_counter(llm)
    sample = resources.files("deltamem.samples").joinpath("caroline.json")
    with resources.as_file(sample) as path:
        rows = run("sample", load_sessions(path), memory, count)
    if args.locomo:
        rows += run("locomo", load_sessions(args.locomo)[: args.locomo_sessions], memory, count)
    sets = sorted({r["set"] for r in rows})
    report = {
        "command": "python " + " ".join(sys.argv), "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "llm": args.llm, "embedder": embedder.name, "token_counting": counting,
        "platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
        "summary": {s: summary([r for r in rows if r["set"] == s]) for s in sets} | {"all": summary(rows)},
        "sessions": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_bench.json").write_text(json.dumps(report, indent=2))
    lines = ["| set | session | msgs | calls | prompt | cached | processed | completion | ratio | searches | ops | "
             "rejected | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['set']} | {r['session']} | {r['messages']} | {r['calls']} | {r['prompt_tokens']} | "
              f"{r['cached_tokens']} | {r['processed_prompt_tokens']} | {r['completion_tokens']} | "
              f"{r['processed_ratio']:.2f} | {r['searches']} | {r['ops']} | {r['rejected']} | {r['wall_s']:.1f} |"
              for r in rows]
    (args.out / "ingest_bench.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
