"""Replay deltamem's ingestion of an evaluation run from its LLM cache, and say what became of every proposed op.

The checkpoints of ``deltamem eval`` keep counts of ops per session; this script recovers the detail behind them
without any model call: each agent reply comes from ``<out>/llm_cache`` (a cache miss is an error, so the replay
is exactly the run), the guards run again, and every refused op is listed with its reason; for the windowed
agent, also what became of each extracted fact (NEW / SAME / UPDATE / REFUSED). Run it with the agent
code the run was made with: once the guards or prompts change, later sessions see other prompts and miss the cache.
The committed LoCoMo and HaluMem dev runs replay at commit 506d62e (the guards changed in f56e8ae).

    python bench/replay_ingest.py halumem --data ../shared/data/halumem/halumem_medium_dev.jsonl \
        --out docs/results/halumem-dev --conversations 4fd09df4-d0df-ff7e-bb39-5f4faedfac2c --sessions 15

Prints a per-session table and writes ``<out>/replay_deltamem.json`` (per session: replies cut at the output cap,
applied ops, repaired and refused ops with reasons, memories after the session).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deltamem.agent.guards import rejected_dicts
from deltamem.config import EmbedderConfig
from deltamem.core.errors import ConfigError
from deltamem.eval.benchmarks import BENCHMARKS
from deltamem.eval.plan import build_plan
from deltamem.eval.systems.deltamem_system import DeltamemSystem, session_messages
from deltamem.llm.base import Message
from deltamem.llm.cache import CachedChatModel
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.registry import build_embedder


def cache_only(name: str, supports_tools: bool) -> ScriptedChatModel:
    """A ChatModel that has no model: every request must be answered by the cache in front of it."""
    def miss(messages: Sequence[Message]) -> str:
        raise ConfigError(f"cache miss for model {name!r}: this replay is not the run that filled the cache "
                          "(other model name or settings, or newer agent code: check out the commit the run was "
                          "made with)")

    return ScriptedChatModel(name=name, supports_tools=supports_tools, default=miss)


def reason_kind(reason: str) -> str:
    """A refusal reason without its particulars (what follows a colon, quoted texts, numbers), for counting."""
    head = reason.split(": ", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?", "…", head)).strip()


def replay(bench: str, data: Path, out: Path, conversations: Sequence[str] | None, sessions: int | None,
           model_name: str, supports_tools: bool, embedder: str = "minilm") -> list[dict[str, Any]]:
    """Ingest the planned sessions through the cache only; one record per session."""
    llm = CachedChatModel(cache_only(model_name, supports_tools), out / "llm_cache")
    system = DeltamemSystem(llm, build_embedder(EmbedderConfig(provider=embedder)))  # type: ignore[arg-type]
    assert system.memory.agent is not None  # the facade builds one from the llm
    cfg = system.memory.agent.config
    # The output cap of each kind of call: one cap for the whole-session reply; per step in the windowed episode.
    caps = {"extract": cfg.extract_tokens, "judge": cfg.decide_tokens}
    records: list[dict[str, Any]] = []
    try:
        for plan in build_plan(bench, data, conversations=conversations, sessions=sessions):  # type: ignore[arg-type]
            system.reset(plan.id)
            for step in plan.steps:
                res = system.memory.add(session_messages(step.session, plan.speakers), namespace=plan.id,
                                        session_id=step.session.id, session_date=step.session.date)
                agent = res.agent
                applied = Counter(c.kind for c in res.change_set.changes) if res.change_set else Counter()
                repaired, refused = (agent.repaired, agent.rejected) if agent else ([], [])
                records.append({
                    "conversation": plan.id, "session": step.session.id,
                    "replies": len(agent.turns) if agent else 0,
                    "replies_at_cap": sum(t.usage.completion_tokens >= caps.get(t.kind, cfg.max_output_tokens)
                                          for t in agent.turns) if agent else 0,
                    "facts": dict(Counter(f.decision for f in agent.facts)) if agent else {},
                    "applied": dict(applied),
                    "repaired": len(repaired),
                    "refused": dict(Counter(reason_kind(r.reason) for r in refused)),
                    "refused_examples": rejected_dicts(refused[:5]),
                    "memories": [m.text for m in system.memories(plan.id)],
                })
    finally:
        system.close()
    return records


def summary_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: one row per session, then the totals of refusal reasons."""
    rows = ["| session | replies (at cap) | applied | repaired | refused | memories after |",
            "| --- | ---: | --- | ---: | ---: | ---: |"]
    reasons: Counter[str] = Counter()
    for r in records:
        refused = sum(r["refused"].values())
        reasons.update(r["refused"])
        applied = ", ".join(f"{k} {v}" for k, v in sorted(r["applied"].items())) or "-"
        rows.append(f"| {r['session']} | {r['replies']} ({r['replies_at_cap']}) | {applied} | {r['repaired']} | "
                    f"{refused} | {len(r['memories'])} |")
    rows += ["", "| refusal reason | count |", "| --- | ---: |"]
    rows += [f"| {k} | {v} |" for k, v in reasons.most_common()]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", choices=BENCHMARKS)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="the evaluation's --out folder")
    ap.add_argument("--conversations", default=None)
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--model-name", default="local:default",
                    help="the systems' model name as the run saw it (part of the cache key)")
    ap.add_argument("--tools", action="store_true", help="the model had native tool calls in the run")
    ap.add_argument("--embedder", default="minilm", choices=("minilm", "hashing"), help="the run's embedder")
    args = ap.parse_args()
    convs = args.conversations.split(",") if args.conversations else None
    records = replay(args.bench, args.data, args.out, convs, args.sessions, args.model_name, args.tools,
                     args.embedder)
    (args.out / "replay_deltamem.json").write_text(json.dumps(records, indent=1, ensure_ascii=False),
                                                   encoding="utf-8")
    print(summary_table(records))


if __name__ == "__main__":
    main()
