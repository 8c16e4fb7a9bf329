"""mem0 (OSS ``mem0ai`` 2.x, ``pip install mem0ai==2.2.1``) as a :class:`MemorySystem` baseline, fully offline.

Each conversation gets its own ``mem0.Memory``: qdrant on disk and the history SQLite under
``<workdir>/<conversation>/``, ``user_id`` = the conversation id. mem0 reaches its models over HTTP with the
``openai`` SDK, either

- at ``base_url`` (e.g. ``deltamem serve-llm --embeddings``), or
- in-process: ``Mem0System(llm=..., embedder=...)`` serves those objects on a loopback
  :class:`~deltamem.eval.systems.mem0_endpoint.ChatEndpoint`, so mem0 runs on the very model (metered, cached)
  the harness gives every other system.

**Speakers.** Like mem0's own LoCoMo evaluation (``evaluation/src/memzero/add.py``), the first speaker's turns are
``user`` messages and the other's ``assistant`` messages, each prefixed with the speaker's name, and the custom
instructions ask for memories that name the person. (mem0's evaluation also ingests every conversation a second
time from the other speaker's side under a second ``user_id``; that doubles the cost and is not done here.)

**Dates.** OSS mem0 refuses ``add(timestamp=...)`` and fills the prompt's "Observation Date" with *today*. So the
session date goes (1) into the custom instructions (``prompt=``), which tell the model to resolve relative dates
against it, and (2) into each memory's metadata (``session_date``), which :meth:`Mem0System.context` returns as the
item's date, as mem0's evaluation shows ``timestamp: memory`` to the answer model.

**Cost** is counted with mem0's own hook: ``response_callback`` in its OpenAI LLM config receives every raw
completion, whose ``usage`` gives prompt/completion/cached tokens. It runs in the calling thread, per ``Memory``.

**Failures** that mem0 swallows (it logs "Error parsing extraction response" and stores nothing) are caught two
ways: every ERROR that the ``mem0`` loggers emit in this thread during ``add``, and a check of the raw reply
against the format mem0 2.x parses (``{"memory": [{"text": ...}, ...]}``, not cut at ``max_tokens``). Either
sets :attr:`IngestReport.error` and ``Cost.errors``. Exceptions mem0 raises are reported the same way.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.core.session import Message, Session
from deltamem.embed.base import Embedder
from deltamem.eval.systems._turns import iso, line
from deltamem.eval.systems.base import ContextItem, Cost, IngestReport
from deltamem.eval.systems.mem0_endpoint import ChatEndpoint
from deltamem.llm.base import ChatModel

__all__ = ["Mem0System", "reply_problem"]

_ALL = 100_000  # get_all's top_k: "everything" (mem0 defaults to 20)
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*|\s*```\s*$")


@dataclass(slots=True)
class _Reply:
    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


@dataclass(slots=True)
class _Conv:
    memory: Any  # mem0.Memory (untyped library)
    folder: Path
    replies: list[_Reply] = field(default_factory=list)


class _ThreadErrors(logging.Handler):
    """Collects ERROR records that mem0 logs from one thread (other conversations may run in other threads)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


