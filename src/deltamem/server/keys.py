"""API keys: ``dm_<id>_<secret>``; only the SHA-256 of the whole key is stored, compared in constant time.

The secret has 256 bits of entropy, so a fast unsalted hash is safe here (no password stretching is needed: the
key cannot be guessed from its hash by enumeration). The id prefix finds the row without scanning every hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from deltamem.core import ConfigError, ConflictError, NotFoundError, as_utc, to_iso, utcnow
from deltamem.server.state import ServerDB

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
_KEY = re.compile(r"^dm_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


def check_tenant(tenant: str) -> str:
    """Tenant names end up in namespace prefixes (``tenant:<t>/``), so they may not contain ``/`` or ``:``."""
    if not _TENANT.match(tenant):
        raise ConfigError(f"tenant {tenant!r} must be 1-100 letters, digits or . _ @ + - (starting alphanumeric)")
    return tenant


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's record. ``tenant`` is None for admin keys."""

    id: str
    tenant: str | None
    admin: bool
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


_COLS = "id, tenant, admin, label, created_at, revoked_at"


def _row(r: tuple[object, ...]) -> ApiKey:
    return ApiKey(str(r[0]), None if r[1] is None else str(r[1]), bool(r[2]), str(r[3]), as_utc(str(r[4])),
                  as_utc(str(r[5])) if r[5] else None)


class KeyStore:
    """Create, verify, list and revoke API keys in the server database."""

    def __init__(self, db: ServerDB) -> None:
        self._db = db

    def create(self, *, tenant: str | None, admin: bool = False, label: str = "") -> tuple[ApiKey, str]:
        """A new key; returns its record and the key itself (shown once, never stored)."""
        if admin == (tenant is not None):
            raise ConfigError("a key is either for one tenant or an admin key")
        if tenant is not None:
            check_tenant(tenant)
        key_id = secrets.token_hex(6)
        key = f"dm_{key_id}_{secrets.token_urlsafe(32)}"
        now = utcnow()
        self._db.execute("INSERT INTO api_keys (id, tenant, admin, label, key_hash, created_at) VALUES (?,?,?,?,?,?)",
                         (key_id, tenant, int(admin), label, hash_key(key), to_iso(now)))
        return ApiKey(key_id, tenant, admin, label, now), key

    def verify(self, key: str) -> ApiKey | None:
        """The live key record for a presented key, or None (unknown, malformed, wrong secret or revoked)."""
        m = _KEY.match(key)
        if m is None:
            return None
        rows = self._db.query(f"SELECT {_COLS}, key_hash FROM api_keys WHERE id = ?", (m.group(1),))
        if not rows:
            hmac.compare_digest(hash_key(key), hash_key("dm_"))  # same work for unknown ids
            return None
        record, stored = _row(rows[0]), str(rows[0][6])
        if not hmac.compare_digest(hash_key(key), stored) or record.revoked_at is not None:
            return None
        return record

    def live(self, key_id: str) -> bool:
        """Whether a key id exists and is not revoked."""
        return bool(self._db.query("SELECT 1 FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)))

    def list(self, *, tenant: str | None = None, include_revoked: bool = True) -> list[ApiKey]:
        """Keys, oldest first."""
        sql, params = f"SELECT {_COLS} FROM api_keys WHERE 1=1", []
        if tenant is not None:
            sql += " AND tenant = ?"
            params.append(tenant)
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        return [_row(r) for r in self._db.query(sql + " ORDER BY created_at, id", params)]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (kept for the record); NotFoundError for unknown ids."""
        n = self._db.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                             (to_iso(utcnow()), key_id))
        rows = self._db.query(f"SELECT {_COLS} FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            raise NotFoundError(f"no API key {key_id!r}")
        if n == 0:
            raise ConflictError(f"API key {key_id} is already revoked")
        return _row(rows[0])


def admin_key_matches(presented: str, configured: str | None) -> bool:
    """Constant-time comparison with the configured admin key (``DELTAMEM_ADMIN_KEY``)."""
    if not configured:
        return False
    return hmac.compare_digest(hash_key(presented), hash_key(configured))
