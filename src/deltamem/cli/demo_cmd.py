"""``deltamem demo``: the offline end-to-end tour.

The agent reads the bundled four-session conversation with the local model (a moved city, a pet that died, a
dropped hobby, relative dates) and prints each session's change set. Then the demo checks the agent's work against
the expected facts stored in the sample (:mod:`deltamem.eval.expected_facts`): the final memory is checked (✓ / ✗),
every memory deleted or rewritten during the tour is listed with the change set that did it, and every question is
answered from memory and marked ✓ / ✗ with the expected fact. A verdict line counts the checks and a table gives the
timings: model load (with first-use assembly), each session, each answer, the whole demo. History, revert and export
close the tour.

The demo exits 0 when the tour ran, whatever the marks: a wrong answer is the agent's quality, not a crash.
``--strict`` exits 1 when any check fails. ``--store-only`` runs the store part alone (no LLM): add, search, update,
revert, export / import.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely

USER = "caroline"
OK, FAIL = "[green]✓[/]", "[red]✗[/]"


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command()
    def demo(
        home: Annotated[Path | None, typer.Option(help="Where to keep the demo store (default: a temp dir).")] = None,
        embedder: Annotated[str, typer.Option(help="minilm (default, local ONNX) or hashing.")] = "minilm",
        store_only: Annotated[bool, typer.Option("--store-only", help="Only the store tour, no LLM.")] = False,
        strict: Annotated[bool, typer.Option(
            "--strict", help="Exit 1 when an answer or a memory check misses the expected facts.")] = False,
    ) -> None:
        """Run the demo: the memory agent ingests a sample conversation, then its memory and its answers are
        checked against the expected facts."""
        run_safely(lambda: _run(home, embedder, store_only, strict))


@dataclass
class TourReport:
    """What the agent tour measured: passed / total checks and wall-clock seconds of its parts."""

    answers_passed: int = 0
    answers_total: int = 0
    memory_passed: int = 0
    memory_total: int = 0
    load_s: float | None = None  # None: no local model was loaded here (a remote or scripted model)
    session_s: list[float] = field(default_factory=list)
    answer_s: list[float] = field(default_factory=list)

    @property
    def all_passed(self) -> bool:
        """True when every answer and every memory check matched the expected facts."""
        return self.answers_passed == self.answers_total and self.memory_passed == self.memory_total

    def verdict(self) -> str:
        """The closing line, e.g. ``answers matching the expected facts: 6 of 9; memory checks: 4 of 5``."""
        return (f"answers matching the expected facts: {self.answers_passed} of {self.answers_total}; "
                f"memory checks: {self.memory_passed} of {self.memory_total}")


def _step(title: str) -> None:
    render.console.rule(f"[bold cyan]{title}")


def _run(home: Path | None, embedder: str, store_only: bool, strict: bool) -> None:
    started = time.perf_counter()
    if home is None:  # a store of the demo's own: removed at the end, however the demo ends
        with tempfile.TemporaryDirectory(prefix="deltamem-demo-") as tmp:
            ok, report = _tours(Path(tmp), embedder, store_only, strict)
        render.console.print(f"[dim]the demo's store in {tmp} was removed (--home DIR keeps it)[/]")
    else:
        ok, report = _tours(home, embedder, store_only, strict)
    total = time.perf_counter() - started
    if report is not None:
        _print_summary(report, total)
        if not ok:
            render.console.print("[red]--strict: some answers or memory checks miss the expected facts → exit 1[/]")
    render.console.print(f"[bold]demo finished in {total:.1f} s[/]")
    if not ok:
        raise typer.Exit(1)


def _tours(home: Path, embedder: str, store_only: bool, strict: bool) -> tuple[bool, TourReport | None]:
    """The store tour or the agent tour on a store in ``home``: (passed or not strict, the agent tour's report)."""
    from deltamem.config import load_config
    from deltamem.facade.memory import Memory
    from deltamem.registry import parse_llm_spec

    overrides: dict[str, Any] = {"home": str(home), "embedder": {"provider": embedder}}
    if OPTS.llm:
        overrides["llm"] = {k: v for k, v in parse_llm_spec(OPTS.llm).items() if v is not None}
    if store_only:
        overrides["llm"] = {"provider": "none"}
    cfg = load_config(OPTS.config, env={}, overrides=overrides)
    with Memory.from_config(cfg) as m:
        render.console.print(f"store: {cfg.sqlite_path()}   embedder: {m.embedder.name} ({m.embedder.dim}-d)"
                             + ("" if m.llm is None else f"   llm: {m.llm.name}"))
        if store_only:
            return _store_tour(m, home), None
        report = _agent_tour(m, home)
        return report.all_passed or not strict, report


def _agent_tour(m: Any, home: Path, *, questions: int | None = None) -> TourReport:
    """Ingest the sample, check memory and answers against its expected facts; history, revert and export.
    ``questions`` asks only the first that many of the sample's questions (the test suite's real-model run: every
    answer goes through the same call, and each costs seconds of a CPU)."""
    from deltamem.agent.session import load_sessions
    from deltamem.cli.ingest_view import print_session
    from deltamem.core import AgentOutputError
    from deltamem.eval.expected_facts import load_expectations

    sample = resources.files("deltamem.samples").joinpath("caroline.json")
    with resources.as_file(sample) as path:
        sessions = load_sessions(path)
        expected = load_expectations(path)
    report = TourReport(load_s=_prepare_model(m))
    change_sets = []
    for i, session in enumerate(sessions):
        _step(f"session {i + 1} of {len(sessions)}, {session.date:%A %d %B %Y}")
        for msg in session.messages:
            render.console.print(f"[dim]{msg.speaker}:[/] {escape(msg.text)}")
        t0 = time.perf_counter()
        try:
            res = m.add(session, user_id=USER)
        except AgentOutputError as e:  # memory is untouched; the tour goes on with the next session
            report.session_s.append(time.perf_counter() - t0)
            render.console.print(f"[red]session left unchanged:[/] {escape(str(e))}\n"
                                 f"[dim]raw model output: {escape(e.raw[:300])}[/]")
            continue
        report.session_s.append(time.perf_counter() - t0)
        print_session(res, i, render.console)
        render.console.print(f"[dim]  session {i + 1} took {report.session_s[-1]:.1f} s[/]")
        if res.change_set is not None:
            change_sets.append(res.change_set)
    _step("memory now")
    entries = m.get_all(user_id=USER)
    render.console.print(render.entries_table(entries, title="Caroline's memories"))
    _step("memory checked against the expected facts")
    _check_memory(entries, expected.memory_checks, report)
    _print_removals(change_sets, {s.id: s for s in sessions})
    _step("questions answered from memory (as of the last session)")
    today = sessions[-1].date
    for q in expected.questions[:questions]:
        _answer(m, q, today, report)
    _step("history, revert and export")
    last = m.change_sets(user_id=USER, limit=1)
    if last and sum(last[0].counts.values()):
        back = m.revert(last[0].id, user_id=USER)
        render.print_change_set(back, title=f"revert of the last session's change set {last[0].id[:12]}")
    n = m.export(home / "caroline.jsonl", user_id=USER)
    render.console.print(f"exported {n} records (memories, change sets, history) to {home / 'caroline.jsonl'}")
    return report


def _check_memory(entries: Sequence[Any], checks: Sequence[Any], report: TourReport) -> None:
    from deltamem.eval.expected_facts import check_memories, memory_line

    lines = [memory_line(e) for e in entries]
    for c in checks:
        res = check_memories(c, lines)
        report.memory_total += 1
        report.memory_passed += res.passed
        why = "" if not res.detail else f"  [dim]({'offending: ' if c.want == 'none' else ''}{escape(res.detail)})[/]"
        render.console.print(f"{OK if res.passed else FAIL} {escape(c.check)}{why}")


def _print_removals(change_sets: Sequence[Any], sessions: dict[str | None, Any]) -> None:
    """Every memory deleted or overwritten during the tour, and which session's change set did it."""
    from deltamem.eval.expected_facts import removals

    gone = removals(change_sets)
    render.console.print(f"[bold]memories deleted or rewritten during the tour:[/] {len(gone) or 'none'}")
    for r in gone:
        s = sessions.get(r.session_id)
        where = f"change set {r.change_set_id[:12]}, session {r.session_id}" + (
            f" of {s.date:%Y-%m-%d}" if s is not None and s.date else "")
        if r.after is None:
            render.console.print(f"  [red]− deleted:[/] {escape(r.before)}  [dim]({where})[/]")
        else:
            render.console.print(f"  [yellow]~ rewritten:[/] {escape(r.before)} [dim]→[/] {escape(r.after)}  "
                                 f"[dim]({where})[/]")


def _answer(m: Any, q: Any, today: Any, report: TourReport) -> None:
    from deltamem.eval.expected_facts import check_answer

    t0 = time.perf_counter()
    ans = m.answer(q.question, user_id=USER, k=6, today=today)
    report.answer_s.append(time.perf_counter() - t0)
    res = check_answer(q, ans.text)
    report.answers_total += 1
    report.answers_passed += res.passed
    render.console.print(f"[bold]Q:[/] {escape(q.question)}\n[bold]A:[/] {escape(ans.text)}  "
                         f"{OK if res.passed else FAIL}  "
                         f"[dim]({len(ans.memories)} memories, {report.answer_s[-1]:.1f} s)[/]")
    if not res.passed:
        render.console.print(f"   [red]expected:[/] {escape(q.expected)}  [dim]({escape(res.detail)})[/]")


def _prepare_model(m: Any) -> float | None:
    """Load (and on first use assemble) a lazily loaded model up front, so its progress bar and its cost come
    before the tour; the seconds it took, or None when there is nothing to load here."""
    from deltamem.llm.lazy import LazyChatModel

    if not isinstance(m.llm, LazyChatModel):  # reading ``loaded`` would load it: test the type, not the attribute
        return None
    render.console.print("[dim]loading the local model (assembled from the packaged parts on first use)...[/]")
    t0 = time.perf_counter()
    backend = m.llm.loaded
    seconds = time.perf_counter() - t0
    inner = getattr(backend, "load_seconds", None)
    detail = (f" (finding, assembling or verifying the file {seconds - inner:.1f} s, llama.cpp load {inner:.1f} s)"
              if isinstance(inner, float) else "")
    render.console.print(f"[dim]model ready in {seconds:.1f} s{detail}[/]")
    return seconds


def _print_summary(report: TourReport, total: float) -> None:
    """The verdict line and the timings table."""
    _step("verdict")
    colour = "green" if report.all_passed else "yellow"
    render.console.print(f"[bold {colour}]{report.verdict()}[/]")
    table = Table(title="timings (wall clock)")
    table.add_column("part")
    table.add_column("seconds", justify="right")
    table.add_column("detail", style="dim")
    table.add_row("model load", "-" if report.load_s is None else f"{report.load_s:.1f}",
                  "no local model loaded here" if report.load_s is None
                  else "finding (first use: assembling) the model file, and llama.cpp loading it")
    table.add_row("ingest", f"{sum(report.session_s):.1f}",
                  f"{len(report.session_s)} sessions: " + ", ".join(f"{s:.1f}" for s in report.session_s))
    mean = sum(report.answer_s) / len(report.answer_s) if report.answer_s else 0.0
    table.add_row("answers", f"{sum(report.answer_s):.1f}", f"{len(report.answer_s)} questions, {mean:.1f} s each")
    table.add_row("whole demo", f"{total:.1f}", "from the command's start (after Python imports) to the store closed")
    render.console.print(table)


def _store_tour(m: Any, home: Path) -> bool:
    from deltamem.facade.memory import Memory
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
