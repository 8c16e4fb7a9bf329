"""Typed configuration. Components take these frozen models; only :func:`load_config` reads TOML or the environment.

Environment variables use the prefix ``DELTAMEM_`` and ``__`` for nesting, e.g. ``DELTAMEM_STORE__PATH=/data/m.db``
or ``DELTAMEM_EMBEDDER__PROVIDER=hashing``. Precedence: explicit overrides > environment > TOML file > defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deltamem.core import MAX_TEXT_CHARS, ConfigError


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


class MemoryConfig(_Frozen):
    """Everything :class:`deltamem.Memory` needs, as one typed object."""

    home: Path | None = None
    store: StoreConfig = Field(default_factory=StoreConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    search_mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    top_k: int = Field(default=10, ge=1, le=1000)
    max_text_chars: int = Field(default=MAX_TEXT_CHARS, ge=1)

    def sqlite_path(self) -> Path:
        """The SQLite file this config points at."""
        return self.store.path or (self.home or default_home()) / "memory.db"


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


#: ``DELTAMEM_*`` variables that are not config keys: read by the command line (model cache, serve-llm reuse,
#: evaluation data, MCP token), by the server's own settings (admin key) or by the test runner (its budget, the
#: watchdog's grace, the token that marks a run's processes; they reach every process a test starts).
NOT_CONFIG_VARIABLES = frozenset({"DELTAMEM_HOME", "DELTAMEM_CACHE_DIR", "DELTAMEM_REUSE_SERVER", "DELTAMEM_EVAL_DATA",
                                  "DELTAMEM_MCP_TOKEN", "DELTAMEM_ADMIN_KEY", "DELTAMEM_TEST_BUDGET",
                                  "DELTAMEM_WATCHDOG_GRACE", "DELTAMEM_TEST_RUN"})


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith("DELTAMEM_") or key in NOT_CONFIG_VARIABLES:
            continue
        path = key[len("DELTAMEM_"):].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    if env.get("DELTAMEM_HOME"):
        out["home"] = env["DELTAMEM_HOME"]
    return out


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> MemoryConfig:
    """Build a :class:`MemoryConfig` from a TOML file, environment variables and explicit overrides.

    Raises :class:`ConfigError` with the offending key for unreadable files and invalid values.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
        data = data.get("deltamem", data)
    data = _merge(data, _from_env(os.environ if env is None else env))
    data = _merge(data, overrides or {})
    try:
        return MemoryConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid configuration: {problems}") from e
