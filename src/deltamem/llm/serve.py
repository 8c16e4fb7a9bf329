"""Serve a local GGUF model (and optionally an embedder) as one OpenAI-compatible endpoint on 127.0.0.1.

So that mem0, LangChain or any OpenAI client can use the very same model deltamem uses::

    with LLMEndpoint(path, embedder=MiniLMEmbedder(), port=8011) as ep:
        ...  # base_url = ep.base_url ("http://127.0.0.1:8011/v1")

Inside, llama.cpp's own ``llama-server`` (``xllamacpp.Server``) runs on an ephemeral loopback port guarded by a random
key, and an HTTP front (:func:`llama_front`, a :class:`deltamem.wire.WireServer`) on ``host:port``:

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
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from deltamem.core.errors import ConfigError
from deltamem.embed.base import Embedder
from deltamem.llm._llama_stop import stop_server
from deltamem.llm.openai_wire import embeddings_answer
from deltamem.wire import Answer, WireRequest, WireServer, error_body, send_json

log = logging.getLogger(__name__)
_LOOPBACK = ("127.0.0.1", "localhost")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization"}


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
            self._front = llama_front(self._backend, self._backend_key, embedder=embedder, host=host, port=port,
                                      api_key=api_key, timeout=timeout)
        except ConfigError:
            holder, self._llama = [self._llama], None
            stop_server(holder, name=self.model_name)
            raise

    @property
    def host(self) -> str:
        """The interface the front listens on."""
        return self._front.host

    @property
    def port(self) -> int:
        """The port the front listens on (the one chosen when ``port=0`` was asked for)."""
        return self._front.port

    @property
    def base_url(self) -> str:
        """The API root for clients, ``http://<host>:<port>/v1``."""
        return self._front.base_url

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        try:
            self._front.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the front and llama-server."""
        self._front.close()
        holder, self._llama = [self._llama], None
        stop_server(holder, name=self.model_name)

    def __enter__(self) -> LLMEndpoint:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def llama_front(backend: tuple[str, int], backend_key: str, *, embedder: Embedder | None = None,
                host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                timeout: float = 3600.0) -> WireServer:
    """The HTTP front of the llama-server at ``backend`` (``(host, port)``, guarded by ``backend_key``): answers
    ``/v1/embeddings`` with ``embedder`` and relays every other request there (see the module docstring)."""
    def embeddings(request: WireRequest) -> Answer:
        return embeddings_answer(embedder, request.payload,
                                 missing="this endpoint serves no embeddings (start it with --embeddings)")

    def relay(request: WireRequest, handler: BaseHTTPRequestHandler) -> None:
        """Relay one request to llama-server and its answer (streamed as it comes) back to the client."""
        body = request.body if request.method == "POST" else None
        if body and request.path.endswith("completions"):
            body = _drop_fields(body, ("store",))
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS}
        headers["Authorization"] = f"Bearer {backend_key}"
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(*backend, timeout=timeout)
        try:
            conn.request(request.method, handler.path, body=body, headers=headers)
            resp = conn.getresponse()
            handler.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP_HEADERS:
                    handler.send_header(k, v)
            handler.send_header("Connection", "close")  # no length known: the body ends when we close
            handler.end_headers()
            while chunk := resp.read1(65536):
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except OSError as e:
            log.warning("llama-server request %s %s failed: %s", request.method, handler.path, e)
            with contextlib.suppress(OSError):
                send_json(handler, 502, error_body(f"the model server failed: {e}", "server_error"),
                          {"Connection": "close"})
        finally:
            conn.close()

    return WireServer({("POST", "/embeddings"): embeddings}, host=host, port=port, api_key=api_key, relay=relay,
                      name="deltamem-llm-endpoint")


def _drop_fields(body: bytes, fields: tuple[str, ...]) -> bytes:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body  # llama-server will explain what is wrong with it
    if not isinstance(parsed, dict) or not any(f in parsed for f in fields):
        return body
    return json.dumps({k: v for k, v in parsed.items() if k not in fields}).encode("utf-8")
