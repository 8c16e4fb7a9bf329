"""Validation of model output (labelled ops, dialogues) and of finished transitions. Pure functions.

A failed check raises :class:`Rejection` with a short ``reason`` code (counted in the stats) and a message written
for the model, which is shown to it when the item is regenerated.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from deltamem.core import Add, ChangeSet, Delete, InvalidOperation, MemoryState, Update, apply
from deltamem.core.errors import CorruptDataError, DeltamemError
from deltamem.reward.text import normalise_text
from deltamem.synth.keywords import clean_keywords, dialogue_index, missing_in_dialogue, missing_in_text
from deltamem.synth.records import Evolution, day, op_from_row, state_from_rows, state_rows

_USER = {"user", "human", "me", "client", "persona"}
_ASSISTANT = {"assistant", "ai", "bot", "model", "gpt"}


class Rejection(DeltamemError):
    """Model output that fails a synthesis check; ``reason`` is a short code, the message is for the model."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LabelledOp:
    """One target op with its keyword labels and its evolution kind (ADD: padding; UPDATE/DELETE reaching a memory
    from the initial state: intra; reaching a memory written by an earlier event: inter)."""

    op: Add | Update | Delete
    keywords: tuple[str, ...]
    evolution: Evolution
    target_text: str  # the text the keywords must occur in: the new text, or the deleted memory's text


def check_event_ops(data: Mapping[str, Any], state: MemoryState, *, next_id: int, when: datetime,
                    origin: Mapping[str, int | None], max_ops: int = 8,
                    trimmed: Counter[str] | None = None,
                    example_texts: Sequence[str] = ()) -> tuple[list[LabelledOp], ChangeSet]:
    """Turn a model reply ``{"ops": [...]}`` into labelled ops that apply cleanly to ``state``.

    ADD ops get ids ``m<next_id>``, ``m<next_id+1>``, ...; ``origin`` maps each memory id to the event that last
    wrote it (None for the initial state). Returns the ops and the change set of applying them at ``when``.

    Strict by default: any bad op rejects the whole reply. With a ``trimmed`` counter, a bad op is dropped instead
    (its reason counted there), keywords missing from the op's text are dropped from its labels, and ops beyond
    ``max_ops`` are cut; the reply is rejected only when no valid op is left. Small models often get most ops of an
    event right and one wrong: regenerating the whole event for one stray op wastes the good ones (ours).
    ``example_texts``: the prompt's example memories; an op copying one is refused (``op_copies_example``).
    """
    items = data.get("ops")
    if not isinstance(items, list) or not items:
        raise Rejection("shape", 'the reply needs a non-empty list "ops"')
    if len(items) > max_ops:
        if trimmed is None:
            raise Rejection("too_many_ops", f"give at most {max_ops} ops, not {len(items)}")
        trimmed["too_many_ops"] += len(items) - max_ops
        items = items[:max_ops]
    labelled: list[LabelledOp] = []
    first: Rejection | None = None
    # live texts, then this reply's new texts
    known: dict[str, str | None] = {normalise_text(e.text): e.id for e in state.values()}
    examples = {normalise_text(t) for t in example_texts}
    for i, item in enumerate(items, 1):
        try:
            lo = _labelled_op(i, item, state, next_id=next_id, when=when, origin=origin,
                              touched={getattr(x.op, "id", "") for x in labelled}, lenient=trimmed is not None)
            if lo is not None and not isinstance(lo.op, Delete):
                if normalise_text(lo.target_text) in examples:
                    raise Rejection("op_copies_example", f"op {i} copies the example; write facts about this person")
                _check_not_duplicate(i, lo, known)
        except Rejection as e:
            if trimmed is None:
                raise
            trimmed[e.reason] += 1
            first = first or e
            continue
        if lo is None:
            continue
        if isinstance(lo.op, Add):
            next_id += 1
        labelled.append(lo)
    if not labelled:
        raise first or Rejection("no_ops", "the event must change memory: give at least one ADD, UPDATE or DELETE")
    try:
        change_set = apply(state, [lo.op for lo in labelled], now=when, session_id=None)
    except InvalidOperation as e:
        reason = "op_unknown_id" if "unknown" in e.reason else "op_invalid"
        raise Rejection(reason, f"the ops do not apply: {e.reason}") from e
    return labelled, change_set


