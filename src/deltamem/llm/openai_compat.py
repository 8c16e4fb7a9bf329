"""A ChatModel over any OpenAI-compatible ``/chat/completions`` endpoint: OpenAI, vLLM, Ollama, llama.cpp server,
``deltamem serve-llm``.

Retries: the ``openai`` SDK retries connection errors, timeouts, 408/409/429 and 5xx ``max_retries`` times with
exponential backoff and jitter, honouring ``Retry-After``. Everything else surfaces at once as :class:`LLMError`
naming the server and what to fix.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from deltamem.core.errors import ConfigError, LLMError
from deltamem.core.openai_errors import Endpoint, describe
from deltamem.llm._request import build_request
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse, ToolCall, Usage

# Sent when no key is configured: local servers (vLLM, Ollama, llama.cpp) ignore it, and the SDK refuses None.
_NO_KEY = "no-key"


class OpenAICompatChatModel(ChatModel):
    """Chat completions through ``client.chat.completions.create`` of the ``openai`` SDK.

    Args:
        model: the model name the server knows (``gpt-4o-mini``, ``qwen2.5:7b``, ...).
        base_url: the API root including ``/v1`` (``http://localhost:11434/v1`` for Ollama); default OpenAI's.
        api_key: the key; default the environment variable ``api_key_env``, read in this constructor (never at
            import). Without a key a placeholder is sent, which local servers accept.
        api_key_env: where to look for the key, and what error messages tell you to set.
        timeout: seconds per request (generation included, so generous by default).
        max_retries: retries of a failed request (connection errors, 429, 5xx); 0 for none.
        supports_tools: whether the server returns native ``tool_calls`` (OpenAI, vLLM with a tool parser, Ollama);
            set False for a server/model that does not, and callers use the plain-text protocol.
        name: identifier for reports and cache keys; default ``openai:<model>``.
        extra_body: extra JSON fields sent with every request (server-specific options).
    """

    def __init__(self, *, model: str, base_url: str | None = None, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 600.0, max_retries: int = 3,
                 supports_tools: bool = True, name: str | None = None,
                 extra_body: Mapping[str, Any] | None = None) -> None:
        if not model or not model.strip():
            raise ConfigError("a chat model name is required")
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}")
        import openai

        key = api_key or os.environ.get(api_key_env) or None
        if key is None and base_url is None:
            raise ConfigError(f"no API key for OpenAI: set ${api_key_env} or pass api_key "
                              "(or set base_url for a local server)")
        self._key_source = "api_key" if api_key else f"${api_key_env}"
        self._has_key = key is not None
        self._api_key_env = api_key_env
        self._model = model
        self._timeout = timeout
        self._supports_tools = supports_tools
        self._extra_body = dict(extra_body or {})
        self._name = name or f"openai:{model}"
        self._openai: Any = openai
        try:
            self._client: Any = openai.OpenAI(api_key=key or _NO_KEY, base_url=base_url, timeout=timeout,
                                              max_retries=max_retries)
        except openai.OpenAIError as e:
            raise ConfigError(f"cannot set up the chat client for {base_url}: {e}") from e
        self._base_url = str(self._client.base_url)

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return self._supports_tools

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One completion; native tool calls come back as :class:`ToolCall`. Raises :class:`LLMError`."""
        body = build_request(request)
        del body["cache_prompt"]  # llama.cpp-only; strict servers reject unknown fields
        if request.json_schema is not None:
            body["response_format"]["json_schema"]["strict"] = False  # OpenAI's strict mode restricts the schema
        messages_ = body.pop("messages")
        started = time.perf_counter()
        try:
            resp = self._client.chat.completions.create(model=self._model, messages=messages_,
                                                        extra_body=self._extra_body or None, **body)
        except self._openai.OpenAIError as e:
            raise self._wrap(e) from e
        return self._parse(resp, time.perf_counter() - started)

    def _parse(self, resp: Any, seconds: float) -> ChatResponse:
        try:
            choice = resp.choices[0]
            msg = choice.message
            calls = tuple(ToolCall(id=str(c.id or f"call_{i}"), name=c.function.name,
                                   arguments=c.function.arguments or "{}")
                          for i, c in enumerate(msg.tool_calls or ()))
            usage = resp.usage
            details = getattr(usage, "prompt_tokens_details", None) if usage is not None else None
            cached = getattr(details, "cached_tokens", None) or 0
            return ChatResponse(
                content=msg.content or "",
                tool_calls=calls,
                finish_reason=choice.finish_reason or "stop",
                usage=Usage(prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                            cached_tokens=int(cached), calls=1, seconds=seconds),
            )
        except (AttributeError, IndexError, TypeError, ValueError) as e:
            raise LLMError(f"{self._where}: malformed chat completion ({e})") from e

    @property
    def _where(self) -> str:
        return f"chat model {self._model!r} at {self._base_url}"

    def _wrap(self, e: Exception) -> LLMError:
        """An SDK error as an LLMError that says what to fix."""
        ep = Endpoint("chat", self._model, str(self._base_url), self._has_key, self._key_source, self._api_key_env,
                      self._timeout)
        return LLMError(describe(e, self._openai, ep))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAICompatChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAICompatChatModel(model={self._model!r}, base_url={self._base_url!r})"
