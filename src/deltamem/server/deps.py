"""Per-request plumbing: the server's state, authentication, rate limiting, tenant scoping and idempotency."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from deltamem.core import utcnow
from deltamem.facade.memory import Memory
from deltamem.facade.scope import namespace_for
from deltamem.server.config import ServerConfig
from deltamem.server.convert import Rel, relative
from deltamem.server.idempotency import IdempotencyStore, fingerprint
from deltamem.server.jobs import JobRunner, JobStore
from deltamem.server.keys import ApiKey, KeyStore, admin_key_matches
from deltamem.server.ratelimit import RateLimiter, retry_after_header

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    """What the routes share; kept on ``app.state.deltamem``."""

    config: ServerConfig
    memory: Memory
    keys: KeyStore
    jobs: JobStore
    runner: JobRunner
    idempotency: IdempotencyStore
    limiter: RateLimiter


def tenant_prefix(tenant: str) -> str:
    """Every namespace of a tenant starts with this; nothing a client sends can produce another tenant's prefix."""
    return f"tenant:{tenant}/"


def state(request: Request) -> ServerState:
    """The server state of this app."""
    st: ServerState = request.app.state.deltamem
    return st


State = Annotated[ServerState, Depends(state)]
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer dm_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: dm_...`")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(st: State, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                 header: Annotated[str | None, Depends(_header)]) -> ApiKey:
    """The caller's key (401 if missing, unknown or revoked), after spending one token of its rate limit (429)."""
    presented = bearer.credentials if bearer is not None else header
    if not presented:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    admin = st.config.admin_key.get_secret_value() if st.config.admin_key else None
    key = (ApiKey("admin", None, True, "DELTAMEM_ADMIN_KEY", utcnow()) if admin_key_matches(presented, admin)
           else st.keys.verify(presented))
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    wait = st.limiter.take(key.id)
    if wait > 0:
        raise HTTPException(429, f"rate limit of {st.limiter.rate:g} requests/s exceeded; retry later",
                            headers={"Retry-After": retry_after_header(wait)})
    return key


Authenticated = Annotated[ApiKey, Depends(authenticate)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated tenant key and the namespace its request is scoped to (None for tenant-wide routes)."""

    key: ApiKey
    tenant: str
    namespace: str

    @property
    def prefix(self) -> str:
        """The tenant's namespace prefix."""
        return tenant_prefix(self.tenant)

    @property
    def rel(self) -> Rel:
        """Strips the tenant prefix from namespaces in responses."""
        return relative(self.prefix)


def tenant_key(key: Authenticated) -> ApiKey:
    """403 for keys without a tenant (the admin key manages keys; it reads no memories)."""
    if key.tenant is None:
        raise HTTPException(403, "this key has no tenant; use a tenant key for memory routes")
    return key


TenantKey = Annotated[ApiKey, Depends(tenant_key)]


def scoped(key: TenantKey,
           user_id: Annotated[str | None, Query(description="Whose memory: a user id.")] = None,
           agent_id: Annotated[str | None, Query(description="An agent id (alone or with user_id).")] = None,
           namespace: Annotated[str | None, Query(description="An explicit namespace instead of the ids.")] = None,
           ) -> Caller:
    """The caller, with its namespace: ``tenant:<t>/`` + namespace_for(user_id, agent_id, namespace)."""
    assert key.tenant is not None
    ns = namespace_for(user_id=user_id, agent_id=agent_id, namespace=namespace)
    return Caller(key, key.tenant, tenant_prefix(key.tenant) + ns)


def tenant_wide(key: TenantKey) -> Caller:
    """The caller for routes that are not about one namespace (jobs)."""
    assert key.tenant is not None
    return Caller(key, key.tenant, "")


Scoped = Annotated[Caller, Depends(scoped)]
TenantWide = Annotated[Caller, Depends(tenant_wide)]


def admin(key: Authenticated) -> ApiKey:
    """403 for tenant keys on admin routes."""
    if not key.admin:
        raise HTTPException(403, "this route needs the admin key")
    return key


Admin = Annotated[ApiKey, Depends(admin)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=(
    "Replays the first response for the same key and request; 409 for a different request."))]


def idempotent(st: ServerState, caller: Caller, key: str | None, route: str, payload: BaseModel, status: int,
               produce: Callable[[], BaseModel], headers: Callable[[BaseModel], dict[str, str]] | None = None,
               ) -> JSONResponse:
    """Run ``produce`` once per (tenant, Idempotency-Key); replay its response for the same request."""
    def respond(data: dict[str, object], code: int, out: BaseModel | None, replayed: bool) -> JSONResponse:
        extra = headers(out) if (headers and out is not None) else {}
        if replayed:
            extra = {"Idempotent-Replayed": "true"}
        return JSONResponse(data, status_code=code, headers=extra)

    if key is None:
        out = produce()
        return respond(out.model_dump(mode="json"), status, out, False)
    fp = fingerprint(route, caller.namespace, payload.model_dump(mode="json"))
    replay = st.idempotency.reserve(caller.tenant, key, fp)
    if replay is not None:
        return respond(replay.body, replay.status_code, None, True)
    try:
        out = produce()
    except BaseException:
        st.idempotency.release(caller.tenant, key)
        raise
    data = out.model_dump(mode="json")
    try:
        st.idempotency.complete(caller.tenant, key, status, data)
    except Exception:  # the write is committed: answer it. The key stays reserved, so a retry is refused, not redone.
        log.exception("could not record the response of Idempotency-Key %r; the write itself succeeded", key)
    return respond(data, status, out, False)