def _check_not_duplicate(i: int, lo: LabelledOp, known: dict[str, str | None]) -> None:
    """A new or updated text must not repeat a live memory or another op of the reply (a 1.5B model often re-ADDs
    facts it was shown); records the text as known when it passes."""
    key = normalise_text(lo.target_text)
    holder = known.get(key, "")
    if key in known and holder != getattr(lo.op, "id", None):
        where = f"memory {holder}" if holder else "another op"
        raise Rejection("op_duplicate", f"op {i} ({lo.op.kind}) repeats {where} word for word; only write facts "
                                        "that are new or changed")
    known[key] = None if isinstance(lo.op, Add) else lo.op.id


def _labelled_op(i: int, item: object, state: MemoryState, *, next_id: int, when: datetime,
                 origin: Mapping[str, int | None], touched: set[str], lenient: bool) -> LabelledOp | None:
    """Op ``i`` of a reply as a labelled op (None for NOOP), or a :class:`Rejection` naming what is wrong."""
    if not isinstance(item, Mapping):
        raise Rejection("shape", f"op {i} must be an object")
    kind = str(item.get("op", "")).strip().upper()
    if kind in ("NOOP", "NONE"):
        return None
    text = item.get("text")
    mid = str(item.get("id", "")).strip()
    keywords = clean_keywords(item.get("keywords"))
    evolution: Evolution
    if kind == "ADD":
        if not isinstance(text, str) or not text.strip():
            raise Rejection("shape", f"op {i} (ADD) needs a non-empty text")
        op: Add | Update | Delete = Add(id=f"m{next_id}", text=text.strip(), timestamp=when, keywords=keywords)
        evolution, target = "padding", text.strip()
    elif kind in ("UPDATE", "DELETE"):
        if mid not in state:
            raise Rejection("op_unknown_id", f"op {i} uses id {mid or '(none)'!r}, which is not in the memory "
                                             f"list; use one of {', '.join(list(state)[:12])}")
        if lenient and mid in touched:  # strict mode leaves this to apply(), which names both ops
            raise Rejection("op_invalid", f"op {i} changes {mid} a second time; one op per memory")
        evolution = "intra" if origin.get(mid) is None else "inter"
        if kind == "DELETE":
            op, target = Delete(id=mid), state[mid].text
        else:
            if not isinstance(text, str) or not text.strip():
                raise Rejection("shape", f"op {i} (UPDATE {mid}) needs the new full text")
            if normalise_text(text) == normalise_text(state[mid].text):
                raise Rejection("op_unchanged", f"op {i} (UPDATE {mid}) repeats the old text; change the fact")
            op = Update(id=mid, text=text.strip(), timestamp=when, keywords=keywords)
            target = text.strip()
    else:
        raise Rejection("shape", f"op {i}: op must be ADD, UPDATE or DELETE, not {kind or '(missing)'!r}")
    missing = missing_in_text(keywords, target)
    if lenient and missing:
        keywords = tuple(k for k in keywords if k not in missing)
        if not isinstance(op, Delete):
            op = replace(op, keywords=keywords)
        missing = ()
    if not keywords:
        reason = "keyword_not_in_text" if lenient else "op_missing_keywords"
        raise Rejection(reason, f"op {i} ({kind}) needs 1-4 keywords copied word for word from {target!r}")
    if missing:
        raise Rejection("keyword_not_in_text", f"op {i} ({kind}): keywords {list(missing)} do not occur in "
                                               f"{target!r}; copy keywords word for word from that text")
    return LabelledOp(op, keywords, evolution, target)


