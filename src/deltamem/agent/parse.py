"""Model text → a search request or validated operations (aliases mapped back to ids), or a typed error.

Where the answer sits in the text is the one reply protocol of :mod:`deltamem.core.reply` (shared with the trainer's
reward and ``deltamem reward``). Tolerant where tolerance is safe (code fences, prose and ``<think>`` blocks around
the JSON, a bare list, a reply cut off after some complete ops) and strict where it is not (unknown op kinds,
missing or non-Unicode text): those raise :class:`ParseError` whose message is shown to the model in one repair
turn. The model decides only each op's kind, target and text; whatever else it writes is ignored (and recorded),
never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deltamem.core import Add, InvalidOperation, Operation, Update, op_from_dict
from deltamem.core.reply import Truncated, find_reply, salvage_ops


class ParseError(ValueError):
    """The reply cannot be used; the message says why in words a model can act on."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The model asked to search memory before deciding."""

    queries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OpsReply:
    """The model's final operations (ids already mapped from aliases). ``salvaged``: recovered from a cut reply.

    Ops that named an id that was never shown are not fatal: an UPDATE of such an id becomes an ADD of its text
    (small models write "UPDATE m1" with nothing stored) and is listed in ``repaired``; a DELETE of it is left out
    and listed in ``dropped``. Both list (op dict as written, reason). ``ignored``: (op as parsed, reason) for ops
    whose other fields (timestamps, metadata, ids, provenance, ...) were left out.
    """

    ops: tuple[Operation, ...]
    salvaged: bool = False
    dropped: tuple[tuple[dict[str, Any], str], ...] = ()
    repaired: tuple[tuple[dict[str, Any], str], ...] = ()
    ignored: tuple[tuple[Operation, str], ...] = ()


#: The fields the model chooses, per op kind: the target (a shown alias) and the text. Nothing else it writes is used.
_CHOSEN: dict[str, frozenset[str]] = {"ADD": frozenset({"text"}), "UPDATE": frozenset({"id", "text"}),
                                      "DELETE": frozenset({"id"}), "NOOP": frozenset(), "NONE": frozenset()}
#: Notes a model adds for itself; left out without a record.
_NOTES = frozenset({"reason", "why"})
_EMPTY: tuple[Any, ...] = (None, "", [], {})


def parse_reply(text: str, aliases: Mapping[str, str], *, allow_search: bool = True) -> SearchRequest | OpsReply:
    """Parse a plain-text-protocol reply. ``aliases`` maps shown ids (``m3``) to memory ids."""
    salvaged = False
    try:
        value = find_reply(text)
    except Truncated:
        items = salvage_ops(text)
        if items is None:
            raise ParseError("the reply was cut off before any complete operation") from None
        value, salvaged = {"ops": items}, True
    if value is None:
        raise ParseError("no JSON object found in the reply")
    if isinstance(value, dict) and "search" in value and "ops" not in value:
        if not allow_search:
            raise ParseError("no more searches are allowed; reply with the final ops")
        queries = value["search"]
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, list) or not all(isinstance(q, str) and q.strip() for q in queries) or not queries:
            raise ParseError('"search" must be a list of query strings')
        return SearchRequest(tuple(q.strip() for q in queries[:5]))
    if isinstance(value, dict):
        items = value.get("ops", value.get("operations", value.get("memory")))
        if items is None and "op" in value:
            items = [value]
    else:
        items = value
    if not isinstance(items, list):
        raise ParseError('expected {"ops": [...]} with a list of operations')
    dropped: list[tuple[dict[str, Any], str]] = []
    repaired: list[tuple[dict[str, Any], str]] = []
    ignored: list[tuple[Operation, str]] = []
    ops = parse_ops(items, aliases, dropped=dropped, repaired=repaired, ignored=ignored)
    return OpsReply(tuple(ops), salvaged, tuple(dropped), tuple(repaired), tuple(ignored))


def parse_ops(items: list[Any], aliases: Mapping[str, str], *,
              dropped: list[tuple[dict[str, Any], str]] | None = None,
              repaired: list[tuple[dict[str, Any], str]] | None = None,
              ignored: list[tuple[Operation, str]] | None = None) -> list[Operation]:
    """Validate op dicts against the schema and map aliases to ids; the first problem raises ParseError.

    The model chooses only an op's kind, its target (a shown alias) and its text: any other field it writes (a
    timestamp, metadata, an explicit id, provenance, a namespace, ...) is left out, and listed in ``ignored`` with
    the op, since those come from the session and the system. With ``dropped`` given, ops naming ids that were
    never shown are repaired or dropped (see OpsReply) instead of raising; repairs are recorded in ``repaired`` (in
    ``dropped`` if that is not given).
    """
    ops: list[Operation] = []
    for i, raw in enumerate(items):
        if not isinstance(raw, Mapping):
            raise ParseError(f"op #{i} is not an object")
        kind = str(raw.get("op", raw.get("event", raw.get("kind", "")))).strip().upper()
        chosen = _CHOSEN.get(kind, frozenset())
        item = {k: v for k, v in raw.items() if k in chosen or k in ("op", "event", "kind")}
        extra = sorted(str(k) for k, v in raw.items() if k not in item and k not in _NOTES and v not in _EMPTY)
        if kind in ("UPDATE", "DELETE"):
            alias = str(item.get("id", "")).strip()
            if alias not in aliases:
                if dropped is None:
                    shown = ", ".join(list(aliases)[:12]) or "none"
                    raise ParseError(f"op #{i} uses id {alias or '(missing)'!r}, which is not a shown memory "
                                     f"(shown: {shown})")
                if kind == "UPDATE" and isinstance(item.get("text"), str) and item["text"].strip():
                    (dropped if repaired is None else repaired).append(
                        (dict(raw), f"UPDATE of unknown id {alias!r} kept as ADD"))
                    item = {"op": "ADD", "text": item["text"]}
                else:
                    dropped.append((dict(raw), f"DELETE of unknown id {alias!r} dropped"))
                    continue
            else:
                item["id"] = aliases[alias]
        try:
            op = op_from_dict(item, index=i)
        except InvalidOperation as e:
            raise ParseError(e.reason if e.reason else str(e)) from e
        if isinstance(op, Add | Update):
            if not op.text.strip():
                raise ParseError(f"op #{i} has an empty text")
            if not _is_text(op.text):
                raise ParseError(f"op #{i} has a text that is not valid Unicode")
        if extra and ignored is not None:
            ignored.append((op, f"ignored field(s) the model may not set: {', '.join(extra)}"))
        ops.append(op)
    return ops


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry but no store can write
        return False
    return True
