"""The one loopback HTTP server under every OpenAI-wire endpoint of deltamem (stdlib ``http.server``, threads).

``deltamem serve-llm`` (:mod:`deltamem.llm.serve`), any ChatModel served for mem0 (:mod:`deltamem.llm.openai_wire`),
the fake embeddings server (:mod:`deltamem.embed.fake_server`) and the fake chat server of the tests all run on
:class:`WireServer`. It owns the socket work they share: a thread serving HTTP/1.1 with keep-alive, the body size
limit, the bearer key check, JSON in and out, and routing by method and path; each user supplies only the
answers, as *routes* (``WireRequest -> (status, JSON)``). A path matches with or without its ``/v1`` prefix.
An unknown path is a 404, or goes to a *relay* that writes its own answer (``serve-llm`` streams llama-server's).

It sits below ``embed`` and ``llm`` so that both can use it; it knows nothing of models.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from deltamem.core.errors import ConfigError

__all__ = ["Answer", "Relay", "Route", "WireRequest", "WireServer", "embeddings_body", "error_body", "send_json"]

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024 * 1024

#: A route's answer: HTTP status and the JSON body.
Answer = tuple[int, dict[str, Any]]


def error_body(message: str, kind: str, *, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error payload."""
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}


#: What OpenAI answers to a wrong or missing key.
UNAUTHORISED: Answer = (401, error_body("Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"))


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One request as a route sees it: ``path`` without query, trailing ``/`` or ``/v1`` prefix; ``payload`` the body
    (a JSON object; ``{}`` for a GET); ``headers`` with lower-case names; ``body`` the raw bytes (what relays get)."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


Route = Callable[[WireRequest], Answer]
#: Answers a request no route matched, writing status, headers and body to the handler itself.
Relay = Callable[[WireRequest, BaseHTTPRequestHandler], None]


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Mapping[str, Any],
              headers: Mapping[str, str] | None = None) -> None:
    """Write one JSON answer (with ``Content-Length``, so the connection can be kept alive)."""
    data = json.dumps(payload).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def embeddings_body(vectors: npt.NDArray[np.float32], texts: Sequence[str], *, model: str,
                    encoding: str = "float") -> dict[str, Any]:
    """The ``/v1/embeddings`` answer for ``texts`` and their ``vectors`` (``encoding`` ``float`` or ``base64``:
    little-endian float32, as the ``openai`` SDK decodes it). Tokens are estimated as words."""
    data = [{"object": "embedding", "index": i,
             "embedding": (base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii")
                           if encoding == "base64" else [float(x) for x in v])}
            for i, v in enumerate(vectors)]
    tokens = sum(len(t.split()) for t in texts)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _route_path(raw: str) -> str:
    path = urlsplit(raw).path.rstrip("/")
    return path[3:] if path == "/v1" or path.startswith("/v1/") else path


class WireServer:
    """Serves ``routes`` on ``host:port`` from a daemon thread until :meth:`close`; ``port=0`` picks a free port.

    Args:
        routes: ``(method, path) -> route``, paths without the ``/v1`` prefix (``("POST", "/chat/completions")``).
            A POST whose body is not a JSON object gets a 400 before any route sees it.
        api_key: the bearer token clients must send (answered with :data:`UNAUTHORISED` otherwise); None or
            ``""`` accepts any client.
        error_headers: headers added to every answer with status >= 400 (``x-should-retry``, ``retry-after-ms``).
        relay: answers what no route matches (default: 404).
        name: the serving thread's name.

    Raises:
        ConfigError: the address cannot be bound.
    """

    def __init__(self, routes: Mapping[tuple[str, str], Route], *, host: str = "127.0.0.1", port: int = 0,
                 api_key: str | None = None, error_headers: Mapping[str, str] | None = None,
                 relay: Relay | None = None, name: str = "deltamem-wire") -> None:
        self.routes = dict(routes)
        self.api_key = api_key
        self.error_headers = dict(error_headers or {})
        self.relay = relay
        self._host = host
        try:
            self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e}") from e
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=name, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        """The interface it listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen when ``port=0`` was asked for)."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The API root for clients, ``http://<host>:<port>/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C interrupts the wait)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def close(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def answer(self, request: WireRequest) -> Answer | None:
        """The answer of the matching route (after the key and body checks), or None to relay the request."""
        if self.api_key and not secrets.compare_digest(request.headers.get("authorization", ""),
                                                       f"Bearer {self.api_key}"):
            return UNAUTHORISED
        route = self.routes.get((request.method, request.path))
        if route is None:
            if self.relay is not None:
                return None
            return 404, error_body(f"no route {request.method} {request.path}", "not_found")
        if request.method == "POST":
            try:
                payload = json.loads(request.body)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return 400, error_body("body is not a JSON object", "invalid_request_error")
            request = WireRequest(request.method, request.path, request.headers, payload, request.body)
        return route(request)


def _handler(server: WireServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "deltamem"
        disable_nagle_algorithm = True  # headers and body go in two writes; Nagle would add 40 ms per request

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, error_body("request body too large", "invalid_request_error"), close=True)
                return
            raw = self.rfile.read(length)  # read before any answer, so a kept-alive connection stays in sync
            request = WireRequest(method, _route_path(self.path),
                                  {k.lower(): v for k, v in self.headers.items()}, body=raw)
            answer = server.answer(request)
            try:
                if answer is None and server.relay is not None:
                    server.relay(request, self)
                elif answer is not None:
                    self._send(*answer)
            except (BrokenPipeError, ConnectionResetError) as e:  # the client went away (or was killed) meanwhile
                log.debug("%s left before the answer to %s %s: %s", self.address_string(), method, self.path, e)
                self.close_connection = True

        def _send(self, status: int, payload: dict[str, Any], *, close: bool = False) -> None:
            headers = dict(server.error_headers) if status >= 400 else {}
            if close:
                headers["Connection"] = "close"
            send_json(self, status, payload, headers)

    return Handler
