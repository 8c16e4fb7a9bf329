"""A windowed episode: the session worked through in windows of turns, extract-then-decide, one change set at the end.

Per window, one call writes the window's facts (:mod:`deltamem.agent.extract`). Each fact is then searched for in
the working state (the store as this episode has changed it, :mod:`deltamem.agent.working`): a fact with no
memory on its topic is added without a model call, a repeat is a no-op, and otherwise one small call
decides it against its nearest memories (:mod:`deltamem.agent.decide`). Every call is bounded (one window of
turns in, a few facts or one decision out), so no reply has to carry a whole long session's operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deltamem.agent.decide import (
    STILL_TRUE_SCHEMA,
    Decision,
    centred,
    check,
    ends,
    judge_messages,
    kept,
    ongoing,
    other_person,
    parse_still_true,
    retracts,
    same_slot,
    subsumes,
)
from deltamem.agent.extract import (
    FACTS_SCHEMA,
    JOIN_MAX_FACTS,
    JOIN_MAX_WORDS,
    Facts,
    Window,
    about_person,
    adopted,
    copied_reply,
    extract_messages,
    join,
    opens_with,
    parse_facts,
    people,
    reattribute,
    repetitive,
    screen,
    subjects,
    windows,
)
from deltamem.agent.guards import Rejected, attribute, content_words, normalise, sanitise, session_vocabulary, support
from deltamem.agent.session import Message, Session
from deltamem.agent.tools import MemorySearch
from deltamem.agent.types import AgentConfig, AgentResult, FactTrace, Turn
from deltamem.agent.working import Item, WorkingState
from deltamem.core import Add, AgentOutputError
from deltamem.core.model import EVIDENCE_KEY
from deltamem.embed.base import Embedder
from deltamem.llm.base import ChatModel, Usage

#: Why a fact taken from an assistant's line that the person did not adopt is refused.
ASSISTANT_WORDS = "the assistant's words, which the person did not say or adopt"


class WindowedEpisode:
    """One session → operations, in bounded model calls; see the module docstring."""

    def __init__(self, llm: ChatModel, embedder: Embedder | None, config: AgentConfig) -> None:
        self.llm, self.embedder, self.config = llm, embedder, config
        self._judged = 0  # judgement calls in the current window

    def run(self, session: Session, search: MemorySearch) -> AgentResult:
        """Decide the operations for ``session`` against the memories reachable through ``search``."""
        cfg = self.config
        names = people(session)
        state = WorkingState(self.embedder, names)
        self._turns: list[Turn] = []
        self._usage = Usage()
        searches: list[tuple[str, ...]] = []
        refused: list[Rejected] = []
        trace: list[FactTrace] = []
        unreadable = 0
        parts = windows(session, cfg.window)
        for n, window in enumerate(parts):
            facts = self._extract(session, window)
            unreadable += not facts.readable
            refused += [Rejected(Add(text=f), why) for f, why in facts.dropped]
            part = Session(window.messages, session.date, session.id)  # the window as a session of its own
            vocab = session_vocabulary(part)
            self._judged = 0
            lines: dict[tuple[int, str], Line] = {}  # (best line, subject) -> the memory its facts went into
            for fact in facts.facts:
                if support(fact, vocab) < cfg.guards.min_support:
                    refused.append(Rejected(Add(text=fact), "not supported by its window of the conversation"))
                    trace.append(FactTrace(n, fact, "REFUSED", note="not supported by the conversation"))
                    continue
                best = _best_line(fact, window)
                if not adopted(fact, best, window, names, session):
                    refused.append(Rejected(Add(text=fact), ASSISTANT_WORDS))
                    trace.append(FactTrace(n, fact, "REFUSED", note=ASSISTANT_WORDS))
                    continue
                fact = reattribute(fact, best, names)
                searches.append((fact,))
                indices = tuple(window.start + i for i in attribute(fact, part))
                decision = self._decide(fact, state, search, names)
                subject = next((p for p in names if opens_with(fact, p)), None)
                key = (id(best), subject) if best is not None and subject is not None else None
                line = lines.get(key) if key is not None else None
                if decision.kind == "NEW" and line is not None and line.takes(fact, state):
                    line.add(fact, indices, state)
                    trace.append(FactTrace(n, fact, "NEW", line.alias, f"joined to {line.alias}, a fact of its line"))
                    continue
                trace.append(FactTrace(n, fact, decision.kind, decision.target, decision.note))
                alias = _carry_out(decision, fact, indices, state,
                                   evidence(best, session.date) if cfg.evidence else "")
                if key is not None and alias is not None:
                    lines[key] = Line(alias, key[1], [fact])
        if unreadable == len(parts) and self._turns:
            # Not one window gave a usable reply: an error with the raw text, memory untouched, as in session mode.
            raise AgentOutputError(f"no usable fact list in any of the {len(parts)} extraction replies",
                                   raw=self._turns[-1].reply)
        ops, rejected = sanitise(state.ops(), session=session, shown={e.id: e for e in state.shown().values()},
                                 embedder=self.embedder, config=cfg.guards)
        return AgentResult(ops, refused + rejected, self._turns, searches, state.shown(), self._usage, facts=trace)

    def _budget_left(self) -> bool:
        return self._usage.prompt_tokens + self._usage.completion_tokens < self.config.max_total_tokens

    def _extract(self, session: Session, window: Window) -> Facts:
        """The window's facts: one call per person of the window (``per_person``), or one for all of them; when
        that one call only copied lines of the conversation, once more per person (another prompt, which gets the
        small models out of transcribing)."""
        if self.config.per_person:
            return self._passes(session, window, list(subjects(session, window)))
        facts = self._passes(session, window, [None])
        if not copied_reply(facts):
            return facts
        again = self._passes(session, window, list(subjects(session, window)), note=", again per person")
        return Facts(tuple(dict.fromkeys(facts.facts + again.facts)), facts.dropped + again.dropped,
                     facts.readable or again.readable)

    def _passes(self, session: Session, window: Window, passes: list[str | None], note: str = "") -> Facts:
        found: list[str] = []
        dropped: list[tuple[str, str]] = []
        readable = False
        for person in passes:
            if not self._budget_left():
                break
            reply = self.llm.chat(extract_messages(session, window, about=person),
                                  json_schema=FACTS_SCHEMA if self.config.constrained else None,
                                  max_tokens=self.config.extract_tokens, temperature=self.config.temperature)
            self._usage = self._usage + reply.usage
            parsed = parse_facts(reply.content)
            readable = readable or parsed.readable
            facts = repetitive(screen(parsed, people(session)))
            if person is not None:
                facts = about_person(facts, person)
            found += [f for f in facts.facts if f not in found]
            dropped += facts.dropped
            self._turns.append(Turn("extract", reply.content, reply.usage,
                                    f"messages {window.start}-{window.start + len(window.messages) - 1}"
                                    + (f", about {person}" if person else "") + note))
        return Facts(tuple(found), tuple(dropped), readable or not passes)

    def _decide(self, fact: str, state: WorkingState, search: MemorySearch, names: list[str]) -> Decision:
        cfg = self.config
        pool = state.adopt(search.search([fact], cfg.search_k)) + state.new_items()
        pool = [i for i in {i.alias: i for i in pool}.values() if not other_person(fact, i.text, names)]
        ranked = sorted(zip(state.similarities(fact, pool), range(len(pool)), strict=True), reverse=True)
        related = [(s, pool[j]) for s, j in ranked
                   if s >= cfg.relate_cosine or (s >= cfg.slot_cosine and same_slot(fact, pool[j].text))]
        if related and (normalise(related[0][1].text) == normalise(fact) or related[0][0] >= cfg.same_cosine):
            return Decision("SAME", related[0][1].alias, note="repeats a memory (no model call)")
        inside = next((i for _, i in related if subsumes(i.text, fact)), None)
        if inside is not None:
            return Decision("SAME", inside.alias, note="says nothing the memory does not (no model call)")
        # Facts of this same session are only checked for repeats, and a fact that says more than an earlier one
        # of the session takes its place ("Ana is a nurse", then "Ana works as a nurse in Lyon"): a session rarely
        # contradicts itself, and judging each new fact against the others would cost a call per pair. (A stored
        # memory is never widened this way: "went camping" then "went camping last week" are two trips.)
        wider = next((i for _, i in related if i.entry is None and subsumes(fact, i.text)), None)
        if wider is not None:
            return Decision("UPDATE", wider.alias, "says more than a fact of this session (no model call)")
        stored = [i for _, i in related if i.entry is not None]
        ended = next((i for i in stored[:cfg.end_candidates] if ends(fact, i.text, names)), None)
        # What the fact ends may be in more than one memory ("signed up for a pottery class", "pottery helps her
        # cope"): the nearest is replaced (or retracted), the others about it that speak of the present are deleted.
        if ended is not None:
            also = tuple(i.alias for s, i in related if i is not ended and i.entry is not None
                         and s >= cfg.also_end_cosine and ends(fact, i.text, names) and ongoing(i.text)
                         and centred(fact, i.text, names))
            rest = kept(fact, ended.text, names)
            if retracts(fact, ended.text):
                return Decision("DELETE", ended.alias, "the fact only says it is no longer so (no model call)", also,
                                rest)
            return check(Decision("UPDATE", ended.alias, "the fact ends or moves it (no model call)", also, rest),
                         fact, ended, names)
        for item in stored[:cfg.max_candidates]:
            if not self._budget_left() or self._judged >= cfg.max_judgements:
                return Decision("NEW", note="judgement budget spent: added without a judgement")
            self._judged += 1
            reply = self.llm.chat(judge_messages(item.text, fact),
                                  json_schema=STILL_TRUE_SCHEMA if cfg.constrained else None,
                                  max_tokens=cfg.decide_tokens, temperature=cfg.temperature)
            self._usage = self._usage + reply.usage
            still = parse_still_true(reply.content)
            self._turns.append(Turn("judge", reply.content, reply.usage, f"{item.alias}: {item.text} | {fact}"))
            if still is False:
                return check(Decision("UPDATE", item.alias, "no longer true after the fact"), fact, item, names)
        return Decision("NEW")


@dataclass(slots=True)
class Line:
    """The memory that the facts about one person written from one line went into (an ADD or the UPDATE of a
    memory), so that a later new fact of that line is joined to it instead of stored apart
    (:func:`~deltamem.agent.extract.join`): a small model splits a line into fragments that mean little alone."""

    alias: str
    subject: str
    facts: list[str]

    def takes(self, fact: str, state: WorkingState) -> bool:
        """True when ``fact`` can join: the memory is still live and the joined fact stays within the limits."""
        item = state.items[self.alias]
        return (not item.deleted and len(self.facts) < JOIN_MAX_FACTS
                and len(join([*self.facts, fact], self.subject).split()) <= JOIN_MAX_WORDS)

    def add(self, fact: str, indices: tuple[int, ...], state: WorkingState) -> None:
        """Join ``fact`` to the memory."""
        item = state.items[self.alias]
        self.facts.append(fact)
        item.text, item.indices = join(self.facts, self.subject), tuple(sorted({*item.indices, *indices}))


def _carry_out(decision: Decision, fact: str, indices: tuple[int, ...], state: WorkingState, evidence: str
               ) -> str | None:
    """Apply the decision to the working state; the alias of the memory that now holds ``fact``, if one does."""
    for alias in decision.also:
        state.items[alias].deleted = True
    item: Item | None = state.items.get(decision.target) if decision.target else None
    if decision.kind == "NEW" or item is None:
        return state.add(fact, indices, evidence).alias
    if decision.keep:
        # The memory keeps what the fact leaves true, with its source; an ending fact is a memory of its own.
        # It keeps its stored date unless this episode had already rewritten it with a fact of its own.
        item.trimmed = item.trimmed or not item.changed
        item.text = decision.keep
        if item.entry is not None and not item.evidence:
            item.evidence = str(item.entry.metadata.get(EVIDENCE_KEY, ""))
        return state.add(fact, indices, evidence).alias if decision.kind == "UPDATE" else None
    if decision.kind == "DELETE":
        item.deleted = True
    elif decision.kind == "UPDATE":
        item.text, item.indices, item.evidence = fact, indices, evidence
        return item.alias
    return None


#: Longest evidence line kept with a memory; a longer message is cut at a word.
MAX_EVIDENCE_CHARS = 280


def evidence(line: Message | None, date: datetime | None) -> str:
    """The supporting line as kept with a memory, dated because its own time words ("yesterday") count from the
    day it was said: ``'Ana said on 8 May 2023: "..."'``, the quotation cut at a word past
    :data:`MAX_EVIDENCE_CHARS`."""
    if line is None:
        return ""
    said = " ".join(line.text.split())
    if len(said) > MAX_EVIDENCE_CHARS:
        said = said[:MAX_EVIDENCE_CHARS].rsplit(" ", 1)[0] + " …"
    when = f" on {date.day} {date:%B %Y}" if date is not None else ""
    return f'{line.speaker} said{when}: "{said}"'


def _best_line(fact: str, window: Window) -> Message | None:
    """The message of the window sharing the most content words with the fact (the earliest on a tie)."""
    words = content_words(fact)
    scored = [(len(words & content_words(m.text)), -i) for i, m in enumerate(window.messages)]
    if not scored or max(scored)[0] == 0:
        return None
    return window.messages[-max(scored)[1]]