def check_dialogue(data: Mapping[str, Any], ops: Sequence[LabelledOp], *, min_turns: int, max_turns: int,
                   keyword_coverage: float = 1.0, example_texts: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Turn a model reply ``{"turns": [...]}`` into ``(speaker, text)`` turns that express ``ops``.

    Rule: for every ADD / UPDATE, at least ``keyword_coverage`` of its keywords (all, by default) occur in the
    dialogue or are lexically paraphrased (:mod:`deltamem.synth.keywords`); for every DELETE at least one of its
    keywords does (the dialogue must at least refer to the retracted fact). A user turn that (nearly) repeats one of
    the prompt's ``example_texts`` is refused (``dialogue_copies_example``).
    """
    items = data.get("turns", data.get("dialogue"))
    if not isinstance(items, list):
        raise Rejection("shape", 'the reply needs a list "turns" of {"speaker", "text"}')
    turns: list[tuple[str, str]] = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise Rejection("shape", f"turn {i} must be an object with speaker and text")
        who = str(item.get("speaker", item.get("role", ""))).strip().lower()
        text = item.get("text", item.get("content"))
        if not isinstance(text, str) or not text.strip():
            raise Rejection("shape", f"turn {i} has no text")
        speaker = "user" if who in _USER else "assistant" if who in _ASSISTANT else ""
        if not speaker:
            raise Rejection("shape", f'turn {i}: speaker must be "user" or "assistant", not {who!r}')
        turns.append((speaker, text.strip()))
    if not min_turns <= len(turns) <= max_turns:
        raise Rejection("dialogue_length", f"write {min_turns}-{max_turns} turns, not {len(turns)}")
    if "user" not in {s for s, _ in turns}:
        raise Rejection("dialogue_speakers", "the user must speak")
    for i, (speaker, text) in enumerate(turns, 1):  # the user's words carry the facts; the example's are not theirs
        if speaker == "user" and any(_near_copy(text, ex) for ex in example_texts):
            raise Rejection("dialogue_copies_example", f"turn {i} repeats the example; write this person's own words")
    problems = dialogue_problems([t for _, t in turns], ops, keyword_coverage=keyword_coverage)
    if problems:
        raise Rejection("dialogue_missing_keywords", "the dialogue must mention these changes: " + "; ".join(problems))
    return turns


def _near_copy(text: str, example: str, *, ratio: float = 0.8) -> bool:
    """True when ``text`` is the example with small edits ("Hey!" for "Hi!"), compared on normalised text."""
    a, b = normalise_text(text), normalise_text(example)
    return bool(b) and (b in a or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= ratio)


def dialogue_problems(texts: Sequence[str], ops: Sequence[LabelledOp] | Sequence[Mapping[str, Any]], *,
                      keyword_coverage: float = 1.0) -> list[str]:
    """Per changed memory, the keywords the dialogue misses (see :func:`check_dialogue`); empty when it passes."""
    index = dialogue_index(texts)
    problems: list[str] = []
    for lo in ops:
        kind, kws = (lo.op.kind, lo.keywords) if isinstance(lo, LabelledOp) else (str(lo["op"]), lo["keywords"])
        if not kws:
            continue
        missing = missing_in_dialogue(kws, index)
        found = len(kws) - len(missing)
        ok = found >= 1 if kind == "DELETE" else found >= keyword_coverage * len(kws) - 1e-9
        if not ok:
            problems.append(f"{kind} needs {', '.join(repr(k) for k in missing)}")
    return problems


def transition_problems(row: Mapping[str, Any], *, keyword_coverage: float = 1.0) -> list[str]:
    """Everything wrong with one finished transition: shape, ops applying to S_t and giving S*_{t+1}, keywords in
    target texts, keywords (or paraphrases) in the dialogue. Empty when the transition is valid."""
    try:
        when = day(str(row["date"]))
        state = state_from_rows(row["state"])
        target_state = state_from_rows(row["next_state"])
        ops = [op_from_row(o, when) for o in row["ops"]]
        texts = [str(t["text"]) for t in row["session"]]
        labels = [(str(o["op"]).upper(), [str(k) for k in o["keywords"]]) for o in row["ops"]]
    except (KeyError, TypeError, ValueError, CorruptDataError) as e:
        return [f"malformed transition: {e}"]
    problems: list[str] = []
    if not ops:
        problems.append("no ops")
    try:
        result = apply(state, ops, now=when)
    except InvalidOperation as e:
        return [*problems, f"ops do not apply to S_t: {e}"]
    if state_rows(result.state) != state_rows(target_state):
        problems.append("applying the ops to S_t does not give next_state")
    for (kind, kws), op in zip(labels, ops, strict=True):
        target = state[op.id].text if isinstance(op, Delete) and op.id in state else getattr(op, "text", "")
        missing = missing_in_text(kws, target)
        if not kws:
            problems.append(f"{kind} {getattr(op, 'id', '')}: no keywords")
        elif missing:
            problems.append(f"{kind} {getattr(op, 'id', '')}: keywords {list(missing)} not in {target!r}")
    problems += [f"dialogue: {p}" for p in dialogue_problems(
        texts, [{"op": k, "keywords": kws} for k, kws in labels], keyword_coverage=keyword_coverage)]
    return problems
