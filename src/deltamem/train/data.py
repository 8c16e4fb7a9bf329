"""Synthetic transitions → GRPO examples: the agent's real first prompt, with the seed search run against S_t.

One example per transition ``(S_t, session) → S*_{t+1}``. S_t is loaded into an :class:`InMemoryStore`, the agent's
own seed search (:meth:`MemorySearch.seed`) retrieves the related memories, and :func:`agent_messages` builds the
exact prompt the deployed agent sees. The memories are shown under aliases (m1, m2, ...) exactly as the agent loop
assigns them; the alias map travels with the example so the reward can map the completion's ids back.

Columns (TRL passes every non-prompt column to the reward function): ``prompt`` (chat messages), ``state`` and
``target`` (JSON records ``{"id", "text", "keywords"}`` of S_t and S*_{t+1}), ``aliases`` (JSON ``{alias: id}``),
``gold`` (the labelled ops as the agent's reply, for the SFT warm-up; empty when the prompt cannot express them),
``id``, ``persona_id``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltamem.agent.prompting import agent_messages
from deltamem.agent.session import Message, Session
from deltamem.agent.tools import MemorySearch
from deltamem.core import Add, MemoryState, apply
from deltamem.core.errors import ConfigError, CorruptDataError
from deltamem.embed.base import Embedder
from deltamem.stores.memory import InMemoryStore
from deltamem.synth.jsonio import read_jsonl
from deltamem.synth.records import day
from deltamem.synth.validate import transition_problems
from deltamem.train.config import AgentSpec, DataSpec
from deltamem.train.sft import gold_reply

_NS = "train"


@dataclass(frozen=True, slots=True)
class Split:
    """Train and held-out examples, plus what was dropped and why (counts)."""

    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    dropped: dict[str, int]
    eval_personas: tuple[str, ...]


def transitions_file(path: str | Path) -> Path:
    """``path`` itself if it is a file, else ``path/transitions.jsonl``; :class:`ConfigError` if absent."""
    p = Path(path)
    f = p if p.is_file() else p / "transitions.jsonl"
    if not f.is_file():
        raise ConfigError(f"no transitions at {p}: expected a synthesis directory holding transitions.jsonl "
                          "(deltamem synth run --out DIR) or the file itself")
    return f


def load_transitions(path: str | Path, *, validate: bool = True) -> list[dict[str, Any]]:
    """Every transition row of a synthesis output; with ``validate``, a row failing the synth checks is an error."""
    f = transitions_file(path)
    try:
        rows = read_jsonl(f)
    except CorruptDataError as e:
        raise ConfigError(f"cannot read {f}: {e}") from e
    if not rows:
        raise ConfigError(f"{f} holds no transitions")
    if validate:
        for n, row in enumerate(rows, 1):
            problems = transition_problems(row)
            if problems:
                raise ConfigError(f"{f}:{n} ({row.get('id', '?')}) is not a valid transition: {'; '.join(problems)}")
    return rows


def curriculum_reason(row: Mapping[str, Any], spec: DataSpec) -> str | None:
    """Why a transition is outside the curriculum limits of ``spec``, or None when it is inside."""
    if spec.max_state_memories and len(row["state"]) > spec.max_state_memories:
        return "too_many_memories"
    if spec.max_ops and len(row["ops"]) > spec.max_ops:
        return "too_many_ops"
    if spec.max_session_turns and len(row["session"]) > spec.max_session_turns:
        return "session_too_long"
    return None


def session_of(row: Mapping[str, Any]) -> Session:
    """The transition's dialogue as an agent :class:`Session` (speakers named as the agent sees them)."""
    name = str(row.get("persona_name") or "User").split()[0]
    msgs = tuple(Message(name if t["speaker"] == "user" else "Assistant", str(t["text"])) for t in row["session"])
    return Session(msgs, day(str(row["date"])), str(row.get("id")))


def build_example(row: Mapping[str, Any], embedder: Embedder, agent: AgentSpec) -> dict[str, Any]:
    """One GRPO example from one transition row (see the module docstring for the columns)."""
    when = day(str(row["date"]))
    adds = [Add(id=str(m["id"]), text=str(m["text"]), timestamp=day(str(m["timestamp"])),
                keywords=tuple(m.get("keywords") or ())) for m in row["state"]]
    seeded = apply(MemoryState(_NS), adds, now=when)
    store = InMemoryStore()
    if adds:
        texts = [a.text for a in adds]
        store.commit(seeded, {c.memory_id: v for c, v in zip(seeded.changes, embedder.embed(texts), strict=True)})
    session = session_of(row)
    shown = MemorySearch(store, embedder, _NS).seed(session, k=agent.seed_k, limit=agent.max_seed_memories)
    related = [(f"m{i}", e) for i, e in enumerate(shown, 1)]  # the agent loop's alias order
    aliases = {a: e.id for a, e in related}
    return {
        "id": str(row["id"]), "persona_id": str(row.get("persona_id", "")),
        "prompt": agent_messages(session, related),
        "state": json.dumps(_records(row["state"])), "target": json.dumps(_records(row["next_state"])),
        "aliases": json.dumps(aliases), "gold": gold_reply(row["ops"], aliases) or "",
    }


def _records(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": str(m["id"]), "text": str(m["text"]), "keywords": [str(k) for k in m.get("keywords") or ()]}
            for m in rows]


def build_split(rows: Sequence[Mapping[str, Any]], spec: DataSpec, agent: AgentSpec, embedder: Embedder, *,
                prompt_tokens: Callable[[list[dict[str, Any]]], int] | None = None,
                max_prompt_tokens: int = 0) -> Split:
    """Curriculum filter, persona-level held-out split, and examples for both parts.

    ``prompt_tokens`` (the tokenizer's count of a chat prompt) drops prompts longer than ``max_prompt_tokens``.
    """
    personas = sorted({str(r.get("persona_id", "")) for r in rows})
    if spec.eval_personas >= len(personas) and spec.eval_personas > 0:
        raise ConfigError(f"data.eval_personas={spec.eval_personas} leaves no persona to train on "
                          f"(the data has {len(personas)})")
    held = tuple(sorted(random.Random(spec.split_seed).sample(personas, spec.eval_personas)))
    dropped: dict[str, int] = {}
    train: list[dict[str, Any]] = []
    held_out: list[dict[str, Any]] = []
    for row in rows:
        reason = curriculum_reason(row, spec)
        if reason is None:
            ex = build_example(row, embedder, agent)
            if prompt_tokens is not None and max_prompt_tokens and prompt_tokens(ex["prompt"]) > max_prompt_tokens:
                reason = "prompt_too_long"
            else:
                (held_out if ex["persona_id"] in held else train).append(ex)
        if reason is not None:
            dropped[reason] = dropped.get(reason, 0) + 1
    if spec.max_train_examples:
        train = train[: spec.max_train_examples]
    if spec.max_eval_examples:
        held_out = held_out[: spec.max_eval_examples]
    if not train:
        raise ConfigError(f"no training example left after the curriculum filter (dropped: {dropped or 'none'})")
    return Split(train, held_out, dropped, held)