class Mem0System:
    """mem0 OSS as a baseline. Give either ``base_url`` + ``model`` (an OpenAI-compatible server) or ``llm``
    (+ ``embedder``), which are then served to mem0 on a loopback endpoint.

    Args:
        base_url: chat endpoint root, e.g. ``http://127.0.0.1:8011/v1`` from ``deltamem serve-llm``.
        model: model name sent to it.
        llm / embedder: in-process models instead of URLs (the harness passes these).
        embed_base_url: embeddings endpoint root; default ``base_url`` (serve-llm ``--embeddings`` serves both).
        embed_model / embedding_dims: embedding model name and size (384 for MiniLM; ``embedder.dim`` if given).
        workdir: where each conversation's qdrant folder and history db go; default a temporary folder removed
            by :meth:`close`.
        api_key: bearer key for the endpoints (any text for a key-less local server).
        max_tokens: mem0's completion limit (its default 2000).
        messages_per_add: split a session into ``add`` calls of this many messages (mem0's evaluation used 2
            on its hosted platform); None sends the whole session in one call (one ~8k-token prompt per session).
        timeout: seconds mem0's chat client waits for one reply. mem0 builds its ``openai`` client with the SDK's
            defaults (600 s, 2 retries): on a busy 2-core CPU one cold ~8k-token call takes longer, and the SDK
            then re-sends it while the server still works on the first, so the adapter sets this and 0 retries.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, *, llm: ChatModel | None = None,
                 embedder: Embedder | None = None, embed_base_url: str | None = None,
                 embed_model: str = "all-MiniLM-L6-v2", embedding_dims: int = 384,
                 workdir: str | Path | None = None, api_key: str = "local", name: str = "mem0",
                 max_tokens: int = 2000, messages_per_add: int | None = None, timeout: float = 3600.0) -> None:
        if (llm is None) == (base_url is None):
            raise ConfigError("Mem0System needs either base_url (+ model) or llm, not both or neither")
        if messages_per_add is not None and messages_per_add < 1:
            raise ConfigError(f"messages_per_add must be at least 1, got {messages_per_add}")
        if os.environ.get("OPENROUTER_API_KEY"):
            # mem0's OpenAI LLM silently sends every prompt to openrouter.ai when this variable is set.
            raise ConfigError("OPENROUTER_API_KEY is set: mem0 would ignore base_url and call openrouter.ai; unset it")
        self._endpoint: ChatEndpoint | None = None
        if llm is not None:
            if embedder is None and embed_base_url is None:
                raise ConfigError("Mem0System(llm=...) needs embedder= or embed_base_url= for mem0's embeddings")
            self._endpoint = ChatEndpoint(llm, embedder=embedder)
            base_url, api_key, model = self._endpoint.base_url, self._endpoint.api_key, model or llm.name
            if embedder is not None:
                embed_base_url, embed_model, embedding_dims = base_url, embedder.name, embedder.dim
        if not model:
            raise ConfigError("Mem0System(base_url=...) needs the model name")
        self._mem0 = _import_mem0()
        self.mem0_version = importlib.metadata.version("mem0ai")
        self._name = name
        self._settings = {"base_url": base_url, "model": model, "embed_base_url": embed_base_url or base_url,
                          "embed_model": embed_model, "dims": embedding_dims, "api_key": api_key,
                          "max_tokens": max_tokens, "timeout": timeout}
        self._per_add = messages_per_add
        self._tmp = tempfile.TemporaryDirectory(prefix="deltamem-mem0-") if workdir is None else None
        self.workdir = Path(self._tmp.name if self._tmp is not None else workdir)  # type: ignore[arg-type]
        self._convs: dict[str, _Conv] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def close(self) -> None:
        """Close every mem0 Memory, the loopback endpoint and the temporary workdir (if one was made)."""
        with self._lock:
            convs, self._convs = list(self._convs.values()), {}
        for conv in convs:
            _close_memory(conv.memory)
        if self._endpoint is not None:
            self._endpoint.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def reset(self, conversation_id: str) -> None:
        with self._lock:
            conv = self._convs.pop(conversation_id, None)
        if conv is not None:
            _close_memory(conv.memory)
        shutil.rmtree(self.workdir / _folder_name(conversation_id), ignore_errors=True)

    def ingest(self, conversation_id: str, session: Session, *, speakers: tuple[str, ...] = ()) -> IngestReport:
        conv = self._conv(conversation_id)
        messages = to_mem0_messages(session.messages, speakers)
        step = self._per_add or max(1, len(messages))
        prompt = session_instructions(session, speakers)
        metadata = {"session_id": session.id, **({"session_date": iso(session.date)} if session.date else {})}
        start, first = time.perf_counter(), len(conv.replies)
        ops: Counter[str] = Counter()
        problems: list[str] = []
        logs = _ThreadErrors()
        mem0_log = logging.getLogger("mem0")
        mem0_log.addHandler(logs)
        try:
            for i in range(0, len(messages), step):
                seen = len(conv.replies)
                try:
                    result = conv.memory.add(messages[i:i + step], user_id=_user_id(conversation_id),
                                             metadata=metadata, prompt=prompt)
                except Exception as e:  # the edge to a third-party library: report, never raise
                    problems.append(f"mem0 add raised {type(e).__name__}: {e}")
                    break
                ops.update(str(r.get("event", "?")) for r in result.get("results", []) if isinstance(r, dict))
                if self.mem0_version.startswith("2."):
                    problems += [p for r in conv.replies[seen:] if (p := reply_problem(r.content, r.finish_reason))]
        finally:
            mem0_log.removeHandler(logs)
        problems += [f"mem0 logged: {m}" for m in logs.messages]
        cost = _cost(conv.replies[first:], seconds=time.perf_counter() - start)
        cost.errors = int(bool(problems))
        error = "; ".join(dict.fromkeys(problems))[:2000] if problems else None
        return IngestReport(session_id=session.key, cost=cost, ops=dict(ops), error=error)

    def context(self, conversation_id: str, question: str, *, asked_at: datetime | None = None,
                k: int = 10) -> tuple[list[ContextItem], Cost]:
        start = time.perf_counter()
        conv = self._conv(conversation_id)
        first = len(conv.replies)
        found = conv.memory.search(question, top_k=k, filters={"user_id": _user_id(conversation_id)})
        # Order score ties by text so that reruns show the answer model the same context.
        hits = sorted(found.get("results", []), key=lambda r: (-float(r.get("score") or 0.0), r.get("memory", "")))
        items = [_item(r, score=float(r["score"]) if r.get("score") is not None else None) for r in hits[:k]]
        return items, _cost(conv.replies[first:], seconds=time.perf_counter() - start)

    def memories(self, conversation_id: str) -> list[ContextItem]:
        conv = self._conv(conversation_id)
        found = conv.memory.get_all(filters={"user_id": _user_id(conversation_id)}, top_k=_ALL)
        return [_item(r, score=None) for r in found.get("results", [])]

    def _conv(self, conversation_id: str) -> _Conv:
        with self._lock:
            conv = self._convs.get(conversation_id)
            if conv is None:
                folder = self.workdir / _folder_name(conversation_id)
                folder.mkdir(parents=True, exist_ok=True)
                conv = _Conv(memory=None, folder=folder)
                conv.memory = self._new_memory(folder, conv.replies)
                self._convs[conversation_id] = conv
            return conv

    def _new_memory(self, folder: Path, replies: list[_Reply]) -> Any:
        s = self._settings

        def record(_llm: Any, response: Any, _params: Any) -> None:
            replies.append(_reply_of(response))

        config = {
            "llm": {"provider": "openai", "config": {
                "model": s["model"], "openai_base_url": s["base_url"], "api_key": s["api_key"],
                "max_tokens": s["max_tokens"], "response_callback": record}},
            "embedder": {"provider": "openai", "config": {
                "model": s["embed_model"], "openai_base_url": s["embed_base_url"], "api_key": s["api_key"],
                "embedding_dims": s["dims"]}},
            "vector_store": {"provider": "qdrant", "config": {
                "collection_name": "mem0", "path": str(folder / "qdrant"), "on_disk": True,
                "embedding_model_dims": s["dims"]}},
            "history_db_path": str(folder / "history.db"),
        }
        try:
            memory = self._mem0.Memory.from_config(config)
        except Exception as e:  # mem0 raises plain exceptions (ValueError, pydantic, qdrant) for bad configs
            raise ConfigError(f"mem0 could not start a Memory in {folder}: {type(e).__name__}: {e}") from e
        # mem0's config has no timeout/retry option; its LLM keeps the openai client in ``.client``.
        client = getattr(memory.llm, "client", None)
        if client is not None and hasattr(client, "with_options"):
            memory.llm.client = client.with_options(timeout=s["timeout"], max_retries=0)
        return memory


def to_mem0_messages(messages: tuple[Message, ...], speakers: tuple[str, ...]) -> list[dict[str, str]]:
    """mem0 chat messages for a session: role from the benchmark where it has roles; otherwise the first speaker
    (``speakers[0]``, or the first to talk) is ``user`` and everyone else ``assistant``. Text is ``Name: text``."""
    first = speakers[0] if speakers else next((m.speaker for m in messages if m.speaker), "")
    out: list[dict[str, str]] = []
    for m in messages:
        if not m.text.strip():
            continue
        role = (m.role or "").lower()
        if role not in ("user", "assistant", "system"):
            role = "user" if m.speaker == first else "assistant"
        out.append({"role": role, "content": line(m, speakers)})
    return out


def session_instructions(session: Session, speakers: tuple[str, ...]) -> str:
    """The custom instructions (mem0's ``prompt=``) for a session: who speaks and, where known, when."""
    parts = ["Each message starts with the name of the person speaking. Write memories that name the person "
             "(never 'user' or 'assistant') and include specific dates when events occurred."]
    named = [s for s in speakers if s and s.lower() not in ("user", "assistant")]
    if len(named) > 1:
        parts.append(f"This is a conversation between {' and '.join(named)}: both are people, and facts about "
                     "either of them are worth remembering.")
    if session.date is not None:
        day = session.date.date().isoformat()
        parts.append(f"These messages were exchanged on {session.date:%A, %d %B %Y} ({day}). Use {day} as the "
                     "Observation Date: resolve every relative time reference against it. The Observation Date "
                     "and Current Date given above are only the date of this import.")
    return "\n".join(parts)


def reply_problem(content: str, finish_reason: str = "stop") -> str | None:
    """Why mem0 2.x would store nothing (or less than the model meant) from this extraction reply, or None.

    mem0 parses ``{"memory": [{"text": ...}, ...]}`` and treats anything else as "no facts" without an error.
    """
    if finish_reason == "length":
        return f"the reply was cut at max_tokens: {content[:300]!r}"
    text = _FENCE.sub("", content or "").strip()
    if not text:
        return "the reply is empty"
    try:
        parsed = json.loads(text, strict=False)
    except ValueError:
        inner = text[text.find("{"):text.rfind("}") + 1]
        try:
            parsed = json.loads(inner, strict=False) if inner else None
        except ValueError:
            parsed = None
        if parsed is None:
            return f"the reply is not JSON: {content[:300]!r}"
    if not isinstance(parsed, dict) or not isinstance(parsed.get("memory"), list):
        return f"the reply has no 'memory' list: {content[:300]!r}"
    bad = [m for m in parsed["memory"] if not isinstance(m, dict) or not isinstance(m.get("text"), str)]
    if bad:
        return f"{len(bad)} of {len(parsed['memory'])} memory items have no 'text' and were dropped: {bad[:2]!r:.300}"
    return None


def _import_mem0() -> Any:
    # mem0 reads MEM0_TELEMETRY once, when imported, and with it on it posts to posthog (no network here) and
    # opens one shared ~/.mem0/migrations_qdrant folder per Memory, which qdrant locks: a second Memory fails.
    # So set the variable for a first import, and switch the flag off where mem0 was imported already.
    os.environ["MEM0_TELEMETRY"] = "False"
    try:
        import mem0
        import mem0.memory.main
        import mem0.memory.telemetry
    except ImportError as e:
        raise ConfigError(f"the mem0 baseline needs mem0ai: pip install 'mem0ai==2.2.1' ({e})") from e
    for module in (mem0.memory.telemetry, mem0.memory.main):
        if hasattr(module, "MEM0_TELEMETRY"):
            module.MEM0_TELEMETRY = False
    return mem0


def _close_memory(memory: Any) -> None:
    # qdrant's local mode holds a file lock on its folder until its client is closed.
    client = getattr(getattr(memory, "vector_store", None), "client", None)
    if client is not None:
        client.close()
    memory.close()


def _reply_of(response: Any) -> _Reply:
    choice = response.choices[0] if getattr(response, "choices", None) else None
    usage = getattr(response, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None)
    if cached is None:  # llama-server reports its prompt cache in "timings" (an extra field)
        timings = (getattr(response, "model_extra", None) or {}).get("timings") or {}
        cached = timings.get("cache_n", 0) if isinstance(timings, dict) else 0
    return _Reply(content=(choice.message.content or "") if choice else "",
                  finish_reason=(choice.finish_reason or "stop") if choice else "stop",
                  prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                  completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                  cached_tokens=int(cached or 0))


def _cost(replies: list[_Reply], *, seconds: float) -> Cost:
    return Cost(llm_calls=len(replies), prompt_tokens=sum(r.prompt_tokens for r in replies),
                completion_tokens=sum(r.completion_tokens for r in replies),
                cached_tokens=sum(r.cached_tokens for r in replies), seconds=seconds)


def _item(record: dict[str, Any], *, score: float | None) -> ContextItem:
    meta = record.get("metadata") or {}
    date = meta.get("session_date") or record.get("updated_at") or record.get("created_at")
    return ContextItem(text=str(record.get("memory", "")), score=score, date=date, id=record.get("id"))


def _user_id(conversation_id: str) -> str:
    # mem0 refuses ids with whitespace.
    return re.sub(r"\s", "_", conversation_id.strip()) or "_"


def _folder_name(conversation_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", conversation_id)[:60]
    return f"{safe}-{hashlib.sha1(conversation_id.encode()).hexdigest()[:8]}"
