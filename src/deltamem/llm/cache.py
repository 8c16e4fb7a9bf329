"""An opt-in on-disk response cache around any ChatModel (evaluation and synthesis re-run the same prompts).

The key is the sha256 of the canonical JSON of the request: model name, messages, tools, JSON schema, max_tokens,
temperature, stop and seed. Sampling at ``temperature > 0`` without a seed therefore replays the first sample —
that is the point of a response cache; leave it off where fresh samples are wanted.

Entries are ``<directory>/<key[:2]>/<key>.json``, written to a temp file and renamed into place, so readers never see
half an entry. An unreadable or malformed entry counts as a miss and is overwritten by the fresh response; a cache
that cannot be written (full disk, read-only directory) logs a warning and the call still succeeds.

Usage of a cache hit — what reports can rely on:

- ``ChatResponse.cached`` is True;
- ``usage.calls == 0`` and ``usage.seconds == 0.0``: no model call was made, no time spent;
- ``usage.prompt_tokens`` / ``usage.completion_tokens`` are the *original* call's counts, so token-cost figures of a
  run (e.g. prompt tokens per session) do not depend on whether the cache was warm;
- ``usage.cached_tokens == usage.prompt_tokens``: none of the prompt was computed now.

So summed over a run, ``calls`` counts real model calls, ``prompt_tokens - cached_tokens`` the prompt tokens actually
computed, and :attr:`CachedChatModel.saved` holds the original usage (seconds included) of the calls the cache
answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from deltamem.core.errors import ConfigError
from deltamem.llm.base import ChatModel, ChatModelWrapper, ChatRequest, ChatResponse, ToolCall, Usage

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the key or the entry layout changes; old entries are then simply never hit


class CachedChatModel(ChatModelWrapper):
    """Wraps ``inner``; answers repeated requests from ``directory`` (created if missing).

    ``hits`` / ``misses`` count lookups; ``saved`` sums the original usage of the responses served from disk.
    """

    def __init__(self, inner: ChatModel, directory: str | Path) -> None:
        super().__init__(inner)
        self.directory = Path(directory).expanduser()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the LLM response cache directory {self.directory}: {e}") from e
        self.hits = 0
        self.misses = 0
        self.saved = Usage()
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> ChatResponse:
        """The cached response for this exact request, else ``inner.complete(request)`` stored for next time."""
        key = request_key(self.inner.name, request)
        path = self.path_for(key)
        hit = _load(path)
        if hit is not None:
            original = hit.usage
            with self._lock:
                self.hits += 1
                self.saved = self.saved + original
            return ChatResponse(content=hit.content, tool_calls=hit.tool_calls, finish_reason=hit.finish_reason,
                                usage=Usage(prompt_tokens=original.prompt_tokens,
                                            completion_tokens=original.completion_tokens,
                                            cached_tokens=original.prompt_tokens, calls=0, seconds=0.0),
                                cached=True)
        response = self.inner.complete(request)
        with self._lock:
            self.misses += 1
        if not response.cached:
            _store(path, key, response)
        return response

    def path_for(self, key: str) -> Path:
        """Where the entry for ``key`` lives."""
        return self.directory / key[:2] / f"{key}.json"


def request_key(model: str, request: ChatRequest) -> str:
    """sha256 (hex) of the canonical JSON of ``request`` to ``model`` (sorted keys, no whitespace, mappings and
    sequences normalised). The layout is frozen: committed runs replay from keys made with it (bump :data:`FORMAT`
    to change it)."""
    canonical = {"format": FORMAT, "model": model, "messages": list(request.messages), "tools": request.tools,
                 "json_schema": request.json_schema, "max_tokens": request.max_tokens,
                 "temperature": float(request.temperature), "stop": list(request.stop) if request.stop else None,
                 "seed": request.seed}
    try:
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"chat request is not JSON-serialisable, cannot cache it: {e}") from e
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, list, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _load(path: Path) -> ChatResponse | None:
    """The stored response, or None if absent, unreadable or malformed (a miss; the entry will be rewritten)."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("format") != FORMAT:
            return None
        r = entry["response"]
        u = r["usage"]
        return ChatResponse(
            content=str(r["content"]),
            tool_calls=tuple(ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=str(c["arguments"]))
                             for c in r["tool_calls"]),
            finish_reason=str(r["finish_reason"]),
            usage=Usage(prompt_tokens=int(u["prompt_tokens"]), completion_tokens=int(u["completion_tokens"]),
                        cached_tokens=int(u["cached_tokens"]), calls=int(u["calls"]), seconds=float(u["seconds"])),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("ignoring unreadable LLM cache entry %s (%s); it will be rewritten", path, e)
        return None


def _store(path: Path, key: str, response: ChatResponse) -> None:
    entry = {"format": FORMAT, "key": key,
             "response": {"content": response.content, "finish_reason": response.finish_reason,
                          "tool_calls": [asdict(c) for c in response.tool_calls], "usage": asdict(response.usage)}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        log.warning("could not write LLM cache entry %s: %s", path, e)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
