"""The ``deltamem`` command line: thin commands that parse, call the facade and print."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from deltamem.cli import render
from deltamem.cli.common import (
    OPTS,
    Agent,
    Namespace,
    User,
    _change_set_id,
    _memory_id,
    _scope,
    run_safely,
)
from deltamem.cli.json_flag import JsonAnywhereGroup
from deltamem.stores.base import SearchMode

app = typer.Typer(name="deltamem", help="Long-term memory for LLM assistants.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False, cls=JsonAnywhereGroup)

@app.callback()
def _main(
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file.")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (overrides the config).")] = None,
    embedder: Annotated[str | None, typer.Option(help="minilm | openai | hashing (overrides the config).")] = None,
    llm: Annotated[str | None, typer.Option(
        help="local[:model-or-path] | openai:MODEL[@BASE_URL] | none (overrides the config).")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of tables (also accepted after the command).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug output.")] = False,
) -> None:
    """deltamem keeps an assistant's long-term memory current: ADD / UPDATE / DELETE with history and revert."""
    OPTS.config, OPTS.db, OPTS.embedder, OPTS.llm, OPTS.json = config, db, embedder, llm, json_out
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)


@app.command()
def add(facts: Annotated[list[str], typer.Argument(
            help="Fact sentences to store, or one conversation file (.json / .jsonl: LoCoMo or dated sessions).")],
        user: User = None, agent: Agent = None, namespace: Namespace = None,
        raw: Annotated[bool, typer.Option("--raw", help="Store conversation messages as they are (no LLM).")]
        = False) -> None:
    """Store facts, or let the memory agent read a conversation file session by session."""
    def body() -> None:
        from deltamem.cli.ingest_view import ingest_file, is_conversation_file

        with OPTS.memory() as m:
            if len(facts) == 1 and is_conversation_file(facts[0]):
                ingest_file(m, Path(facts[0]), _scope(user, agent, namespace), infer=not raw, as_json=OPTS.json)
                return
            cs = m.add(facts, **_scope(user, agent, namespace))
        render.print_json(render.change_set_dict(cs)) if OPTS.json else render.print_change_set(cs)
    run_safely(body)


_SEARCH_MODES: dict[str, SearchMode] = {"hybrid": "hybrid", "vector": "vector", "keyword": "keyword"}


@app.command()
def search(query: str, user: User = None, agent: Agent = None, namespace: Namespace = None,
           k: Annotated[int, typer.Option("-k", help="How many results.")] = 10,
           mode: Annotated[str | None, typer.Option(
               help="hybrid | vector | keyword (default: the config's search_mode, hybrid).")] = None) -> None:
    """Find the memories most relevant to a query."""
    def body() -> None:
        if mode is not None and mode not in _SEARCH_MODES:
            raise ValueError("--mode must be hybrid, vector or keyword")
        with OPTS.memory() as m:
            used: SearchMode = _SEARCH_MODES[mode] if mode else m.config.search_mode
            hits = m.search(query, k=k, mode=used, **_scope(user, agent, namespace))
        if OPTS.json:
            render.print_json({"results": [render.hit_dict(h) for h in hits]})
        else:
            render.console.print(render.hits_table(hits, mode=used))
    run_safely(body)


@app.command()
def get(memory_id: str, user: User = None, agent: Agent = None, namespace: Namespace = None) -> None:
    """Show one memory."""
    def body() -> None:
        with OPTS.memory() as m:
            scope = _scope(user, agent, namespace)
            entry = m.get(_memory_id(m, memory_id, scope), **scope)
        if OPTS.json:
            render.print_json(render.memory_dict(entry))
        else:
            render.console.print(render.entries_table([entry], title="memory"))
    run_safely(body)


@app.command("list")
def list_(user: User = None, agent: Agent = None, namespace: Namespace = None,
          limit: Annotated[int | None, typer.Option(help="Page size.")] = None,
          offset: Annotated[int, typer.Option(help="Skip this many.")] = 0) -> None:
    """List live memories, oldest first (get_all)."""
    def body() -> None:
        with OPTS.memory() as m:
            entries = m.get_all(limit=limit, offset=offset, **_scope(user, agent, namespace))
        if OPTS.json:
            render.print_json({"results": [render.memory_dict(e) for e in entries]})
        else:
            render.console.print(render.entries_table(entries))
    run_safely(body)


@app.command()
def update(memory_id: str, text: str, user: User = None, agent: Agent = None, namespace: Namespace = None) -> None:
    """Replace a memory's text."""
    _write(lambda m, s: m.update(_memory_id(m, memory_id, s), text, **s), user, agent, namespace)


