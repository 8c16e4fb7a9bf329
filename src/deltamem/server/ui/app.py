"""The inspector as a sub-application mounted at ``/ui`` of the REST server: same process, keys, tenants and store.

Its own error handlers answer with HTML pages (the REST routes keep their JSON errors): a deltamem error with its
status and message (tenant prefixes hidden), an unknown id with 404, bad form input with 400, an ended session with
a redirect to the sign-in form.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from deltamem.core import DeltamemError
from deltamem.server.convert import hide_tenants
from deltamem.server.deps import ServerState
from deltamem.server.errors import status_of
from deltamem.server.state import ServerDB
from deltamem.server.ui import pages_changes, pages_io, pages_memory, pages_session
from deltamem.server.ui.auth import SignInRequired, UiSessions
from deltamem.server.ui.render import HEADERS, HERE, page

log = logging.getLogger(__name__)
#: Form posts that carry a whole conversation or export (the REST import limit applies to them).
LARGE_BODY_PATHS = ("/ui/ingest", "/ui/import")


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", code=status, status_code=status, message=hide_tenants(message))


def create_ui(st: ServerState, db: ServerDB) -> FastAPI:
    """The inspector app over the REST server's state (mount it at ``/ui``)."""
    ui = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    ui.state.deltamem = st
    ui.state.ui_sessions = UiSessions(db, st.keys)

    @ui.exception_handler(SignInRequired)
    def _sign_in(request: Request, e: Exception) -> Response:
        assert isinstance(e, SignInRequired)
        target = "/ui/login" + ("?ended=1" if e.message else "")
        return RedirectResponse(target, status_code=303, headers=HEADERS)

    @ui.exception_handler(DeltamemError)
    def _deltamem(request: Request, e: Exception) -> Response:
        assert isinstance(e, DeltamemError)
        code = status_of(e)
        if code >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, e, exc_info=e)
            return _error(request, code, "the server could not complete the request; the error was logged")
        return _error(request, code, str(e))

    @ui.exception_handler(HTTPException)
    def _http(request: Request, e: Exception) -> Response:
        assert isinstance(e, HTTPException)
        message = "no such page or item" if e.status_code == 404 and e.detail == "Not Found" else str(e.detail)
        return _error(request, e.status_code, message)

    @ui.exception_handler(RequestValidationError)
    def _invalid(request: Request, e: Exception) -> Response:
        assert isinstance(e, RequestValidationError)
        fields = ", ".join(".".join(str(p) for p in err.get("loc", ())[1:]) or "input" for err in e.errors()[:5])
        return _error(request, 400, f"the form or address is not valid ({fields}): check it and try again")

    ui.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages_session, pages_memory, pages_changes, pages_io):
        ui.include_router(module.router)
    return ui
