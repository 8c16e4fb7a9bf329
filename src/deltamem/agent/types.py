"""The agent's configuration and what one run of it returns (shared by the windowed and the whole-session mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from deltamem.agent.guards import GuardConfig, Rejected
from deltamem.core import MemoryEntry, Operation
from deltamem.llm.base import Usage


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Budgets and knobs of the agent.

    ``mode``: ``"windowed"`` (default) works through a session in windows of ``window`` messages, extract then
    decide (:mod:`deltamem.agent.episode`); ``"session"`` is the one-call ReAct loop over the whole session, for
    models strong enough to emit a long session's operations in one reply.
    """

    mode: Literal["windowed", "session"] = "windowed"
    window: int = 10  # messages per extraction call (windowed mode)
    relate_cosine: float = 0.35  # a memory this close in topic to a fact is judged against it by the model
    slot_cosine: float = 0.1  # ... and so is one this close on one lasting attribute (home, work, partner ...)
    same_cosine: float = 0.9  # ... and one this close is the same fact (no call)
    end_candidates: int = 2  # nearest memories a model-free ending rule (a move, "quit", a new workplace) looks at
    max_candidates: int = 1  # memories the model judges against one fact, nearest first (docs/agent.md: why one)
    max_judgements: int = 6  # judgement calls per window; past it, facts are added unjudged
    also_end_cosine: float = 0.45  # a memory this close to a fact that ends it is deleted with the one it replaces
    per_person: bool = False  # one extraction call per person of the window (else one for everyone)
    evidence: bool = True  # keep the line each fact came from in the memory's metadata (the answerer reads it)
    extract_tokens: int = 400
    decide_tokens: int = 16
    constrained: bool = True  # grammar-constrained replies where the backend supports JSON schemas
    seed_k: int = 3  # memories per session sentence in the seed search
    max_seed_memories: int = 16
    search_k: int = 5
    max_turns: int = 4  # LLM calls per session, repair included
    max_searches: int = 4
    max_output_tokens: int = 512
    max_total_tokens: int = 24_000  # prompt + completion tokens over one session's loop
    temperature: float = 0.0
    native_tools: bool = True  # use the backend's tool calls when it has them
    stop: tuple[str, ...] = ("\n\n\n\n",)
    guards: GuardConfig = field(default_factory=GuardConfig)


@dataclass(frozen=True, slots=True)
class Turn:
    """One LLM call of the loop and what came of it."""

    kind: str  # "ops" | "search" | "repair"
    reply: str
    usage: Usage
    detail: str = ""


@dataclass
class AgentResult:
    """The ops to apply and everything needed to see why: turns, searches, shown memories, rejections, cost.

    ``rejected``: ops left out (by a guard, or a DELETE of an id never shown). ``repaired``: UPDATEs of an id never
    shown, turned into ADDs of their text; each such ADD is in ``ops``, or in ``rejected`` if a guard refused it.
    ``ignored``: ops whose fields other than kind, target and text (timestamps, metadata, ids, provenance) the
    model wrote and the agent left out: times and provenance come from the session, ids from the store.
    """

    ops: list[Operation]
    rejected: list[Rejected]
    turns: list[Turn]
    searches: list[tuple[str, ...]]
    shown: dict[str, MemoryEntry]  # alias -> entry
    usage: Usage
    salvaged: bool = False
    repaired: list[Rejected] = field(default_factory=list)
    ignored: list[Rejected] = field(default_factory=list)
    facts: list[FactTrace] = field(default_factory=list)  # windowed mode: what became of each extracted fact

    @property
    def raw(self) -> str:
        """The final model reply."""
        return self.turns[-1].reply if self.turns else ""


@dataclass(frozen=True, slots=True)
class FactTrace:
    """What became of one extracted fact (for traces and replays)."""

    window: int
    fact: str
    decision: str  # NEW | SAME | UPDATE | DELETE | REFUSED
    target: str = ""  # the alias an UPDATE replaced, a SAME repeats or a DELETE retracted
    note: str = ""


