"""``Idempotency-Key`` on writes: the same key, tenant and request get the first response back; a different request
under the same key is refused (409). Records expire after a TTL. A request that failed is forgotten, so it may be
retried under the same key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deltamem.core import ConfigError, ConflictError
from deltamem.server.state import ServerDB

MAX_KEY_CHARS = 200


def fingerprint(*parts: Any) -> str:
    """A stable hash of what makes two requests "the same" (route, scope and parsed body)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Replay:
    """A stored response."""

    status_code: int
    body: dict[str, Any]


class IdempotencyStore:
    """Reserve → complete (or release) records in the server database."""

    def __init__(self, db: ServerDB, *, ttl_s: float = 86_400.0, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._clock = clock

    def reserve(self, tenant: str, key: str, fp: str) -> Replay | None:
        """None if this request is the first with the key (the caller must complete or release it); else the
        stored response. ConflictError if the key was used for a different request or the first is still running.
        """
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            raise ConfigError(f"Idempotency-Key must be 1-{MAX_KEY_CHARS} printable characters")
        now = self._clock()
        with self._db.transaction() as c:
            c.execute("DELETE FROM idempotency WHERE created_at < ?", (now - self._ttl_s,))
            try:
                c.execute("INSERT INTO idempotency (tenant, key, fingerprint, created_at) VALUES (?, ?, ?, ?)",
                          (tenant, key, fp, now))
                return None
            except sqlite3.IntegrityError:
                stored_fp, code, body = c.execute(
                    "SELECT fingerprint, status_code, body FROM idempotency WHERE tenant = ? AND key = ?",
                    (tenant, key)).fetchone()
        if stored_fp != fp:
            raise ConflictError(f"Idempotency-Key {key!r} was already used for a different request")
        if code is None:
            raise ConflictError(f"a request with Idempotency-Key {key!r} is still being processed; retry later")
        return Replay(int(code), json.loads(body))

    def complete(self, tenant: str, key: str, status_code: int, body: dict[str, Any]) -> None:
        """Store the response of a reserved request."""
        self._db.execute("UPDATE idempotency SET status_code = ?, body = ? WHERE tenant = ? AND key = ?",
                         (status_code, json.dumps(body), tenant, key))

    def release(self, tenant: str, key: str) -> None:
        """Forget a reservation whose request failed."""
        self._db.execute("DELETE FROM idempotency WHERE tenant = ? AND key = ? AND status_code IS NULL",
                         (tenant, key))
