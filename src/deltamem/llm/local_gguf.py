"""A local GGUF chat model run in-process by llama.cpp through ``xllamacpp`` (prebuilt wheels; no compiler, no GPU).

``xllamacpp.Server`` is llama.cpp's ``llama-server`` as a library: requests are OpenAI-style chat dicts handed
straight to its handlers (no HTTP on our side), and it keeps the KV cache of its slot between requests. With one slot
and ``cache_prompt`` on, a request whose rendered prompt starts with the previous request's prompt only prefills the
new tokens — exactly the shape of a ReAct loop, where each turn appends to the same message list. The reused count is
reported as ``Usage.cached_tokens`` (llama.cpp's ``timings.cache_n``). Keep the prefix stable (same system prompt,
earlier messages unchanged) to benefit.

llama-server also listens on a loopback port. Nothing of ours uses that socket, so it is protected with a random API
key that never leaves this object; :mod:`deltamem.llm.serve` is the way to expose a model over HTTP on purpose.

Loops: greedy decoding makes the small packaged models repeat one op or sentence until ``max_tokens`` (seen on
18-turn LoCoMo sessions: 30 copies of one UPDATE). :data:`DEFAULT_SAMPLING` turns on llama.cpp's DRY sampler, which
penalises extending a sequence already in the context past 2 tokens but treats ``"``, ``:`` and newlines as
breakers, so JSON punctuation and keys may repeat freely. On the 14 update scenarios it left the mean reward
unchanged (0.653), while a plain ``repeat_penalty`` of 1.1 cut it to 0.562.

Native tool calls: llama.cpp (``--jinja``) parses a reply into ``tool_calls`` only when the model writes its chat
template's tool-call syntax. Qwen2.5-Coder-1.5B/0.5B answer tool prompts with a fenced JSON object instead
(checked with llama.cpp b11549), so ``supports_tools`` is False by default and callers use the plain-text protocol.
Tools passed anyway are forwarded, and any tool calls the server parses are returned.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError, LLMError
from deltamem.llm._llama_stop import stop_server
from deltamem.llm._request import build_request
from deltamem.llm.base import ChatModel, ChatRequest, ChatResponse, ToolCall, Usage
from deltamem.llm.model_files import DEFAULT_MODEL, MODELS, ensure_model

#: llama.cpp sampler settings added to every request unless ``sampling`` says otherwise (see the module docstring).
DEFAULT_SAMPLING: Mapping[str, Any] = {"dry_multiplier": 0.8}
_CHAT_ARGUMENTS = frozenset({"messages", "max_tokens", "temperature", "stop", "seed", "tools", "response_format"})


def default_threads() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LocalGGUFChatModel(ChatModel):
    """Chat completions from a GGUF file with llama.cpp (``xllamacpp``), loaded in the constructor.

    Args:
        model_path: the ``.gguf`` file. :meth:`from_name` resolves packaged model names.
        name: identifier for reports and cache keys; default ``local:<file name>``.
        context_size: KV-cache size in tokens (prompt + reply must fit).
        threads: CPU threads for prefill and decode; default all cores available to this process.
        batch_size: prompt tokens processed per step (``n_batch``).
        supports_tools: declare that this model writes tool calls that llama.cpp parses (e.g. a Qwen2.5-Instruct
            or Llama-3.1 GGUF); False for the packaged Qwen2.5-Coder models, see the module docstring.
        chat_template: a Jinja chat template overriding the one in the GGUF.
        cache_prompt: reuse cached KV state for a matching prompt prefix (llama.cpp keeps the slot's state and, in
            RAM, earlier prompts' states too). Off only to measure cold prefill; also settable per instance.
        sampling: llama.cpp sampler fields merged into every request (``dry_multiplier``, ``repeat_penalty``,
            ``top_k``, ...); default :data:`DEFAULT_SAMPLING`, ``{}`` for plain llama.cpp defaults.

    Raises:
        ConfigError: missing file, ``xllamacpp`` not installed, or a file llama.cpp cannot load.
    """

    def __init__(self, model_path: str | Path, *, name: str | None = None, context_size: int = 8192,
                 threads: int | None = None, batch_size: int = 512, supports_tools: bool = False,
                 chat_template: str | None = None, cache_prompt: bool = True,
                 sampling: Mapping[str, Any] | None = None) -> None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF model file not found: {path}")
        if context_size < 256:
            raise ConfigError(f"context_size must be at least 256 tokens, got {context_size}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        try:
            import xllamacpp
        except ImportError as e:
            raise ConfigError(f"the local LLM needs xllamacpp: pip install 'deltamem[local]' ({e})") from e
        self.path = path
        self.context_size = context_size
        self._name = name or f"local:{path.name}"
        self._supports_tools = supports_tools
        self.cache_prompt = cache_prompt
        self.sampling = dict(DEFAULT_SAMPLING if sampling is None else sampling)
        clash = _CHAT_ARGUMENTS & set(self.sampling)
        if clash:
            raise ConfigError(f"sampling must not set {', '.join(sorted(clash))}: pass those to chat()")
        n_threads = threads or default_threads()
        self.threads = n_threads
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = context_size
        params.n_batch = batch_size
        params.n_parallel = 1  # one slot: every request can reuse the previous request's KV cache
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.use_jinja = True
        params.cache_prompt = True
        params.verbosity = -1
        params.port = 0  # the unavoidable loopback listener gets an ephemeral port...
        params.api_keys = [secrets.token_hex(16)]  # ...and a key nobody knows
        if chat_template:
            params.chat_template = chat_template
        started = time.perf_counter()
        try:
            self._server: Any = xllamacpp.Server(params)
        except RuntimeError as e:
            raise ConfigError(f"llama.cpp could not load {path} (not a GGUF model, damaged, or too large for "
                              f"context_size={context_size}): {e}") from e
        self.load_seconds = time.perf_counter() - started
        self.last_timings: dict[str, float] = {}  # llama.cpp's timings of the last call (prompt_n, cache_n, ...)
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model: str | None = None, *, cache_dir: Path | None = None, progress: bool = True,
                  **options: Any) -> LocalGGUFChatModel:
        """A packaged model by name (default ``qwen2.5-coder-1.5b``, assembled on first use) or a ``.gguf`` path.

        ``options`` go to the constructor (``context_size``, ``threads``, ...).
        """
        key = model or DEFAULT_MODEL
        if key in MODELS:
            path = ensure_model(key, cache_dir=cache_dir, progress=progress)
            options.setdefault("name", f"local:{key}")
        else:
            path = Path(key).expanduser()
            if not path.is_file():
                raise ConfigError(f"{key!r} is neither a packaged model ({', '.join(MODELS)}) nor a GGUF file")
        return cls(path, **options)

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return self._supports_tools

    def complete(self, request: ChatRequest) -> ChatResponse:
        """One completion. ``json_schema`` constrains the reply with a grammar (it always parses, unless cut off
        by ``max_tokens``). Raises :class:`LLMError` if llama.cpp fails, e.g. when the prompt exceeds the context.
        """
        body = build_request(request)
        body.update(self.sampling)
        body["cache_prompt"] = self.cache_prompt
        server = self._server
        if server is None:
            raise LLMError(f"{self._name} is closed")
        try:
            # One slot serves one request at a time anyway; taking turns here makes ``seconds`` this call's own time.
            with self._lock:
                started = time.perf_counter()
                reply = server.handle_chat_completions(body)
                seconds = time.perf_counter() - started
        except (ValueError, RuntimeError) as e:
            raise LLMError(f"llama.cpp rejected the request: {e}") from e
        timings = reply.get("timings") if isinstance(reply, Mapping) else None
        self.last_timings = dict(timings) if isinstance(timings, Mapping) else {}
        return parse_reply(reply, seconds=seconds, source=self._name)

    def close(self) -> None:
        """Stop llama.cpp and free the model's memory (also done when the object is garbage-collected).

        Bounded: raises :class:`LLMError` if llama.cpp's threads do not stop within
        :data:`~deltamem.llm._llama_stop.STOP_TIMEOUT` seconds, instead of waiting forever.
        """
        holder, self._server = [getattr(self, "_server", None)], None
        stop_server(holder, name=self._name)

    def __del__(self) -> None:
        # A model dropped without close() must not run llama.cpp's unbounded destructor in whichever thread the GC
        # happens to use; at interpreter exit no thread can be started any more, hence the blanket except. A plain
        # try, not contextlib.suppress: at exit the module's globals (contextlib among them) may already be gone.
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass

    def __enter__(self) -> LocalGGUFChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_reply(reply: Any, *, seconds: float, source: str) -> ChatResponse:
    """A llama.cpp (OpenAI-format) chat completion dict → :class:`ChatResponse`; an error dict → :class:`LLMError`."""
    if not isinstance(reply, Mapping):
        raise LLMError(f"{source}: unexpected reply {reply!r:.200}")
    if "error" in reply or "choices" not in reply:
        error = reply.get("error", reply)
        message = error.get("message", error) if isinstance(error, Mapping) else error
        raise LLMError(f"{source}: {message}")
    try:
        choice = reply["choices"][0]
        msg = choice["message"]
        calls = tuple(ToolCall(id=str(c.get("id") or f"call_{i}"), name=c["function"]["name"],
                               arguments=c["function"].get("arguments") or "{}")
                      for i, c in enumerate(msg.get("tool_calls") or ()))
        usage = reply.get("usage") or {}
        timings = reply.get("timings") or {}
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens", timings.get("cache_n", 0))
        return ChatResponse(
            content=msg.get("content") or "",
            tool_calls=calls,
            finish_reason=choice.get("finish_reason") or "stop",
            usage=Usage(prompt_tokens=int(usage.get("prompt_tokens", 0)),
                        completion_tokens=int(usage.get("completion_tokens", 0)),
                        cached_tokens=int(cached or 0), calls=1, seconds=seconds),
        )
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise LLMError(f"{source}: malformed reply {reply!r:.300}") from e
