"""Signing in to the inspector: an API key becomes a server-side session behind an HttpOnly, SameSite cookie.

The cookie holds a random token; the server database keeps only its hash, the key id, the tenant, the session's
CSRF token and its expiry (``ui_sessions``), so a sign-out, an expiry or a revoked key ends the session on every
server process. Every form carries the CSRF token and every POST is checked against it; a POST whose ``Origin`` (or
``Sec-Fetch-Site``) says it came from another site is refused before that, sign-in included.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from deltamem.core import utcnow
from deltamem.core.timeutil import as_utc, to_iso
from deltamem.server.deps import ServerState, tenant_prefix
from deltamem.server.keys import KeyStore
from deltamem.server.state import ServerDB

COOKIE = "deltamem_ui"
SESSION_TTL = timedelta(hours=8)


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in form (``message`` is shown there)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class UiSession:
    """A signed-in browser: the tenant it sees, the key it signed in with, and the token its forms must carry."""

    token_hash: str
    key_id: str
    tenant: str
    csrf: str

    @property
    def prefix(self) -> str:
        """The tenant's namespace prefix in the store."""
        return tenant_prefix(self.tenant)

    def namespace(self, name: str) -> str:
        """The stored namespace of one of this tenant's namespaces (``name`` as the page shows it)."""
        return self.prefix + name


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UiSessions:
    """The ``ui_sessions`` table: open, look up (dropping expired ones and those of revoked keys), close."""

    def __init__(self, db: ServerDB, keys: KeyStore, *, ttl: timedelta = SESSION_TTL) -> None:
        self._db = db
        self._keys = keys
        self._ttl = ttl

    def open(self, key_id: str, tenant: str) -> tuple[str, UiSession]:
        """A new session; returns the cookie token (never stored) and the session."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
        self._db.execute("DELETE FROM ui_sessions WHERE expires_at < ?", (to_iso(now),))
        self._db.execute("INSERT INTO ui_sessions (token_hash, key_id, tenant, csrf, created_at, expires_at) "
                         "VALUES (?,?,?,?,?,?)", (_digest(token), key_id, tenant, csrf, to_iso(now),
                                                  to_iso(now + self._ttl)))
        return token, UiSession(_digest(token), key_id, tenant, csrf)

    def find(self, token: str | None) -> UiSession | None:
        """The live session of a cookie token: None if unknown, expired, or its key was revoked since."""
        if not token or len(token) > 100:
            return None
        rows = self._db.query("SELECT token_hash, key_id, tenant, csrf, expires_at FROM ui_sessions "
                              "WHERE token_hash = ?", (_digest(token),))
        if not rows:
            return None
        token_hash, key_id, tenant, csrf, expires = (str(v) for v in rows[0])
        if as_utc(expires) < utcnow() or not self._keys.live(key_id):
            self.close(token)
            return None
        return UiSession(token_hash, key_id, tenant, csrf)

    def close(self, token: str) -> None:
        """End a session (sign out)."""
        self._db.execute("DELETE FROM ui_sessions WHERE token_hash = ?", (_digest(token),))


def ui_sessions(request: Request) -> UiSessions:
    """The app's session table."""
    sessions: UiSessions = request.app.state.ui_sessions
    return sessions


def server_state(request: Request) -> ServerState:
    """The REST server's state, shared with the inspector."""
    st: ServerState = request.app.state.deltamem
    return st


def same_site(request: Request) -> bool:
    """False when the browser says the request came from another site (``Sec-Fetch-Site`` or ``Origin``)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def check_form(request: Request, session: UiSession, token: str) -> None:
    """Refuse a POST that did not come from one of this session's own pages (403)."""
    if not same_site(request) or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise HTTPException(403, "this form did not come from this inspector (cross-site request or stale page); "
                                 "reload the page and try again")


def current(request: Request) -> UiSession:
    """The signed-in session, or :class:`SignInRequired`."""
    session = ui_sessions(request).find(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired("your session has ended; sign in again" if request.cookies.get(COOKIE) else "")
    return session


Signed = Annotated[UiSession, Depends(current)]
State = Annotated[ServerState, Depends(server_state)]