@app.command()
def delete(memory_id: str, user: User = None, agent: Agent = None, namespace: Namespace = None) -> None:
    """Retire a memory (kept in history, revertable)."""
    _write(lambda m, s: m.delete(_memory_id(m, memory_id, s), **s), user, agent, namespace)


@app.command("delete-all")
def delete_all(user: User = None, agent: Agent = None, namespace: Namespace = None,
               yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Retire every memory of a namespace as one revertable change set."""
    if not yes and not typer.confirm("Retire all memories of this namespace?", default=False):
        raise typer.Exit(1)
    _write(lambda m, s: m.delete_all(**s), user, agent, namespace)


@app.command()
def revert(change_set_id: str, user: User = None, agent: Agent = None, namespace: Namespace = None,
           force: Annotated[bool, typer.Option(help="Revert even if later change sets touched the same memories.")]
           = False) -> None:
    """Restore the state before a change set (as a new change set)."""
    _write(lambda m, s: m.revert(_change_set_id(m, change_set_id, s), force=force, **s), user, agent, namespace)


def _write(action: Callable[[Any, dict[str, Any]], Any], user: str | None, agent: str | None,
           namespace: str | None) -> None:
    def body() -> None:
        with OPTS.memory() as m:
            cs = action(m, _scope(user, agent, namespace))
        render.print_json(render.change_set_dict(cs)) if OPTS.json else render.print_change_set(cs)
    run_safely(body)


@app.command()
def history(memory_id: Annotated[str | None, typer.Argument(help="One memory; omit for the namespace.")] = None,
            user: User = None, agent: Agent = None, namespace: Namespace = None) -> None:
    """Every change to a memory (or to the namespace), oldest first."""
    def body() -> None:
        with OPTS.memory() as m:
            scope = _scope(user, agent, namespace)
            records = m.history(_memory_id(m, memory_id, scope) if memory_id else None, **scope)
        if OPTS.json:
            render.print_json([render.history_dict(r) for r in records])
        else:
            render.console.print(render.history_table(records))
    run_safely(body)


@app.command()
def log(user: User = None, agent: Agent = None, namespace: Namespace = None,
        limit: Annotated[int, typer.Option(help="How many.")] = 20) -> None:
    """Committed change sets, newest first."""
    def body() -> None:
        with OPTS.memory() as m:
            records = m.change_sets(limit=limit, **_scope(user, agent, namespace))
        if OPTS.json:
            render.print_json([{"id": r.id, "created_at": r.created_at.isoformat(), "actor": r.actor,
                                "session_id": r.session_id, "counts": dict(r.counts), "ops": list(r.ops),
                                "reverts": r.reverts, "reverted_by": r.reverted_by} for r in records])
        else:
            render.console.print(render.change_sets_table(records))
    run_safely(body)


@app.command()
def export(path: Path, user: User = None, agent: Agent = None, namespace: Namespace = None,
           all_: Annotated[bool, typer.Option("--all", help="Every namespace.")] = False) -> None:
    """Write a versioned JSONL export (memories, vectors, change sets, history)."""
    def body() -> None:
        with OPTS.memory() as m:
            scope = {} if all_ else _scope(user, agent, namespace)
            n = m.export(path, all_namespaces=all_, **scope)
        render.print_json({"records": n, "path": str(path)}) if OPTS.json else render.console.print(
            f"exported {n} records to {path}")
    run_safely(body)


@app.command("import")
def import_(path: Path) -> None:
    """Load an export (validated whole before anything is written)."""
    def body() -> None:
        with OPTS.memory() as m:
            n = m.import_(path)
        render.print_json({"records": n}) if OPTS.json else render.console.print(f"imported {n} records")
    run_safely(body)


@app.command()
def reset(user: User = None, agent: Agent = None, namespace: Namespace = None,
          yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Erase a namespace completely, history included (irreversible)."""
    if not yes and not typer.confirm("Erase this namespace and its history for good?", default=False):
        raise typer.Exit(1)

    def body() -> None:
        with OPTS.memory() as m:
            n = m.reset(**_scope(user, agent, namespace))
        render.print_json({"removed": n}) if OPTS.json else render.console.print(f"removed {n} rows")
    run_safely(body)


def _register_plugins() -> None:
    # Commands of other layers (demo, reward, synth, serve-llm, ...) register themselves if their module exists.
    import importlib

    for name in ("demo_cmd", "reward_cmd", "synth_cmd", "llm_cmd", "agent_cmd", "eval_cmd", "train_cmd",
                 "server_cmd", "worker_cmd", "mcp_cmd"):
        try:
            module = importlib.import_module(f"deltamem.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"deltamem.cli.{name}":
                raise
            continue
        module.register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        render.err_console.print("interrupted")
        sys.exit(130)
