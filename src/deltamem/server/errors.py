"""Errors → HTTP: one body shape, ``{"error": {"type", "message", "details"}}``, for every non-2xx response.

``except Exception`` lives here only: an unexpected error is logged with its traceback and answered 500 without
internals, by :class:`CatchAll`, which keeps the keep-alive connection usable (Starlette's own 500 handler re-raises,
and uvicorn then drops the connection without a ``Connection: close``, failing the client's next request). Inputs are
validated before anything is written, so a 5xx means nothing was written. Request bodies larger than the configured
limit are refused with 413 before they are read in full.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deltamem.core import (
    AgentOutputError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    DeltamemError,
    EmbedderError,
    EmbeddingDimensionError,
    InvalidOperation,
    LLMError,
    NotFoundError,
    ValidationError,
)
from deltamem.server.convert import hide_tenants

log = logging.getLogger(__name__)

# Most specific first (EmbeddingDimensionError and CorruptDataError are StoreErrors, which are otherwise 500).
STATUS: tuple[tuple[type[DeltamemError], int], ...] = (
    (NotFoundError, 404), (ConflictError, 409), (InvalidOperation, 422), (ValidationError, 422),
    (EmbeddingDimensionError, 422),
    (CorruptDataError, 422), (ConfigError, 400), (AgentOutputError, 502), (LLMError, 502), (EmbedderError, 502),
)
HTTP_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
              409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "ValidationError",
              429: "RateLimited"}


def body(type_: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error body (without internal tenant prefixes: every error response is built here)."""
    return {"error": {"type": type_, "message": hide_tenants(message), "details": hide_tenants(details)}}


def status_of(e: DeltamemError) -> int:
    """The HTTP status of a deltamem error (500 for StoreError and anything unexpected)."""
    return next((code for cls, code in STATUS if isinstance(e, cls)), 500)


def _deltamem(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, DeltamemError)
    code = status_of(e)
    if code >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, e, exc_info=e)
    details: Any = None
    if isinstance(e, InvalidOperation):
        details = {"index": e.index, "reason": e.reason}
    elif isinstance(e, AgentOutputError):
        details = {"raw": e.raw}
    message = str(e) if code < 500 else f"{type(e).__name__}: the server could not complete the request"
    return JSONResponse(body(type(e).__name__, message, details), status_code=code)


def _validation(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, RequestValidationError)
    errors = [{"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
              for err in e.errors()]
    if any(err["type"] == "json_invalid" for err in errors):
        return JSONResponse(body("MalformedJSON", "the request body is not valid JSON", errors), status_code=400)
    summary = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors[:5])
    return JSONResponse(body("ValidationError", f"invalid request: {summary}", errors), status_code=422)


def _http(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, HTTPException)
    kind = HTTP_TYPES.get(e.status_code, "HTTPError")
    return JSONResponse(body(kind, str(e.detail)), status_code=e.status_code, headers=e.headers)


def _unexpected(request: Request, e: Exception) -> JSONResponse:
    log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=e)
    return JSONResponse(body("InternalError", "the server failed; the error was logged"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(DeltamemError, _deltamem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)  # only for errors raised outside CatchAll (other middleware)
    app.add_middleware(CatchAll)


class CatchAll:
    """ASGI middleware: answer an unexpected error 500 and *return*, so the server keeps the connection usable.

    If the response had already started (a streamed export failing mid-way), the error is re-raised: the body is
    broken, and the server must close the connection, which also tells the client.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as e:
            if started:
                raise
            await _unexpected(Request(scope), e)(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body grows past its limit (an HTTPException, so FastAPI passes it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: refuse bodies over ``default`` bytes (``overrides`` per path) with 413.

    A declared Content-Length over the limit is refused before reading; a chunked body is counted as it streams.
    """

    def __init__(self, app: ASGIApp, *, default: int, overrides: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.overrides = overrides

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope["path"], self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await JSONResponse(body("PayloadTooLarge", str(BodyTooLarge(limit).detail), {"limit": limit}),
                               status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
