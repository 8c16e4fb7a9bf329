"""Serve a local GGUF model (and optionally an embedder) as one OpenAI-compatible endpoint on 127.0.0.1.

So that mem0, LangChain or any OpenAI client can use the very same model deltamem uses::

    with LLMEndpoint(path, embedder=MiniLMEmbedder(), port=8011) as ep:
        ...  # base_url = ep.base_url ("http://127.0.0.1:8011/v1")

Inside, llama.cpp's own ``llama-server`` (``xllamacpp.Server``) runs on an ephemeral loopback port guarded by a random
key, and a small stdlib HTTP front on ``host:port``:

- answers ``POST /v1/embeddings`` itself with the embedder (float or base64 encoding, as the ``openai`` SDK asks);
- forwards every other request (``/v1/chat/completions``, ``/v1/completions``, ``/v1/models``, ``/health``, ...)
  to llama-server, streaming included, dropping the ``store`` field some clients send;
- checks ``Authorization: Bearer <api_key>`` when an ``api_key`` is given.

It binds 127.0.0.1 by default; binding elsewhere without an ``api_key`` is refused.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from deltamem.core.errors import ConfigError
from deltamem.embed.base import Embedder
from deltamem.llm._llama_stop import stop_server
from deltamem.llm.openai_wire import embeddings_answer, error_body

log = logging.getLogger(__name__)
_LOOPBACK = ("127.0.0.1", "localhost")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization"}
_MAX_BODY = 64 * 1024 * 1024


class LLMEndpoint:
    """llama-server for ``model_path`` behind an HTTP front that also serves ``/v1/embeddings`` (when an embedder
    is given). Starts in the constructor; :meth:`close` (or leaving the ``with`` block) stops both.

    Args:
        model_path: the ``.gguf`` file.
        model_name: the name clients see in ``/v1/models`` (any name is accepted in requests).
        host / port: where the front listens (port 0: any free port, see :attr:`base_url`).
        context_size: llama.cpp context in tokens (mem0 2.2.1 needs 16384, see docs).
        threads: CPU threads; default all cores.
        embedder: answers ``/v1/embeddings``; without one that path returns 404.
        api_key: required bearer token for clients; None accepts any (loopback only).
        timeout: seconds the front waits for llama-server's answer.
    """

    def __init__(self, model_path: str | Path, *, model_name: str | None = None, host: str = "127.0.0.1",
                 port: int = 8011, context_size: int = 16384, threads: int | None = None,
                 embedder: Embedder | None = None, api_key: str | None = None, timeout: float = 3600.0) -> None:
        if host not in _LOOPBACK and not api_key:
            raise ConfigError(f"refusing to serve the model on {host} without an api_key; bind 127.0.0.1 or set one")
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF model file not found: {path}")
        try:
            import xllamacpp
        except ImportError as e:
            raise ConfigError(f"serving a local LLM needs xllamacpp: pip install 'deltamem[local]' ({e})") from e
        from deltamem.llm.local_gguf import default_threads

        self._host = host
        self.model_name = model_name or path.stem
        self.embedder = embedder
        self.api_key = api_key
        self.timeout = timeout
        self._backend_key = secrets.token_hex(16)
        n_threads = threads or default_threads()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {self.model_name}
        params.n_ctx = context_size
        params.n_parallel = 1  # one slot keeps the whole context for one request and reuses its KV cache
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.use_jinja = True
        params.cache_prompt = True
        params.verbosity = -1
        params.port = 0
        params.api_keys = [self._backend_key]
        started = time.perf_counter()
        try:
            self._llama: Any = xllamacpp.Server(params)
        except RuntimeError as e:
            raise ConfigError(f"llama.cpp could not load {path}: {e}") from e
        self.load_seconds = time.perf_counter() - started
        backend = urlsplit(str(self._llama.listening_address))
        self._backend = (backend.hostname or "127.0.0.1", backend.port or 80)
        try:
            self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            holder, self._llama = [self._llama], None
            stop_server(holder, name=self.model_name)
            raise ConfigError(f"cannot listen on {host}:{port}: {e}") from e
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="deltamem-llm-endpoint", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        """The interface the front listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the front listens on (the one chosen when ``port=0`` was asked for)."""
        return int(self._httpd.server_port)

    @property
    def base_url(self) -> str:
        """The API root for clients, ``http://<host>:<port>/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the front and llama-server."""
        self._httpd.shutdown()
        self._httpd.server_close()
        holder, self._llama = [self._llama], None
        stop_server(holder, name=self.model_name)

    def __enter__(self) -> LLMEndpoint:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- request handling (called from the front's threads) --

    def embeddings(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """An OpenAI ``/v1/embeddings`` answer for ``body``: (status, JSON)."""
        return embeddings_answer(self.embedder, body,
                                 missing="this endpoint serves no embeddings (start it with --embeddings)")

    def forward(self, handler: BaseHTTPRequestHandler, method: str, body: bytes | None) -> None:
        """Relay one request to llama-server and its answer (streamed as it comes) back to the client."""
        if body and handler.path.rstrip("/").endswith("completions"):
            body = _drop_fields(body, ("store",))
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS}
        headers["Authorization"] = f"Bearer {self._backend_key}"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(*self._backend, timeout=self.timeout)
        try:
            conn.request(method, handler.path, body=body, headers=headers)
            resp = conn.getresponse()
            handler.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP_HEADERS:
                    handler.send_header(k, v)
            handler.send_header("Connection", "close")  # HTTP/1.0 framing: the body ends when we close
            handler.end_headers()
            while chunk := resp.read1(65536):
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except OSError as e:
            log.warning("llama-server request %s %s failed: %s", method, handler.path, e)
            with contextlib.suppress(OSError):
                _send_json(handler, 502, error_body(f"the model server failed: {e}", "server_error"))
        finally:
            conn.close()


def _handler(endpoint: LLMEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "deltamem-serve-llm"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _authorised(self) -> bool:
            if endpoint.api_key is None:
                return True
            given = self.headers.get("Authorization", "")
            if secrets.compare_digest(given, f"Bearer {endpoint.api_key}"):
                return True
            _send_json(self, 401, error_body("invalid API key", "invalid_api_key"))
            return False

        def do_GET(self) -> None:
            if self._authorised():
                endpoint.forward(self, "GET", None)

        def do_POST(self) -> None:
            if not self._authorised():
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                _send_json(self, 413, error_body("request body too large", "invalid_request_error"))
                return
            body = self.rfile.read(length)
            if urlsplit(self.path).path.rstrip("/") in ("/v1/embeddings", "/embeddings"):
                try:
                    parsed = json.loads(body)
                except ValueError:
                    _send_json(self, 400, error_body("body is not JSON", "invalid_request_error"))
                    return
                status, answer = endpoint.embeddings(parsed if isinstance(parsed, dict) else {})
                _send_json(self, status, answer)
                return
            endpoint.forward(self, "POST", body)

    return Handler


def _drop_fields(body: bytes, fields: tuple[str, ...]) -> bytes:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body  # llama-server will explain what is wrong with it
    if not isinstance(parsed, dict) or not any(f in parsed for f in fields):
        return body
    return json.dumps({k: v for k, v in parsed.items() if k not in fields}).encode("utf-8")


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
