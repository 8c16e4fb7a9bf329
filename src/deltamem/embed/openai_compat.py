"""An Embedder over any OpenAI-compatible ``/embeddings`` endpoint: OpenAI, vLLM, Ollama, llama.cpp server, TEI."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from deltamem.core.errors import ConfigError, EmbedderError
from deltamem.core.openai_errors import Endpoint, describe
from deltamem.embed._texts import check_texts, is_blank
from deltamem.embed.base import Vectors, l2_normalise

# Sent when no key is configured: local servers (vLLM, Ollama, llama.cpp) ignore it, and the SDK refuses None.
_NO_KEY = "no-key"
_PROBE = "dimension probe"


class OpenAICompatEmbedder:
    """Embeddings from ``client.embeddings.create`` of the ``openai`` SDK, rows L2-normalised here.

    ``dim`` is detected, never configured: from the first response, or (if ``dim`` is read before any ``embed``) by
    embedding one probe sentence; then cached. Blank texts are not sent (the OpenAI API rejects empty input) and get
    the zero vector. Texts go in requests of ``batch_size``; the SDK retries connection errors, 429 and 5xx
    ``max_retries`` times with backoff. Every failure surfaces as :class:`EmbedderError` naming the server.

    Args:
        model: the model name the server knows (``text-embedding-3-small``, ``nomic-embed-text``, ...).
        base_url: the API root including ``/v1`` (``http://localhost:11434/v1`` for Ollama); default OpenAI's.
        api_key: the key; default the environment variable ``api_key_env`` (read here, not at import). Without a
            key a placeholder is sent, which local servers accept; OpenAI itself then needs one (ConfigError).
        api_key_env: where to look for the key, and what error messages tell you to set.
        timeout: seconds per request.
        max_retries: retries of a failed request (0 for none).
        batch_size: texts per request.
        name: the identifier stored with the vectors; default ``openai:<model>``.
    """

    def __init__(self, *, model: str, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 30.0, max_retries: int = 3,
                 batch_size: int = 64, name: str | None = None) -> None:
        if not model or not model.strip():
            raise ConfigError("an embedding model name is required")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}")
        import openai

        key = api_key or os.environ.get(api_key_env) or None
        if key is None and base_url is None:
            raise ConfigError(f"no API key for OpenAI embeddings: set ${api_key_env} or pass api_key "
                              "(or set base_url for a local server)")
        self._key_source = "api_key" if api_key else f"${api_key_env}"
        self._has_key = key is not None
        self._api_key_env = api_key_env
        self._model = model
        self._batch_size = batch_size
        self._timeout = timeout
        self._name = name or f"openai:{model}"
        self._openai: Any = openai
        try:
            self._client: Any = openai.OpenAI(api_key=key or _NO_KEY, base_url=base_url, timeout=timeout,
                                              max_retries=max_retries)
        except openai.OpenAIError as e:
            raise ConfigError(f"cannot set up the embeddings client for {base_url}: {e}") from e
        self._base_url = str(self._client.base_url)
        self._dim: int | None = None
        self._dim_lock = threading.RLock()  # dim may probe through _request, which sets _dim

    @property
    def name(self) -> str:
        return self._name

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    @property
    def dim(self) -> int:
        """The server's vector dimension, from the first response or a one-sentence probe (cached)."""
        if self._dim is None:
            with self._dim_lock:
                if self._dim is None:
                    self._dim = len(self._request([_PROBE])[0])
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``: shape ``(len(texts), dim)``, float32, rows of unit length (zero for blank text)."""
        items = check_texts(texts)
        todo = [i for i, t in enumerate(items) if not is_blank(t)]
        rows: dict[int, list[float]] = {}
        for start in range(0, len(todo), self._batch_size):
            chunk = todo[start:start + self._batch_size]
            for i, vec in zip(chunk, self._request([items[i] for i in chunk]), strict=True):
                rows[i] = vec
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, vec in rows.items():
            out[i] = vec
        return l2_normalise(out)

    def _request(self, batch: list[str]) -> list[list[float]]:
        """One request; the vectors in input order, checked for count, dimension and finiteness."""
        try:
            resp = self._client.embeddings.create(model=self._model, input=batch, encoding_format="float")
        except self._openai.OpenAIError as e:
            raise self._wrap(e) from e
        data = list(getattr(resp, "data", None) or [])
        if len(data) != len(batch):
            raise EmbedderError(f"{self._where}: sent {len(batch)} texts, got {len(data)} embeddings back")
        try:
            vectors = [list(map(float, d.embedding)) for d in sorted(data, key=lambda d: int(d.index))]
        except (TypeError, ValueError, AttributeError) as e:
            raise EmbedderError(f"{self._where}: malformed embeddings response ({e})") from e
        if sorted(int(d.index) for d in data) != list(range(len(batch))):
            raise EmbedderError(f"{self._where}: response indices do not match the {len(batch)} inputs")
        dims = {len(v) for v in vectors}
        expected = self._dim
        if len(dims) != 1 or 0 in dims or (expected is not None and dims != {expected}):
            want = f" (expected {expected})" if expected is not None else ""
            raise EmbedderError(f"{self._where}: inconsistent embedding dimensions {sorted(dims)}{want}")
        if not all(math.isfinite(x) for v in vectors for x in v):
            raise EmbedderError(f"{self._where}: the server returned NaN or infinite values")
        if expected is None:
            with self._dim_lock:
                self._dim = self._dim or len(vectors[0])
        return vectors

    @property
    def _where(self) -> str:
        return f"embeddings model {self._model!r} at {self._base_url}"

    def _wrap(self, e: Exception) -> EmbedderError:
        """An SDK error as an EmbedderError that says what to fix."""
        ep = Endpoint("embeddings", self._model, str(self._base_url), self._has_key, self._key_source,
                      self._api_key_env, self._timeout)
        return EmbedderError(describe(e, self._openai, ep))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return f"OpenAICompatEmbedder(model={self._model!r}, base_url={self._base_url!r})"
