"""``deltamem demo``: a guided tour of the memory store (add, search, update, revert, export / import)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from deltamem.cli import render
from deltamem.cli.common import run_safely


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command()
    def demo(
        home: Annotated[Path | None, typer.Option(help="Where to keep the demo store (default: a temp dir).")] = None,
        embedder: Annotated[str, typer.Option(help="minilm (default, local ONNX) or hashing.")] = "minilm",
    ) -> None:
        """Run the store demo: add facts, search, update a changed fact, revert it, export and re-import."""
        run_safely(lambda: _run(home, embedder))


def _step(title: str) -> None:
    render.console.rule(f"[bold cyan]{title}")


def _run(home: Path | None, embedder: str) -> None:
    from deltamem.api import Memory
    from deltamem.config import load_config
    from deltamem.stores.sqlite import SqliteStore

    started = time.perf_counter()
    home = home or Path(tempfile.mkdtemp(prefix="deltamem-demo-"))
    cfg = load_config(env={}, overrides={"home": str(home), "embedder": {"provider": embedder}})
    user = "caroline"
    with Memory.from_config(cfg) as m:
        render.console.print(f"store: {cfg.sqlite_path()}   embedder: {m.embedder.name} ({m.embedder.dim}-d)")
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
            hist_same = len(copy.history(user_id=user)) == len(m.history(user_id=user))
        render.console.print(f"exported {n} records to {export_path}; re-imported copy identical: "
                             f"[{'green' if same and hist_same else 'red'}]{same and hist_same}[/]")
        render.console.print(render.entries_table(m.get_all(user_id=user), title="final memories"))
    render.console.print(f"[bold]demo finished in {time.perf_counter() - started:.1f} s[/]")
    if not (same and hist_same):
        raise typer.Exit(1)
