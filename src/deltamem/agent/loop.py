"""The session-level ReAct memory agent: seed search → (think → search_memory → observe)* → operations.

A small model can act in one call because the first observation (memories related to the session's own sentences)
is in the first prompt; a capable model may still search further, through native tool calls where the backend has
them and a plain-text JSON protocol otherwise. Memories are shown under short aliases (m1, m2, ...) and mapped back
to ids, so the model cannot hallucinate ids and spends few tokens on them. Output that cannot be parsed gets one
repair turn; if that fails too, :class:`AgentOutputError` carries the raw text and memory is left untouched.
"""

from __future__ import annotations

import json
from typing import Any

from deltamem.agent.episode import WindowedEpisode
from deltamem.agent.guards import Rejected, sanitise
from deltamem.agent.parse import OpsReply, ParseError, SearchRequest, parse_reply
from deltamem.agent.prompting import agent_messages, observation_message, repair_message
from deltamem.agent.session import Session
from deltamem.agent.tools import SEARCH_TOOL, MemorySearch
from deltamem.agent.types import AgentConfig, AgentResult, Turn
from deltamem.core import AgentOutputError, MemoryEntry, Operation
from deltamem.embed.base import Embedder
from deltamem.llm.base import ChatModel, ChatResponse, Usage

__all__ = ["AgentConfig", "AgentResult", "MemoryAgent", "Turn"]


class MemoryAgent:
    """Turns one session into memory operations for one namespace (it never writes; the caller applies)."""

    def __init__(self, llm: ChatModel, *, embedder: Embedder | None = None, config: AgentConfig | None = None
                 ) -> None:
        self.llm = llm
        self.embedder = embedder
        self.config = config or AgentConfig()

    def run(self, session: Session, search: MemorySearch) -> AgentResult:
        """Decide the operations for ``session`` against the memories reachable through ``search``."""
        cfg = self.config
        if cfg.mode == "windowed":
            return WindowedEpisode(self.llm, self.embedder, cfg).run(session, search)
        aliases: dict[str, str] = {}
        shown: dict[str, MemoryEntry] = {}

        def alias(entries: list[MemoryEntry]) -> list[tuple[str, MemoryEntry]]:
            out = []
            for e in entries:
                a = next((k for k, v in aliases.items() if v == e.id), None)
                if a is None:
                    a = f"m{len(aliases) + 1}"
                    aliases[a], shown[a] = e.id, e
                out.append((a, e))
            return out

        messages: list[dict[str, Any]] = agent_messages(
            session, alias(search.seed(session, k=cfg.seed_k, limit=cfg.max_seed_memories)))
        tools = [SEARCH_TOOL] if cfg.native_tools and self.llm.supports_tools else None
        turns: list[Turn] = []
        searches: list[tuple[str, ...]] = []
        usage = Usage()
        repaired = False
        max_tokens = min(cfg.max_output_tokens, 96 + 48 * len(session.messages))
        for turn_no in range(cfg.max_turns):
            if usage.prompt_tokens + usage.completion_tokens >= cfg.max_total_tokens:
                raise AgentOutputError(f"token budget of {cfg.max_total_tokens} exhausted after {turn_no} calls",
                                       raw=turns[-1].reply if turns else "")
            may_search = len(searches) < cfg.max_searches and turn_no < cfg.max_turns - 1
            reply = self.llm.chat(messages, tools=tools if may_search else None, max_tokens=max_tokens,
                                  temperature=cfg.temperature, stop=list(cfg.stop))
            usage = usage + reply.usage
            if reply.tool_calls and may_search:
                queries = _tool_queries(reply)
                searches.append(queries)
                results = alias(search.search(list(queries), cfg.search_k))
                messages += _tool_turn(reply, results)
                turns.append(Turn("search", reply.content, reply.usage, "; ".join(queries)))
                continue
            try:
                parsed = parse_reply(reply.content, aliases, allow_search=may_search)
            except ParseError as e:
                turns.append(Turn("repair" if not repaired else "ops", reply.content, reply.usage, str(e)))
                if repaired:
                    raise AgentOutputError(f"unusable agent output after one repair turn: {e}",
                                           raw=reply.content) from e
                repaired = True
                messages += [{"role": "assistant", "content": reply.content}, repair_message(str(e))]
                continue
            if isinstance(parsed, SearchRequest):
                searches.append(parsed.queries)
                results = alias(search.search(list(parsed.queries), cfg.search_k))
                messages += [{"role": "assistant", "content": reply.content},
                             observation_message(results, may_search=turn_no + 1 < cfg.max_turns - 1)]
                turns.append(Turn("search", reply.content, reply.usage, "; ".join(parsed.queries)))
                continue
            assert isinstance(parsed, OpsReply)
            turns.append(Turn("ops", reply.content, reply.usage))
            by_id = {e.id: e for e in shown.values()}
            ops, rejected = sanitise(parsed.ops, session=session, shown=by_id, embedder=self.embedder,
                                     config=cfg.guards)
            rejected = [Rejected(_dropped_op(raw), why) for raw, why in parsed.dropped] + rejected
            repaired_ops = [Rejected(_dropped_op(raw), why) for raw, why in parsed.repaired]
            ignored = [Rejected(op, why) for op, why in parsed.ignored]
            return AgentResult(ops, rejected, turns, searches, dict(shown), usage, parsed.salvaged, repaired_ops,
                               ignored)
        raise AgentOutputError(f"no final operations within {cfg.max_turns} model calls",
                               raw=turns[-1].reply if turns else "")


def _tool_queries(reply: ChatResponse) -> tuple[str, ...]:
    queries: list[str] = []
    for call in reply.tool_calls:
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError:
            continue
        q = args.get("queries", args.get("query")) if isinstance(args, dict) else None
        if isinstance(q, str):
            queries.append(q)
        elif isinstance(q, list):
            queries += [x for x in q if isinstance(x, str)]
    return tuple(q for q in queries if q.strip())[:5]


def _tool_turn(reply: ChatResponse, results: list[tuple[str, MemoryEntry]]) -> list[dict[str, Any]]:
    from deltamem.agent.prompting import memory_lines

    calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
             for c in reply.tool_calls]
    out: list[dict[str, Any]] = [{"role": "assistant", "content": reply.content or "", "tool_calls": calls}]
    text = memory_lines(results)
    out += [{"role": "tool", "tool_call_id": c.id, "content": text} for c in reply.tool_calls]
    return out


def _dropped_op(raw: dict[str, Any]) -> Operation:
    """A record of an op, as written, that named an unknown id (for the trace only; it is never applied as is)."""
    from deltamem.core import Delete, Update

    mid = str(raw.get("id", "?"))
    text = raw.get("text")
    return Update(id=mid, text=text) if isinstance(text, str) and text.strip() else Delete(id=mid)
