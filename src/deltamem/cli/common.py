"""What every CLI command shares: global options, scope options, id prefixes and error handling."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from deltamem.cli import render
from deltamem.core import DeltamemError

if TYPE_CHECKING:
    from deltamem.config import LLMConfig
    from deltamem.llm.base import ChatModel


@dataclass
class Options:
    """Global options, set by the callback and read by every command."""

    config: Path | None = None
    db: Path | None = None
    embedder: str | None = None
    llm: str | None = None
    json: bool = False

    def memory(self) -> Any:
        """Build the facade from config file + environment + these flags."""
        from deltamem.config import load_config
        from deltamem.facade.memory import Memory
        from deltamem.registry import flag_overrides

        config = load_config(self.config, overrides=flag_overrides(db=self.db, embedder=self.embedder, llm=self.llm))
        return Memory.from_config(config, llm=cli_chat_model(config.llm, os.environ))


def cli_chat_model(cfg: LLMConfig, env: Mapping[str, str]) -> ChatModel | None:
    """The chat model of CLI commands (:func:`deltamem.registry.reusing_chat_model`), saying on stderr, dimmed,
    whether a running ``deltamem serve-llm`` is used."""
    from deltamem.registry import reusing_chat_model

    return reusing_chat_model(cfg, env, report=lambda line: render.err_console.print(line, style="dim",
                                                                                     markup=False))


OPTS = Options()

User = Annotated[str | None, typer.Option("--user", "-u", help="The user whose memory this is.")]
Agent = Annotated[str | None, typer.Option("--agent", help="Agent scope instead of (or with) a user.")]
Namespace = Annotated[str | None, typer.Option("--namespace", help="An explicit namespace instead of --user/--agent.")]


def run_safely(fn: Callable[[], None]) -> None:
    """Run a command body; turn deltamem errors into a readable message and exit code 1, never a traceback."""
    try:
        fn()
    except (DeltamemError, OSError, ValueError) as e:
        render.err_console.print(f"[red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from None


def _scope(user: str | None, agent: str | None, namespace: str | None) -> dict[str, Any]:
    return {"user_id": user, "agent_id": agent, "namespace": namespace}


def _full_id(prefix: str, candidates: list[str], what: str) -> str:
    """Tables show 12-character ids; accept any unique prefix of 4+ characters."""
    if prefix in candidates:
        return prefix
    matches = [c for c in candidates if c.startswith(prefix)] if len(prefix) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"{what} id prefix {prefix!r} is ambiguous ({len(matches)} matches); give more characters")
    return prefix  # let the facade report it as not found


def _memory_id(m: Any, prefix: str, scope: dict[str, Any]) -> str:
    return _full_id(prefix, sorted({r.memory_id for r in m.history(**scope)}), "memory")


def _change_set_id(m: Any, prefix: str, scope: dict[str, Any]) -> str:
    return _full_id(prefix, [r.id for r in m.change_sets(**scope)], "change set")
