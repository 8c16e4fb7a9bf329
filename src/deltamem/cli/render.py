"""Turning results into terminal output (rich) or JSON; nothing here decides anything."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from deltamem.core import ChangeSet, MemoryEntry
from deltamem.stores.base import RRF_K, ChangeSetRecord, HistoryRecord, SearchHit, SearchMode

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_MARK = {"ADD": ("+", "green"), "UPDATE": ("~", "yellow"), "DELETE": ("−", "red")}


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def change_set_dict(cs: ChangeSet) -> dict[str, Any]:
    """A change set as JSON-ready data."""
    return {
        "id": cs.id, "namespace": cs.namespace, "session_id": cs.session_id, "reverts": cs.reverts,
        "counts": cs.counts(),
        "changes": [{"kind": c.kind, "memory_id": c.memory_id, "before": c.before.text if c.before else None,
                     "after": c.after.text if c.after else None} for c in cs.changes],
    }


def print_change_set(cs: ChangeSet, *, title: str | None = None, out: Console | None = None) -> None:
    """``+ added``, ``~ before → after``, ``− deleted``, coloured."""
    out = out or console
    head = title or f"change set {cs.id[:12]}"
    counts = cs.counts()
    out.print(f"[bold]{head}[/]  (+{counts['ADD']} ~{counts['UPDATE']} −{counts['DELETE']})")
    if cs.is_empty:
        out.print("  [dim]no change[/]")
    for c in cs.changes:
        mark, colour = _MARK[c.kind]
        if c.kind == "UPDATE" and c.before and c.after:
            out.print(f"  [{colour}]{mark} {c.after.text}[/]  [dim](was: {c.before.text}) \\[{c.memory_id[:8]}][/]")
        else:
            entry = c.after or c.before
            text = entry.text if entry else ""
            out.print(f"  [{colour}]{mark} {text}[/]  [dim]\\[{c.memory_id[:8]}][/]")


def provenance(entry: MemoryEntry) -> str:
    """Where a memory came from: ``session_3 #0,2`` (session id, message indices), or ``-`` for an explicit add."""
    where = entry.session_id or ""
    if entry.message_indices:
        where += (" " if where else "") + "#" + ",".join(str(i) for i in entry.message_indices)
    return where or "-"


def entries_table(entries: Iterable[MemoryEntry], *, title: str = "memories") -> Table:
    """Entries as a table, with the session and messages each came from."""
    table = Table(title=title, show_lines=False)
    table.add_column("id", style="dim", no_wrap=True)
    table.add_column("memory")
    table.add_column("timestamp", style="cyan", no_wrap=True)
    table.add_column("from (session #messages)", style="dim")
    for e in entries:
        table.add_row(e.id[:12], e.text, e.timestamp.strftime("%Y-%m-%d %H:%M"), provenance(e))
    return table


#: Per search mode: the score column's title and a caption saying what the number means. The scores are the
#: store's own (``SearchHit.score``), printed unchanged; only their explanation differs.
SCORE_LEGEND: dict[SearchMode, tuple[str, str]] = {
    "hybrid": ("rank score",
               f"rank score: reciprocal rank fusion of the vector and keyword rankings, Σ 1/({RRF_K} + rank); "
               f"{2 / (RRF_K + 1):.3f} = first in both, {1 / (RRF_K + 1):.3f} = first in one. Only the order counts."),
    "vector": ("cosine", "cosine: similarity of the embeddings, -1 to 1, higher is closer."),
    "keyword": ("BM25", "BM25: relevance of the matching words; higher is better, no upper bound."),
}


def hits_table(hits: Sequence[SearchHit], *, mode: SearchMode = "hybrid") -> Table:
    """Search hits as a table; the score column and the caption say what the ``mode``'s scores mean."""
    column, caption = SCORE_LEGEND[mode]
    table = Table(title=f"search results ({mode})", caption=caption, caption_justify="left")
    table.add_column(column, justify="right")
    table.add_column("id", style="dim", no_wrap=True)
    table.add_column("memory")
    table.add_column("timestamp", style="cyan", no_wrap=True)
    for h in hits:
        table.add_row(f"{h.score:.3f}", h.entry.id[:12], h.entry.text, h.entry.timestamp.strftime("%Y-%m-%d"))
    return table


def memory_dict(entry: MemoryEntry) -> dict[str, Any]:
    """A memory as JSON-ready data: :class:`deltamem.core.view.MemoryView`, the shape of the REST API and MCP."""
    from deltamem.core.view import memory_view  # pydantic: loaded only for JSON output, not by every command

    return memory_view(entry)


def hit_dict(h: SearchHit) -> dict[str, Any]:
    """A search hit as JSON-ready data: the memory, ``memory`` with its text again (mem0-like) and the score."""
    return {**memory_dict(h.entry), "memory": h.entry.text, "score": h.score}


def history_table(records: Sequence[HistoryRecord]) -> Table:
    """History records as a table."""
    table = Table(title="history")
    for col in ("when", "change set", "memory", "op", "before", "after"):
        table.add_column(col)
    for r in records:
        table.add_row(r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.change_set_id[:12], r.memory_id[:8], r.kind,
                      r.before.text if r.before else "", r.after.text if r.after else "")
    return table


def history_dict(r: HistoryRecord) -> dict[str, Any]:
    """A history record as JSON-ready data: the fields and time format of the REST API's ``HistoryOut``, with
    ``before`` / ``after`` as :func:`memory_dict` writes them."""
    from deltamem.core.view import json_time, memory_view

    return {"seq": r.seq, "change_set_id": r.change_set_id, "namespace": r.namespace, "memory_id": r.memory_id,
            "kind": r.kind, "before": memory_view(r.before), "after": memory_view(r.after),
            "session_id": r.session_id, "actor": r.actor, "created_at": json_time(r.created_at)}


def change_sets_table(records: Sequence[ChangeSetRecord]) -> Table:
    """Change set headers as a table."""
    table = Table(title="change sets (newest first)")
    for col in ("id", "when", "actor", "+", "~", "−", "note"):
        table.add_column(col)
    for r in records:
        note = r.note + (f" (reverted by {r.reverted_by[:12]})" if r.reverted_by else "")
        table.add_row(r.id[:12], r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.actor, str(r.counts.get("ADD", 0)),
                      str(r.counts.get("UPDATE", 0)), str(r.counts.get("DELETE", 0)), note)
    return table
