"""Ingesting a conversation file from the CLI: a progress bar over sessions and each session's change set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deltamem.agent.guards import rejected_dicts
from deltamem.agent.session import load_sessions
from deltamem.cli import render
from deltamem.core import AgentOutputError


def is_conversation_file(arg: str) -> bool:
    """A single ``add`` argument that names an existing .json / .jsonl file."""
    path = Path(arg)
    return path.suffix in (".json", ".jsonl") and path.is_file()


def ingest_file(memory: Any, path: Path, scope: dict[str, Any], *, infer: bool, as_json: bool) -> list[Any]:
    """Add every session of the file in order; print change sets (or JSON) as they are committed."""
    sessions = load_sessions(path)
    results = []
    failed: list[tuple[str, AgentOutputError]] = []
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=render.console, transient=True)
    with progress:
        task = progress.add_task("sessions", total=len(sessions))
        for i, session in enumerate(sessions):
            progress.update(task, description=f"session {session.id or i + 1}")
            res = memory.add(session, infer=infer, **scope)
            results.append(res)
            if not as_json:
                print_session(res, i, progress.console)
            progress.advance(task)
    if as_json:
        render.print_json([ingest_dict(r) for r in results]
                          + [{"session": sid, "error": str(e), "raw": e.raw} for sid, e in failed])
    if failed:
        raise AgentOutputError(f"{len(failed)} of {len(sessions)} sessions could not be read by the agent "
                               f"({', '.join(sid for sid, _ in failed)}); their memory was left unchanged",
                               raw=failed[-1][1].raw)
    return results


def print_session(res: Any, i: int, out: Console) -> None:
    """One session's outcome: its change set (or that it waits for review), the agent's cost and rejections."""
    date = f"{res.session.date:%Y-%m-%d}" if res.session.date else "undated"
    head = f"session {res.session.id or i + 1} ({date})"
    if res.queued:
        out.print(f"[bold]{head}[/]: [magenta]held for review[/] (see: deltamem review list) {res.review_id[:12]}")
    else:
        render.print_change_set(res.change_set, title=head, out=out)
    if res.agent is not None:
        u = res.agent.usage
        out.print(f"  [dim]{u.calls} LLM call(s), {u.prompt_tokens} prompt + {u.completion_tokens} completion "
                  f"tokens, {len(res.agent.searches)} extra search(es), {u.seconds:.1f} s[/]")
        for label, items in (("repaired", res.agent.repaired), ("dropped", res.agent.rejected),
                             ("ignored", res.agent.ignored)):
            for r in items:
                out.print(f"  [dim]{label}: {escape(str(getattr(r.op, 'text', r.op.kind)))} — {escape(r.reason)}[/]")


def ingest_dict(res: Any) -> dict[str, Any]:
    """One session's outcome as JSON-ready data."""
    out: dict[str, Any] = {"session": res.session.id, "queued": res.review_id,
                           "change_set": render.change_set_dict(res.change_set) if res.change_set else None}
    if res.agent is not None:
        u = res.agent.usage
        out["agent"] = {"calls": u.calls, "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                        "cached_tokens": u.cached_tokens, "seconds": u.seconds, "searches": res.agent.searches,
                        "rejected": rejected_dicts(res.agent.rejected),
                        "repaired": rejected_dicts(res.agent.repaired),
                        "ignored": rejected_dicts(res.agent.ignored)}
    return out
