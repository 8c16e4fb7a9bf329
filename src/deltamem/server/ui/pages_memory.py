"""Memories: the paginated list with the API's hybrid search and filters, and one memory with its provenance and
history (a timeline of ADD / UPDATE / DELETE with word-level diffs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from deltamem.core import MemoryEntry
from deltamem.core.timeutil import as_utc
from deltamem.server.deps import ServerState
from deltamem.server.ui.auth import Signed, State, UiSession
from deltamem.server.ui.diff import change_diff
from deltamem.server.ui.render import page
from deltamem.server.ui.views import PAGE_SIZE, namespace
from deltamem.stores.base import Filters

router = APIRouter()
Name = Annotated[str, Query(max_length=500)]
EXCERPT_CONTEXT = 1  # lines shown around the ones a memory was written from


@dataclass(frozen=True, slots=True)
class Row:
    """One memory in the list: the entry, and when it was deleted (None while live)."""

    entry: MemoryEntry
    deleted_at: datetime | None = None
    score: float | None = None


def _day(value: str, what: str) -> date | None:
    """A date field of the filter form: empty (the form sends ``since=`` when left blank) or ``YYYY-MM-DD``."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise HTTPException(400, f"{what} must be a date like 2024-05-31, not {value[:40]!r}") from None


def _filters(since: date | None, until: date | None) -> Filters | None:
    if since is None and until is None:
        return None
    if since is not None and until is not None and since > until:
        raise HTTPException(400, "the date range ends before it starts")
    return Filters(since=as_utc(datetime.combine(since, time.min)) if since else None,
                   until=as_utc(datetime.combine(until, time.max)) if until else None)


@router.get("/memories")
def memories(request: Request, session: Signed, st: State, ns: Name = "",
             q: Annotated[str, Query(max_length=2000)] = "",
             status: Literal["live", "deleted"] = "live",
             since: Annotated[str, Query(max_length=40)] = "", until: Annotated[str, Query(max_length=40)] = "",
             page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1) -> Response:
    """The memories of a namespace, ``PAGE_SIZE`` a page; ``q`` runs the hybrid search of the API instead."""
    full = namespace(st, session, ns)
    filters = _filters(_day(since, "from"), _day(until, "to"))
    offset = (page_no - 1) * PAGE_SIZE
    rows: list[Row]
    more = False
    if q.strip() and status == "live":
        hits = st.memory.search(q, namespace=full, k=PAGE_SIZE, filters=filters)
        rows = [Row(h.entry, score=h.score) for h in hits]
    elif status == "deleted":  # most recently deleted first; ``q`` keeps those holding every word
        words = q.lower().split()
        gone = st.memory.store.deleted_entries(full, filters=filters, limit=None if words else PAGE_SIZE + 1,
                                               offset=0 if words else offset)
        if words:
            gone = [g for g in gone if all(w in g[0].text.lower() for w in words)][offset:]
        rows, more = [Row(e, when) for e, when in gone[:PAGE_SIZE]], len(gone) > PAGE_SIZE
    else:
        entries = st.memory.store.list_entries(full, filters=filters, limit=PAGE_SIZE + 1, offset=offset)
        rows, more = [Row(e) for e in entries[:PAGE_SIZE]], len(entries) > PAGE_SIZE
    return page(request, "memories.html", session=session, ns=ns, rows=rows, q=q, status=status,
                since=since, until=until, page_no=page_no, more=more, offset=offset,
                total=st.memory.store.count(full))


def _excerpt(st: ServerState, session: UiSession, ns: str, entry: MemoryEntry) -> list[dict[str, Any]] | None:
    """The conversation lines a memory came from, with a line of context around them, where the session was
    ingested through this server (its job keeps the messages); None otherwise."""
    if entry.session_id is None:
        return None
    job = st.jobs.for_session(session.tenant, ns, entry.session_id)
    if job is None:
        return None
    messages = job.request.get("messages") or []
    marked = set(entry.message_indices)
    keep = {j for i in marked for j in range(i - EXCERPT_CONTEXT, i + EXCERPT_CONTEXT + 1)}
    lines = []
    for i, m in enumerate(messages):
        if i in keep and isinstance(m, dict):
            lines.append({"index": i, "speaker": str(m.get("speaker") or m.get("role") or ""),
                          "text": str(m.get("text") or m.get("content") or ""), "source": i in marked})
    return lines


@router.get("/memory")
def memory(request: Request, session: Signed, st: State, ns: Name = "",
           id: Annotated[str, Query(max_length=200)] = "") -> Response:
    """One memory: text, timestamps, provenance (session, lines, conversation excerpt) and its history."""
    full = namespace(st, session, ns)
    records = st.memory.store.history(full, memory_id=id) if id else []
    if not records:
        raise HTTPException(404, "no such memory")
    live = st.memory.store.get(full, [id]).get(id)
    last = records[-1]
    entry = live or last.before or last.after
    assert entry is not None
    timeline = [{"record": r, "diff": change_diff(r.before, r.after)}
                for r in reversed(records)]
    return page(request, "memory.html", session=session, ns=ns, entry=entry, live=live is not None,
                timeline=timeline, excerpt=_excerpt(st, session, full, entry))
