"""Whether a command should use a running ``deltamem serve-llm`` instead of loading the local model itself.

Loading the packaged 1.5B model costs seconds and ~2 GB of memory per process; a ``serve-llm`` that already holds
the same model answers the same requests over loopback HTTP. :func:`choose_server` decides, from the discovery files
of :mod:`deltamem.llm.discovery`, and :meth:`Choice.chat_model` builds the client. A server is used only when

- reuse is not switched off (``DELTAMEM_REUSE_SERVER=0``; also ``false``, ``no``, ``off``);
- its process is alive and it serves the same model: the same packaged name (and sha256, when recorded), or, for a
  model given as a path, the same file;
- its context is at least the configured ``context_size`` (a smaller one could reject prompts that fit in process);
- it needs no key, or the environment variable it names (``serve-llm --api-key-env``) holds one here;
- it answers ``GET /v1/models`` listing that model within ``timeout`` seconds.

Same results: the client sends what the in-process model adds to each request, :data:`DEFAULT_SAMPLING` (the DRY
sampler) and ``cache_prompt``, declares no native tool calls (like the packaged models in process), and keeps the
in-process model's name, so response-cache keys are shared by both paths (same weights, same sampling, same answers).
Both paths run llama.cpp's own server code on the same GGUF with one slot, so a request yields the same tokens, except
that the server's KV cache outlives a command: a prompt prefix reused from an earlier command is not recomputed, and
llama.cpp does not promise bit-identical logits between a cached and a recomputed prefix (with greedy decoding the
text was identical in our checks, see docs/llm.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deltamem.core.errors import ConfigError
from deltamem.llm.base import ChatModel
from deltamem.llm.discovery import (
    Health,
    ServerRecord,
    discard,
    pid_alive,
    probe,
    read_records,
    record_path,
    runtime_dir,
)
from deltamem.llm.model_files import DEFAULT_MODEL, MODELS

ENV_VAR = "DELTAMEM_REUSE_SERVER"
_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"", "1", "true", "yes", "on"})
Probe = Callable[[ServerRecord, str | None, float], Health]


def _probe(record: ServerRecord, api_key: str | None, timeout: float) -> Health:
    return probe(record, api_key=api_key, timeout=timeout)


def reuse_enabled(env: Mapping[str, str]) -> bool:
    """False when ``DELTAMEM_REUSE_SERVER`` switches reuse off; ConfigError for a value that is neither on nor off."""
    value = env.get(ENV_VAR, "").strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    raise ConfigError(f"{ENV_VAR}={env[ENV_VAR]!r}: use 0 (always load the model in process) or 1 (the default)")


def serves(record: ServerRecord, model: str | None) -> bool:
    """Whether ``record``'s server serves ``model`` (a packaged name, a ``.gguf`` path, or None for the default)."""
    key = model or DEFAULT_MODEL
    spec = MODELS.get(key)
    if spec is not None:
        return record.packaged == key and record.sha256 in (None, spec.sha256)
    try:
        return os.path.samefile(Path(key).expanduser(), record.path)
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class Choice:
    """The decision: ``record`` to use (with the ``api_key`` to send), or None and ``reason`` why not."""

    record: ServerRecord | None
    reason: str = ""
    api_key: str | None = None

    def describe(self, model: str | None) -> str:
        """One line for the user saying which one is used."""
        if self.record is not None:
            return f"using the running serve-llm at {self.record.base_url} (pid {self.record.pid})"
        return f"loading {model or DEFAULT_MODEL} in this process ({self.reason})"

    def chat_model(self, *, timeout: float = 600.0) -> ChatModel:
        """The client for the chosen server, sending the in-process model's sampler settings (see module doc)."""
        record = self.record
        if record is None:
            raise ConfigError(f"no serve-llm to use: {self.reason}")
        from deltamem.llm.local_gguf import DEFAULT_SAMPLING
        from deltamem.llm.openai_compat import OpenAICompatChatModel

        client: ChatModel = OpenAICompatChatModel(
            model=record.model, base_url=record.base_url, api_key=self.api_key or "no-key", timeout=timeout,
            max_retries=1, supports_tools=False, name=f"local:{record.packaged or Path(record.path).name}",
            extra_body={**DEFAULT_SAMPLING, "cache_prompt": True})
        return client


def choose_server(model: str | None, *, context_size: int, env: Mapping[str, str], directory: Path | None = None,
                  check: Probe = _probe, alive: Callable[[int], bool] = pid_alive, timeout: float = 2.0) -> Choice:
    """The running ``serve-llm`` to use for the local ``model`` (None: the default packaged model), if any.

    ``env`` is the environment (opt-out, key variables, where the discovery files are); ``directory`` overrides where
    they are. Records of dead processes, and of servers that refuse connections, are deleted on the way.
    """
    if not reuse_enabled(env):
        return Choice(None, f"{ENV_VAR}={env.get(ENV_VAR)}")
    where = directory or runtime_dir(env)
    records = read_records(where, alive=alive)
    if not records:
        return Choice(None, "no serve-llm is running; `deltamem serve-llm` keeps the model loaded between commands")
    wanted = model or DEFAULT_MODEL
    reasons: list[str] = []
    for record in records:
        at = f"serve-llm at {record.base_url} (pid {record.pid})"
        if not serves(record, model):
            reasons.append(f"{at} serves {record.packaged or record.path}, not {wanted}")
            continue
        if record.context_size < context_size:
            reasons.append(f"{at} has a {record.context_size}-token context, {context_size} configured")
            continue
        key = None
        if record.api_key_env is not None:
            key = env.get(record.api_key_env) or None
            if key is None:
                reasons.append(f"{at} needs the key in ${record.api_key_env}, which is not set here")
                continue
        health = check(record, key, timeout)
        if health.ok:
            return Choice(record, api_key=key)
        if health.gone:
            discard(record_path(where, record.pid))
        reasons.append(f"{at} {health.reason}")
    return Choice(None, "; ".join(reasons))
