"""HTML for the inspector: one Jinja2 environment that escapes everything, and the headers every page carries.

No page runs a script: the Content-Security-Policy allows none (``default-src 'none'``), styles only from
``/ui/static``, forms only to this origin, and no framing. Memory texts are data written by a model from what
users said; they are always inserted as escaped text, never as markup.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from deltamem._version import __version__

HERE = Path(__file__).parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _day(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d}"


ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters["when"] = _when
ENV.filters["day"] = _day
ENV.globals["version"] = __version__


def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` (plus the request and the signed-in session, if any)."""
    html = ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=code, headers=HEADERS)
