"""Sign in, sign out, and the first page: the tenant's namespaces with their counts, last change and chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from deltamem.server.keys import admin_key_matches
from deltamem.server.ui.auth import COOKIE, SESSION_TTL, Signed, State, check_form, same_site, ui_sessions
from deltamem.server.ui.chart import chart
from deltamem.server.ui.render import HEADERS, page
from deltamem.server.ui.views import namespace, tenant_namespaces

router = APIRouter()
CHART_CHANGE_SETS = 60  # the chart shows the last 60 change sets


@router.get("/login")
def login_form(request: Request, ended: int = 0) -> Response:
    """The sign-in form."""
    return page(request, "login.html", message="Your session has ended; sign in again." if ended else "")


@router.post("/login")
def login(request: Request, st: State, key: Annotated[str, Form(max_length=300)] = "") -> Response:
    """Check an API key and open a session for its tenant."""
    if not same_site(request):
        raise HTTPException(403, "sign-in must come from this inspector's own page")
    wait = st.limiter.take(f"ui-login:{request.client.host if request.client else '?'}")
    if wait > 0:
        return page(request, "login.html", code=429, message="Too many attempts; wait a moment and try again.")
    admin = st.config.admin_key.get_secret_value() if st.config.admin_key else None
    if key and admin_key_matches(key.strip(), admin):
        return page(request, "login.html", code=403,
                    message="The admin key manages keys and reads no memories: sign in with a tenant key.")
    record = st.keys.verify(key.strip()) if key else None
    if record is None or record.tenant is None:
        return page(request, "login.html", code=401, message="That key is not valid (unknown or revoked).")
    token, _ = ui_sessions(request).open(record.id, record.tenant)
    response = RedirectResponse("/ui/", status_code=303, headers=HEADERS)
    response.set_cookie(COOKIE, token, max_age=int(SESSION_TTL.total_seconds()), path="/ui", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, session: Signed, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session and clear its cookie."""
    check_form(request, session, csrf)
    ui_sessions(request).close(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/ui/login", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/")
def namespaces(request: Request, session: Signed, st: State) -> Response:
    """The tenant's namespaces: memories held, change sets, the last change, pending reviews."""
    rows = []
    for name in tenant_namespaces(st, session):
        ns = session.namespace(name)
        last = st.memory.store.change_sets(ns, limit=1)
        pending = st.memory.review.queue.queue_list(ns, status="pending")
        rows.append({"name": name, "count": st.memory.store.count(ns), "last": last[0] if last else None,
                     "pending": len(pending)})
    return page(request, "namespaces.html", session=session, rows=rows)


@router.get("/namespace")
def namespace_page(request: Request, session: Signed, st: State,
                   ns: Annotated[str, Query(max_length=500)] = "") -> Response:
    """One namespace: its numbers and the chart of memories and ops per change set over time."""
    full = namespace(st, session, ns)
    records = st.memory.store.change_sets(full, limit=CHART_CHANGE_SETS)
    count = st.memory.store.count(full)
    return page(request, "namespace.html", session=session, ns=ns, count=count, chart=chart(records, count),
                change_sets=len(records))
