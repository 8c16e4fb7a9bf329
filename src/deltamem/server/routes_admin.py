"""Admin routes (admin key only): API keys of tenants. Health is public."""

from __future__ import annotations

from fastapi import APIRouter

from deltamem._version import __version__
from deltamem.server.deps import Admin, State
from deltamem.server.dto import Health, KeyCreate, KeyCreated, KeyList, KeyOut
from deltamem.server.keys import ApiKey
from deltamem.server.routes_memory import ERRORS

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERRORS)
public = APIRouter(tags=["health"])


def key_out(k: ApiKey) -> KeyOut:
    """A key record as a response."""
    return KeyOut(id=k.id, tenant=k.tenant, admin=k.admin, label=k.label, created_at=k.created_at,
                  revoked_at=k.revoked_at)


@router.get("/keys", response_model=KeyList)
def list_keys(_: Admin, st: State, tenant: str | None = None) -> KeyList:
    """Every API key (or one tenant's), oldest first."""
    return KeyList(items=[key_out(k) for k in st.keys.list(tenant=tenant)])


@router.post("/keys", response_model=KeyCreated, status_code=201)
def create_key(req: KeyCreate, _: Admin, st: State) -> KeyCreated:
    """A new tenant key; the key is in this response only."""
    record, key = st.keys.create(tenant=req.tenant, label=req.label)
    return KeyCreated(**key_out(record).model_dump(), key=key)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: str, _: Admin, st: State) -> KeyOut:
    """Revoke a key (its requests get 401 from now on)."""
    return key_out(st.keys.revoke(key_id))


@public.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness (no authentication)."""
    return Health(status="ok", version=__version__)
