"""Typed configuration. Components take these frozen models; only :func:`load_config` reads TOML or the environment.

Environment variables use the prefix ``DELTAMEM_`` and ``__`` for nesting, e.g. ``DELTAMEM_STORE__PATH=/data/m.db``
or ``DELTAMEM_EMBEDDER__PROVIDER=hashing``. Precedence: explicit overrides > environment > TOML file > defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deltamem.core import DEFAULT_METADATA_LIMITS, MAX_TEXT_CHARS, ConfigError, MetadataLimits
from deltamem.core.limits import MAX_JSON_DEPTH


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$DELTAMEM_HOME``, else ``$XDG_DATA_HOME/deltamem``, else ``~/.local/share/deltamem``."""
    env = os.environ if env is None else env
    if env.get("DELTAMEM_HOME"):
        return Path(env["DELTAMEM_HOME"]).expanduser()
    base = Path(env["XDG_DATA_HOME"]).expanduser() if env.get("XDG_DATA_HOME") else Path.home() / ".local/share"
    return base / "deltamem"


class StoreConfig(_Frozen):
    """Where memories live. ``sqlite`` (default, a file), ``memory`` (in-process), ``postgres`` (``dsn``)."""

    provider: Literal["sqlite", "memory", "postgres"] = "sqlite"
    path: Path | None = None  # sqlite file; default <home>/memory.db
    dsn: str | None = None  # postgres


class EmbedderConfig(_Frozen):
    """How texts become vectors: ``minilm`` (local ONNX, default), ``openai`` (an /embeddings API), ``hashing``."""

    provider: Literal["minilm", "openai", "hashing"] = "minilm"
    model: str | None = None  # openai: model name; minilm: optional path to another ONNX model
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    hashing_dim: int = 64


class LLMConfig(_Frozen):
    """The chat model of the agent and the answerer.

    ``local``: a GGUF run in-process by llama.cpp (``model`` names a packaged model or a file path; default the
    packaged Qwen2.5-Coder-1.5B-Instruct). ``openai``: any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp
    server, OpenAI) at ``base_url``. ``none``: no LLM (facts and ops only).
    """

    provider: Literal["local", "openai", "hf", "none"] = "local"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    context_size: int = Field(default=8192, ge=512)
    timeout_s: float = Field(default=600.0, gt=0)
    cache_dir: Path | None = None  # on-disk response cache (opt-in)


class ReviewPolicy(_Frozen):
    """When a change set proposed by the memory agent waits in the review queue instead of being applied.

    Only agent sessions (``Memory.add`` of a conversation) are held; explicit writes (facts, ops, update, delete,
    delete_all, revert, import, an approved review item) never are, and only agent change sets count below.
    Destructive ops (DELETE, and UPDATE, which overwrites) are counted over a window: the namespace's last
    ``window_change_sets`` agent change sets, or all those of the last ``window_hours`` if there are more, plus the
    change set at hand. A change set is held when any rule fires:

    - destructive share: more than ``max_destructive`` memories deleted or overwritten in the window *and* more
      than ``max_destructive_share`` of those the namespace held when the window opened (memories added inside the
      window do not count). With an empty window this is the per-change-set rule;
    - delete count: more than ``max_deletes`` memories deleted in the window, whatever the share;
    - emptying (``hold_emptying``): the change set would delete the namespace's last live memories.

    Defaults: 5 and 30 %, 50 deletes, emptying held, a window of 10 change sets or 24 hours.
    """

    enabled: bool = True
    max_destructive: int = Field(default=5, ge=0)
    max_destructive_share: float = Field(default=0.30, ge=0.0, le=1.0)
    max_deletes: int = Field(default=50, ge=0)
    hold_emptying: bool = True
    window_change_sets: int = Field(default=10, ge=0, le=1000)
    window_hours: float = Field(default=24.0, ge=0.0, le=24.0 * 366)


class AgentSettings(_Frozen):
    """How the memory agent works through a session (see :class:`deltamem.agent.AgentConfig` for every knob).

    ``mode``: ``windowed`` (default, chosen by measurement for the packaged 0.5B-1.5B models: extract the facts of
    each window of ``window`` messages, then decide each against its nearest memories) or ``session`` (one ReAct
    loop over the whole session, for models strong enough to write a long session's operations in one reply).
    """

    mode: Literal["windowed", "session"] = "windowed"
    window: int = Field(default=10, ge=0, le=1000)


class MemoryConfig(_Frozen):
    """Everything :class:`deltamem.Memory` needs, as one typed object."""

    home: Path | None = None
    store: StoreConfig = Field(default_factory=StoreConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    search_mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    top_k: int = Field(default=10, ge=1, le=1000)
    max_text_chars: int = Field(default=MAX_TEXT_CHARS, ge=1)
    # Metadata limits, checked before any write (deltamem.core.limits): nesting depth, keys, canonical JSON bytes.
    max_metadata_depth: int = Field(default=DEFAULT_METADATA_LIMITS.max_depth, ge=1, le=MAX_JSON_DEPTH)
    max_metadata_keys: int = Field(default=DEFAULT_METADATA_LIMITS.max_keys, ge=0)
    max_metadata_bytes: int = Field(default=DEFAULT_METADATA_LIMITS.max_bytes, ge=2)
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)
    agent: AgentSettings = Field(default_factory=AgentSettings)

    def metadata_limits(self) -> MetadataLimits:
        """The metadata limits as the core takes them."""
        return MetadataLimits(max_depth=self.max_metadata_depth, max_keys=self.max_metadata_keys,
                              max_bytes=self.max_metadata_bytes)

    def sqlite_path(self) -> Path:
        """The SQLite file this config points at."""
        return self.store.path or (self.home or default_home()) / "memory.db"


#: ``DELTAMEM_*`` variables that are not config keys: read by the command line (model cache, serve-llm reuse,
#: evaluation data, MCP token), by the server's own settings (admin key) or by the test runner (its budget, the
#: watchdog's grace, the token that marks a run's processes; they reach every process a test starts).
NOT_CONFIG_VARIABLES = frozenset({"DELTAMEM_HOME", "DELTAMEM_CACHE_DIR", "DELTAMEM_REUSE_SERVER", "DELTAMEM_EVAL_DATA",
                                  "DELTAMEM_MCP_TOKEN", "DELTAMEM_ADMIN_KEY", "DELTAMEM_TEST_BUDGET",
                                  "DELTAMEM_WATCHDOG_GRACE", "DELTAMEM_TEST_RUN"})


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> MemoryConfig:
    """Build a :class:`MemoryConfig` from a TOML file, environment variables and explicit overrides.

    ``env`` defaults to ``os.environ``; pass ``{}`` to ignore the environment. A file with a ``[deltamem]`` table
    is read from that table. Raises :class:`ConfigError` with the offending key for unreadable files, unknown keys
    (a misspelt ``DELTAMEM_*`` variable included) and invalid values.
    """
    from deltamem.config.settings import problems, read_settings  # pydantic-settings: only when loading

    env = os.environ if env is None else env
    # DELTAMEM_HOME is the `home` key too (default_home reads it as well); set but empty, it is not set.
    skip = NOT_CONFIG_VARIABLES - {"DELTAMEM_HOME"} if env.get("DELTAMEM_HOME") else NOT_CONFIG_VARIABLES
    try:
        return read_settings(MemoryConfig, toml=path, table="deltamem", env=env, skip=skip, overrides=overrides)
    except ValidationError as e:
        raise ConfigError(f"invalid configuration: {problems(e)}") from e
