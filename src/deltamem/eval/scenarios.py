"""The update-scenario suite: hand-written (S_t, session, S*_{t+1} with keywords) cases scored with the MLD reward.

Used to measure an agent LLM (and to compare a trained checkpoint with its base): per scenario the agent runs on
an in-process store seeded with S_t, its operations are applied, and the resulting state is scored against the
target with :class:`deltamem.reward.MLDScorer`.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deltamem.agent.guards import rejected_dicts
from deltamem.agent.loop import AgentConfig, MemoryAgent
from deltamem.agent.session import to_session
from deltamem.agent.tools import MemorySearch
from deltamem.core import Add, AgentOutputError, CorruptDataError, DeltamemError, MemoryState, apply
from deltamem.core.timeutil import as_utc
from deltamem.embed.base import Embedder
from deltamem.llm.base import ChatModel, Usage
from deltamem.stores.memory import InMemoryStore


@dataclass(frozen=True, slots=True)
class Scenario:
    """One hand-written update case."""

    name: str
    kind: str
    session_date: datetime
    state: tuple[str, ...]
    session: tuple[dict[str, str], ...]
    target: tuple[dict[str, Any], ...]  # {"text", "keywords"}


@dataclass
class ScenarioResult:
    """The outcome of one scenario."""

    name: str
    kind: str
    reward: float
    parsed: bool  # the agent produced usable output (at most one repair turn)
    first_try: bool  # ... without needing the repair turn
    final_state: list[str]
    ops: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    usage: dict[str, Any]
    seconds: float
    error: str = ""
    explain: dict[str, Any] = field(default_factory=dict)
    repaired: list[dict[str, Any]] = field(default_factory=list)  # UPDATEs of an id never shown, kept as ADDs


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Read the suite (a JSON list); raises CorruptDataError naming the bad entry."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return [Scenario(s["name"], s["kind"], as_utc(s["session_date"]), tuple(m["text"] for m in s["state"]),
                         tuple(s["session"]), tuple(s["target"])) for s in raw]
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise CorruptDataError(f"{path}: not a scenario suite: {e}") from e


def run_scenario(sc: Scenario, *, llm: ChatModel, embedder: Embedder, scorer: Any,
                 agent_config: AgentConfig | None = None) -> ScenarioResult:
    """Run the agent on one scenario and score the resulting state against the target."""
    store = InMemoryStore()
    ns = "user:scenario"
    seeded = apply(MemoryState(ns), [Add(text=t, timestamp=sc.session_date) for t in sc.state])
    store.commit(seeded, {c.memory_id: v for c, v in zip(seeded.changes, embedder.embed(list(sc.state)), strict=True)})
    session = to_session(list(sc.session), date=sc.session_date, session_id=sc.name)
    agent = MemoryAgent(llm, embedder=embedder, config=agent_config)
    started = time.perf_counter()
    try:
        result = agent.run(session, MemorySearch(store, embedder, ns))
        cs = apply(seeded.state, result.ops)
    except (AgentOutputError, DeltamemError) as e:
        return ScenarioResult(sc.name, sc.kind, 0.0, False, False, [], [], [], {}, time.perf_counter() - started,
                              error=f"{type(e).__name__}: {e}")
    seconds = time.perf_counter() - started
    final = [e.text for e in cs.state.values()]
    scored = scorer.score([{"text": t} for t in final], [dict(t) for t in sc.target])
    u: Usage = result.usage
    from deltamem.core import op_to_dict

    return ScenarioResult(
        sc.name, sc.kind, float(scored.reward), True, all(t.kind != "repair" for t in result.turns), final,
        [op_to_dict(o) for o in result.ops],
        rejected_dicts(result.rejected),
        {"calls": u.calls, "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
         "cached_tokens": u.cached_tokens}, seconds, explain=scored.to_dict() if hasattr(scored, "to_dict") else {},
        repaired=rejected_dicts(result.repaired),
    )


def run_suite(scenarios: Sequence[Scenario], *, llm: ChatModel, embedder: Embedder, scorer: Any,
              agent_config: AgentConfig | None = None,
              on_result: Callable[[ScenarioResult], None] | None = None) -> dict[str, Any]:
    """Run every scenario; returns per-scenario results and the summary (mean reward overall / per kind)."""
    results = []
    for sc in scenarios:
        r = run_scenario(sc, llm=llm, embedder=embedder, scorer=scorer, agent_config=agent_config)
        results.append(r)
        if on_result:
            on_result(r)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r.reward)
    n = len(results) or 1
    return {
        "model": llm.name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenarios": len(results),
        "mean_reward": sum(r.reward for r in results) / n,
        "json_valid_rate": sum(r.parsed for r in results) / n,
        "first_try_valid_rate": sum(r.first_try for r in results) / n,
        "mean_reward_by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
        "mean_seconds": sum(r.seconds for r in results) / n,
        "results": [r.__dict__ for r in results],
    }
