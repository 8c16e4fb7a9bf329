"""Provider names → instances. Used only at the edges (CLI, server, config); library code takes instances.

Imports are lazy so that the base install never imports onnxruntime, xllamacpp or psycopg unless asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltamem.core import ConfigError

if TYPE_CHECKING:
    from deltamem.config import EmbedderConfig, LLMConfig, MemoryConfig
    from deltamem.embed.base import Embedder
    from deltamem.llm.base import ChatModel
    from deltamem.stores.base import ArchiveStore


def build_embedder(cfg: EmbedderConfig) -> Embedder:
    """The embedder a config names."""
    if cfg.provider == "hashing":
        from deltamem.embed.hashing import HashingEmbedder

        return HashingEmbedder(dim=cfg.hashing_dim)
    if cfg.provider == "minilm":
        try:
            from deltamem.embed.onnx_minilm import MiniLMEmbedder
        except ImportError as e:
            raise ConfigError(f"the local embedder needs the 'local' extra: pip install 'deltamem[local]' ({e})") from e
        embedder: Embedder = MiniLMEmbedder(model_path=cfg.model) if cfg.model else MiniLMEmbedder()
        return embedder
    if cfg.provider == "openai":
        from deltamem.embed.openai_compat import OpenAICompatEmbedder

        if not cfg.model:
            raise ConfigError("embedder.model is required for the openai embedder")
        remote: Embedder = OpenAICompatEmbedder(model=cfg.model, base_url=cfg.base_url,
                                                api_key=os.environ.get(cfg.api_key_env), api_key_env=cfg.api_key_env)
        return remote
    raise ConfigError(f"unknown embedder provider {cfg.provider!r}")


def build_store(cfg: MemoryConfig) -> ArchiveStore:
    """The store a config names."""
    provider = cfg.store.provider
    if provider == "sqlite":
        from deltamem.stores.sqlite import SqliteStore

        return SqliteStore(cfg.sqlite_path())
    if provider == "memory":
        from deltamem.stores.memory import InMemoryStore

        return InMemoryStore()
    if provider == "postgres":
        if not cfg.store.dsn:
            raise ConfigError("store.dsn is required for the postgres store")
        try:
            from deltamem.stores.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as e:
            raise ConfigError(f"the postgres store needs: pip install 'deltamem[postgres]' ({e})") from e
        store: ArchiveStore = PostgresStore(cfg.store.dsn)
        return store
    raise ConfigError(f"unknown store provider {provider!r}")


def parse_llm_spec(spec: str) -> dict[str, str | None]:
    """``local``, ``local:NAME_OR_PATH``, ``openai:MODEL``, ``openai:MODEL@BASE_URL``, ``hf:CHECKPOINT_DIR`` or
    ``none`` → config fields."""
    provider, _, rest = spec.partition(":")
    if provider not in ("local", "openai", "hf", "none"):
        raise ConfigError(f"unknown LLM {spec!r}; use local[:model-or-path], openai:MODEL[@BASE_URL], hf:DIR or none")
    if provider == "hf":
        if not rest:
            raise ConfigError("hf needs a checkpoint directory: hf:PATH (a transformers model or a LoRA adapter)")
        return {"provider": "hf", "model": rest, "base_url": None}
    model, _, base_url = rest.partition("@")
    if provider == "openai" and not model:
        raise ConfigError("openai needs a model name: openai:MODEL[@BASE_URL]")
    return {"provider": provider, "model": model or None, "base_url": base_url or None}


def build_chat_model(cfg: LLMConfig, *,
                     running_server: Callable[[], ChatModel | None] | None = None) -> ChatModel | None:
    """The chat model a config names (None for ``none``). Local models load lazily, on the first chat.

    ``running_server`` (provider ``local`` only) is called at that first chat; a model it returns (a client of a
    running ``deltamem serve-llm``, see :mod:`deltamem.llm.reuse`) is used instead of loading the GGUF in process.
    The CLI passes one; library callers get the in-process model unless they pass one too.
    """
    from deltamem.llm.lazy import LazyChatModel

    model: ChatModel
    if cfg.provider == "none":
        return None
    if cfg.provider == "local":
        def load_local() -> ChatModel:
            if running_server is not None:
                served = running_server()
                if served is not None:
                    return served
            try:
                from deltamem.llm.local_gguf import LocalGGUFChatModel
            except ImportError as e:
                raise ConfigError(f"the local LLM needs the 'local' extra: pip install 'deltamem[local]' ({e})") from e
            local: ChatModel = LocalGGUFChatModel.from_name(cfg.model, context_size=cfg.context_size)
            return local

        model = LazyChatModel(load_local, name=f"local:{cfg.model or 'default'}")
    elif cfg.provider == "hf":
        checkpoint = cfg.model or ""

        def load_hf() -> ChatModel:
            try:
                from deltamem.llm.hf_backend import TransformersChatModel
            except ImportError as e:
                raise ConfigError(f"hf: checkpoints need the 'train' extra: pip install 'deltamem[train]' ({e})") from e
            hf: ChatModel = TransformersChatModel.from_path(checkpoint)
            return hf

        model = LazyChatModel(load_hf, name=f"hf:{checkpoint}")
    elif cfg.provider == "openai":
        from deltamem.llm.openai_compat import OpenAICompatChatModel

        if not cfg.model:
            raise ConfigError("llm.model is required for an OpenAI-compatible endpoint")
        model = OpenAICompatChatModel(model=cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                                      timeout=cfg.timeout_s)
    else:
        raise ConfigError(f"unknown LLM provider {cfg.provider!r}")
    if cfg.cache_dir is not None:
        from deltamem.llm.cache import CachedChatModel

        model = CachedChatModel(model, cfg.cache_dir)
    return model


def flag_overrides(*, db: str | Path | None = None, embedder: str | None = None,
                   llm: str | None = None) -> dict[str, Any]:
    """Config overrides from the entry points' flags: ``--db PATH`` (a SQLite store), ``--embedder NAME`` and
    ``--llm SPEC`` (:func:`parse_llm_spec`); a flag left out leaves the config's value."""
    overrides: dict[str, Any] = {}
    if db is not None:
        overrides["store"] = {"provider": "sqlite", "path": str(db)}
    if embedder is not None:
        overrides["embedder"] = {"provider": embedder}
    if llm is not None:
        overrides["llm"] = {k: v for k, v in parse_llm_spec(llm).items() if v is not None}
    return overrides


def reusing_chat_model(cfg: LLMConfig, env: Mapping[str, str], *,
                       report: Callable[[str], None]) -> ChatModel | None:
    """The chat model of a command-line program: as configured, except that the default ``local`` provider uses a
    running ``deltamem serve-llm`` of the same model when there is one (decided at the first chat by
    :func:`deltamem.llm.reuse.choose_server`; ``DELTAMEM_REUSE_SERVER=0`` switches it off). ``report`` gets one line
    saying which is used."""
    if cfg.provider != "local":
        return build_chat_model(cfg)

    def running_server() -> ChatModel | None:
        from deltamem.llm.reuse import choose_server

        choice = choose_server(cfg.model, context_size=cfg.context_size, env=env)
        report(choice.describe(cfg.model))
        return choice.chat_model(timeout=cfg.timeout_s) if choice.record is not None else None

    return build_chat_model(cfg, running_server=running_server)
