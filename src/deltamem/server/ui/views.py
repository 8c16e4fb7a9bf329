"""What the inspector's pages share: a tenant's namespaces, and a namespace name from an address, checked."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.exceptions import HTTPException

from deltamem.server.deps import ServerState
from deltamem.server.ui.auth import UiSession

PAGE_SIZE = 50
#: The address of each page a form redirects to.
PATHS = {"change_set": "/ui/change", "review": "/ui/review", "review_item": "/ui/review/item", "jobs": "/ui/jobs"}


def link(page: str, **params: str) -> str:
    """The address of one of the inspector's pages with its query (``page`` names it, as in :data:`PATHS`)."""
    return f"{PATHS[page]}?{urlencode(params)}"


def tenant_namespaces(st: ServerState, session: UiSession) -> list[str]:
    """The namespaces of the session's tenant that hold anything, as the tenant names them, sorted."""
    prefix = session.prefix
    return sorted(n[len(prefix):] for n in st.memory.store.namespaces() if n.startswith(prefix))


def namespace(st: ServerState, session: UiSession, name: str) -> str:
    """The stored namespace of ``name``; 404 unless the tenant has it (another tenant's names never resolve)."""
    if not name or len(name) > 500 or name not in tenant_namespaces(st, session):
        raise HTTPException(404, "no such namespace")
    return session.namespace(name)
