"""Dump and load (export / import) for the SQLite store: whole namespaces, history and change sets included."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from deltamem.core import to_iso
from deltamem.stores.base import ChangeSetRecord, DumpRecord, StoredMemory
from deltamem.stores.conflicts import check_load
from deltamem.stores.integrity import namespace_of
from deltamem.stores.sqlite_conn import SqliteConnection
from deltamem.stores.sqlite_schema import (
    CHUNK,
    CS_COLS,
    HIST_COLS,
    MEMORY_COLUMNS,
    entry_json,
    row_change_set,
    row_history,
    row_stored,
    upsert_memory,
)


class SqliteArchive(SqliteConnection):
    """The ``dump`` / ``load`` half of :class:`~deltamem.stores.sqlite.SqliteStore`."""

    def dump(self, namespace: str) -> Iterator[DumpRecord]:
        with self._read() as c:
            mems = c.execute(f"SELECT {MEMORY_COLUMNS}, vector, deleted_at FROM memories WHERE namespace = ?"
                             " ORDER BY created_at, rowid", (namespace,)).fetchall()
            sets = c.execute(f"SELECT {CS_COLS} FROM change_sets WHERE namespace = ? ORDER BY created_at, rowid",
                             (namespace,)).fetchall()
            hist = c.execute(f"SELECT {HIST_COLS} FROM history WHERE namespace = ? ORDER BY seq",
                             (namespace,)).fetchall()
        for r in mems:
            yield row_stored(r)
        for r in sets:
            yield row_change_set(r)
        for r in hist:
            yield row_history(r)

    def load(self, records: Iterable[DumpRecord]) -> int:
        items = list(records)
        spaces = sorted({namespace_of(r) for r in items})
        with self._write() as c:
            existing: set[tuple[str, str]] = set()
            for ns in spaces:
                existing |= {(ns, r[0]) for r in c.execute("SELECT id FROM memories WHERE namespace = ?", (ns,))}
            # Change-set ids are unique per namespace: only the load's own namespaces are asked about.
            wanted = sorted({(r.namespace, r.id if isinstance(r, ChangeSetRecord) else r.change_set_id)
                             for r in items if not isinstance(r, StoredMemory)})
            known: set[tuple[str, str]] = set()
            for ns in spaces:
                ids = [cs_id for n, cs_id in wanted if n == ns]
                for i in range(0, len(ids), CHUNK):
                    chunk = ids[i:i + CHUNK]
                    known |= {(ns, r[0]) for r in c.execute(
                        f"SELECT id FROM change_sets WHERE namespace = ? AND id IN ({','.join('?' * len(chunk))})",
                        (ns, *chunk))}
            row = c.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
            dim = check_load(items, int(row[0]) if row else None, existing, known)
            if row is None and dim is not None:
                c.execute("INSERT INTO meta (key, value) VALUES ('embedding_dim', ?)", (str(dim),))
            for ns in spaces:
                c.execute("INSERT INTO namespaces (namespace) VALUES (?)"
                          " ON CONFLICT (namespace) DO UPDATE SET epoch = epoch + 1", (ns,))
            for rec in items:
                if isinstance(rec, StoredMemory):
                    rowid = upsert_memory(c, rec.entry, rec.vector)
                    if rec.deleted_at is None:
                        c.execute("INSERT INTO memory_fts (rowid, text) VALUES (?, ?)", (rowid, rec.entry.text))
                    else:
                        c.execute("UPDATE memories SET deleted_at = ? WHERE rowid = ?",
                                  (to_iso(rec.deleted_at), rowid))
                elif isinstance(rec, ChangeSetRecord):
                    c.execute(f"INSERT INTO change_sets ({CS_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (rec.id, rec.namespace, to_iso(rec.created_at), rec.session_id, rec.actor,
                               json.dumps(list(rec.ops), ensure_ascii=False), json.dumps(dict(rec.counts)),
                               rec.reverts, rec.reverted_by, rec.note))
                else:
                    c.execute(f"INSERT INTO history ({HIST_COLS[5:]}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (rec.change_set_id, rec.namespace, rec.memory_id, rec.kind, entry_json(rec.before),
                               entry_json(rec.after), rec.session_id, rec.actor, to_iso(rec.created_at)))
        return len(items)

