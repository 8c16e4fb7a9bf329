"""The review queue half of the SQLite store (held change sets), on the store's own connection."""

from __future__ import annotations

from deltamem.core import ConflictError, NotFoundError, to_iso
from deltamem.stores.review import PendingChangeSet, ReviewStatus
from deltamem.stores.review_codec import item_to_json, json_to_item
from deltamem.stores.sqlite_conn import SqliteConnection


class SqliteReviewQueue(SqliteConnection):
    """Review-queue methods of :class:`~deltamem.stores.sqlite.SqliteStore` (table ``review_queue``)."""

    def queue_put(self, item: PendingChangeSet) -> None:
        """Hold a change set for review."""
        with self._write() as c:
            if c.execute("SELECT 1 FROM review_queue WHERE id = ?", (item.id,)).fetchone():
                raise ConflictError(f"queued change set {item.id} already exists")
            c.execute("INSERT INTO review_queue (id, namespace, item, status, created_at) VALUES (?, ?, ?, ?, ?)",
                      (item.id, item.namespace, item_to_json(item), item.status, to_iso(item.created_at)))

    def queue_list(self, namespace: str, *, status: ReviewStatus | None = "pending") -> list[PendingChangeSet]:
        """Queued change sets of a namespace, oldest first."""
        sql = "SELECT item FROM review_queue WHERE namespace = ?" + (" AND status = ?" if status else "")
        with self._read() as c:
            rows = c.execute(sql + " ORDER BY created_at, rowid", (namespace, status) if status else (namespace,))
            return [json_to_item(r[0]) for r in rows]

    def queue_get(self, namespace: str, item_id: str) -> PendingChangeSet:
        """One queued change set (NotFoundError if not in this namespace)."""
        with self._read() as c:
            row = c.execute("SELECT item FROM review_queue WHERE namespace = ? AND id = ?",
                            (namespace, item_id)).fetchone()
        if row is None:
            raise NotFoundError(f"no queued change set {item_id!r} in {namespace!r}")
        return json_to_item(row[0])

    def queue_update(self, item: PendingChangeSet) -> None:
        """Replace a queued item (edited ops, or its resolution)."""
        with self._write() as c:
            n = c.execute("UPDATE review_queue SET item = ?, status = ? WHERE namespace = ? AND id = ?",
                          (item_to_json(item), item.status, item.namespace, item.id)).rowcount
        if n == 0:
            raise NotFoundError(f"no queued change set {item.id!r} in {item.namespace!r}")
