"""``deltamem demo``: the offline end-to-end tour.

The agent reads the bundled four-session conversation with the local model (a moved city, a pet that died, a
relative date), prints each session's change set, answers questions from memory, then shows history, revert and
export. ``--store-only`` runs the store part alone (no LLM): add, search, update, revert, export / import.
"""

from __future__ import annotations

import json
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command()
    def demo(
        home: Annotated[Path | None, typer.Option(help="Where to keep the demo store (default: a temp dir).")] = None,
        embedder: Annotated[str, typer.Option(help="minilm (default, local ONNX) or hashing.")] = "minilm",
        store_only: Annotated[bool, typer.Option("--store-only", help="Only the store tour, no LLM.")] = False,
    ) -> None:
        """Run the demo: the memory agent ingests a sample conversation and answers questions from memory."""
        run_safely(lambda: _run(home, embedder, store_only))


def _step(title: str) -> None:
    render.console.rule(f"[bold cyan]{title}")


def _run(home: Path | None, embedder: str, store_only: bool) -> None:
    from deltamem.api import Memory
    from deltamem.config import load_config
    from deltamem.registry import parse_llm_spec

    started = time.perf_counter()
    home = home or Path(tempfile.mkdtemp(prefix="deltamem-demo-"))
    overrides: dict[str, Any] = {"home": str(home), "embedder": {"provider": embedder}}
    if OPTS.llm:
        overrides["llm"] = {k: v for k, v in parse_llm_spec(OPTS.llm).items() if v is not None}
    if store_only:
        overrides["llm"] = {"provider": "none"}
    cfg = load_config(OPTS.config, env={}, overrides=overrides)
    with Memory.from_config(cfg) as m:
        render.console.print(f"store: {cfg.sqlite_path()}   embedder: {m.embedder.name} ({m.embedder.dim}-d)"
                             + ("" if m.llm is None else f"   llm: {m.llm.name}"))
        ok = _store_tour(m, home) if store_only else _agent_tour(m, home)
    render.console.print(f"[bold]demo finished in {time.perf_counter() - started:.1f} s[/]")
    if not ok:
        raise typer.Exit(1)


def _agent_tour(m: Any, home: Path) -> bool:
    from deltamem.agent.session import load_sessions
    from deltamem.cli.ingest_view import print_session
    from deltamem.core import AgentOutputError

    sample = resources.files("deltamem.samples").joinpath("caroline.json")
    with resources.as_file(sample) as path:
        sessions = load_sessions(path)
        questions = json.loads(path.read_text(encoding="utf-8"))["questions"]
    _prepare_model(m)
    for i, session in enumerate(sessions):
        _step(f"session {i + 1} of {len(sessions)}, {session.date:%A %d %B %Y}")
        for msg in session.messages:
            render.console.print(f"[dim]{msg.speaker}:[/] {msg.text}")
        t0 = time.perf_counter()
        try:
            res = m.add(session, user_id="caroline")
        except AgentOutputError as e:  # memory is untouched; the tour goes on with the next session
            render.console.print(f"[red]session left unchanged:[/] {e}\n[dim]raw model output: {e.raw[:300]}[/]")
            continue
        print_session(res, i, render.console)
        render.console.print(f"[dim]  {time.perf_counter() - t0:.1f} s[/]")
    _step("memory now")
    render.console.print(render.entries_table(m.get_all(user_id="caroline"), title="Caroline's memories"))
    _step("questions answered from memory")
    for q in questions:
        t0 = time.perf_counter()
        ans = m.answer(q, user_id="caroline", k=6)
        render.console.print(f"[bold]Q:[/] {q}\n[bold green]A:[/] {ans.text}  "
                             f"[dim]({len(ans.memories)} memories, {time.perf_counter() - t0:.1f} s)[/]")
    _step("history, revert and export")
    last = m.change_sets(user_id="caroline", limit=1)
    if last and sum(last[0].counts.values()):
        back = m.revert(last[0].id, user_id="caroline")
        render.print_change_set(back, title=f"revert of the last session's change set {last[0].id[:12]}")
    n = m.export(home / "caroline.jsonl", user_id="caroline")
    render.console.print(f"exported {n} records (memories, change sets, history) to {home / 'caroline.jsonl'}")
    return True


def _prepare_model(m: Any) -> None:
    """Load (and on first use assemble) the local model up front, so its progress bar comes before the tour."""
    loaded = getattr(m.llm, "loaded", None)
    if loaded is None:
        return
    t0 = time.perf_counter()
    render.console.print("[dim]loading the local model (assembled from the packaged parts on first use)...[/]")
    _ = m.llm.loaded
    render.console.print(f"[dim]model ready in {time.perf_counter() - t0:.1f} s[/]")


def _store_tour(m: Any, home: Path) -> bool:
    from deltamem.api import Memory
    from deltamem.stores.sqlite import SqliteStore

    user = "caroline"
    _step("1. add facts (one change set)")
    first = m.add(["Caroline lives in Boston", "Caroline works as a nurse at Mass General",
                   "Caroline has a five-year-old dog named Rex", "Caroline's sister Maya lives in Denver"],
                  user_id=user, session_id="session-1")
    render.print_change_set(first)
    _step("2. search")
    question = "Where does Caroline live?"
    render.console.print(f"query: {question}")
    render.console.print(render.hits_table(m.search(question, user_id=user, k=3)))
    _step("3. the fact changes: update it")
    boston = first.changes[0].memory_id
    moved = m.update(boston, "Caroline moved to Seattle in March 2024", user_id=user)
    render.print_change_set(moved)
    top = m.search(question, user_id=user, k=1)[0].entry.text
    render.console.print(f"top hit now: [green]{top}[/] (the stale Boston fact is gone from the live state)")
    _step("4. revert that change set")
    back = m.revert(moved.id, user_id=user)
    render.print_change_set(back, title=f"revert {back.id[:12]} of {moved.id[:12]}")
    render.console.print(render.history_table(m.history(boston, user_id=user)))
    _step("5. export and import into a fresh store")
    export_path = home / "caroline.jsonl"
    n = m.export(export_path, user_id=user)
    with Memory(store=SqliteStore(home / "copy.db"), embedder=m.embedder) as copy:
        copy.import_(export_path)
        same = copy.state(user_id=user) == m.state(user_id=user)
        same = same and len(copy.history(user_id=user)) == len(m.history(user_id=user))
    render.console.print(f"exported {n} records to {export_path}; re-imported copy identical: "
                         f"[{'green' if same else 'red'}]{same}[/]")
    render.console.print(render.entries_table(m.get_all(user_id=user), title="final memories"))
    return same
