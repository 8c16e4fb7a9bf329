"""``deltamem ask`` and ``deltamem review ...``: answering from memory and the review queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from deltamem.cli import render
from deltamem.cli.common import OPTS, Agent, Namespace, User, _full_id, _scope, run_safely

review_app = typer.Typer(help="Change sets held back by the guard rails: list, show, approve, edit, reject.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``ask`` and the ``review`` group."""
    @app.command()
    def ask(question: str, user: User = None, agent: Agent = None, namespace: Namespace = None,
            k: Annotated[int, typer.Option("-k", help="Memories to retrieve.")] = 10) -> None:
        """Answer a question from memory (top-k hybrid search, then the LLM).

        With the local model, a running `deltamem serve-llm` of the same model answers instead of loading it again
        here (one dim line on stderr says which); DELTAMEM_REUSE_SERVER=0 always loads it in this process.
        """
        def body() -> None:
            with OPTS.memory() as m:
                ans = m.answer(question, k=k, **_scope(user, agent, namespace))
            if OPTS.json:
                render.print_json({"answer": ans.text, "memory_ids": ans.memory_ids,
                                   "memories": [render.memory_dict(e) for e in ans.memories]})
            else:
                render.console.print(f"[bold green]{ans.text}[/]")
                render.console.print(f"[dim]from {len(ans.memories)} memories[/]")
        run_safely(body)

    def _item(m: Any, prefix: str, scope: dict[str, Any]) -> str:
        return _full_id(prefix, [i.id for i in m.review.list(status=None, **scope)], "review item")

    @review_app.command("list")
    def review_list(user: User = None, agent: Agent = None, namespace: Namespace = None,
                    all_: Annotated[bool, typer.Option("--all", help="Resolved items too.")] = False) -> None:
        """Queued change sets, oldest first."""
        def body() -> None:
            with OPTS.memory() as m:
                items = m.review.list(status=None if all_ else "pending", **_scope(user, agent, namespace))
            if OPTS.json:
                render.print_json([{"id": i.id, "status": i.status, "reason": i.reason, "ops": list(i.ops),
                                    "session_id": i.session_id, "created_at": i.created_at.isoformat()}
                                   for i in items])
                return
            for i in items:
                render.console.print(f"{i.id[:12]}  [magenta]{i.status}[/]  {len(i.ops)} ops  {escape(i.reason)}")
            if not items:
                render.console.print("[dim]nothing queued[/]")
        run_safely(body)

    @review_app.command("show")
    def review_show(item_id: str, user: User = None, agent: Agent = None, namespace: Namespace = None) -> None:
        """Why the change set was held, and what approving would change now (a diff; nothing is written)."""
        def body() -> None:
            with OPTS.memory() as m:
                scope = _scope(user, agent, namespace)
                item = m.review.get(_item(m, item_id, scope), **scope)
                cs = m.review.diff(item.id, **scope)
            if OPTS.json:
                render.print_json({**render.change_set_dict(cs),
                                   "review": {"id": item.id, "status": item.status, "reason": item.reason}})
                return
            render.console.print(f"[magenta]{item.status}[/]: {escape(item.reason)}")
            render.print_change_set(cs, title=f"if approved: {item_id}")
        run_safely(body)

    @review_app.command("approve")
    def review_approve(item_id: str, user: User = None, agent: Agent = None, namespace: Namespace = None,
                       by: Annotated[str, typer.Option(help="Who approves.")] = "cli") -> None:
        """Apply the queued change set."""
        def body() -> None:
            with OPTS.memory() as m:
                scope = _scope(user, agent, namespace)
                cs = m.review.approve(_item(m, item_id, scope), by=by, **scope)
            render.print_json(render.change_set_dict(cs)) if OPTS.json else render.print_change_set(cs)
        run_safely(body)

    @review_app.command("edit")
    def review_edit(item_id: str, ops_file: Annotated[Path, typer.Argument(help="JSON list of ops to use instead.")],
                    user: User = None, agent: Agent = None, namespace: Namespace = None) -> None:
        """Replace the queued operations with a JSON list of ops (still pending)."""
        def body() -> None:
            ops = json.loads(ops_file.read_text(encoding="utf-8"))
            if not isinstance(ops, list):
                raise ValueError(f"{ops_file} must hold a JSON list of operations")
            with OPTS.memory() as m:
                scope = _scope(user, agent, namespace)
                item = m.review.edit(_item(m, item_id, scope), ops, **scope)
            render.console.print(f"{item.id[:12]} now holds {len(item.ops)} ops")
        run_safely(body)

    @review_app.command("reject")
    def review_reject(item_id: str, user: User = None, agent: Agent = None, namespace: Namespace = None,
                      by: Annotated[str, typer.Option(help="Who rejects.")] = "cli") -> None:
        """Discard the queued change set."""
        def body() -> None:
            with OPTS.memory() as m:
                scope = _scope(user, agent, namespace)
                item = m.review.reject(_item(m, item_id, scope), by=by, **scope)
            render.console.print(f"{item.id[:12]} rejected")
        run_safely(body)

    app.add_typer(review_app, name="review")
