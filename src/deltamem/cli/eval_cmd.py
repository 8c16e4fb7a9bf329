"""``deltamem eval <bench>``: run memory systems on a benchmark, resumably, and write results, report and plots."""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely

if TYPE_CHECKING:
    from deltamem.eval.harness import EvalSpec


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command."""

    @app.command("eval")
    def eval_(
        bench: Annotated[str, typer.Argument(help="locomo | halumem | personamem | longmemeval | scenarios (the "
                                             "update-scenario suite; --llm may list several models to compare)")],
        out: Annotated[Path, typer.Option("--out", help="Output folder (checkpoints, cache, results, report).")],
        systems: Annotated[str, typer.Option(help="Comma-separated: deltamem, mem0, full, rag.")] = "deltamem,full,rag",
        conversations: Annotated[str | None, typer.Option(
            help="Comma-separated conversation ids (LoCoMo sample_id, HaluMem uuid, ...); default all.")] = None,
        sessions: Annotated[int | None, typer.Option(help="Ingest only the first N sessions.")] = None,
        questions: Annotated[int | None, typer.Option(help="At most N questions per conversation.")] = None,
        llm: Annotated[str | None, typer.Option(
            help="Systems' model: local[:path] | openai:MODEL[@URL] | fake (default: global --llm, else local).")]
        = None,
        answer_llm: Annotated[str | None, typer.Option("--answer-llm", help="Answer model (default: --llm).")] = None,
        judge_llm: Annotated[str | None, typer.Option("--judge-llm", help="Judge model (default: --llm).")] = None,
        data: Annotated[Path | None, typer.Option(
            help="Benchmark file, or a folder holding it (default: $DELTAMEM_EVAL_DATA or ./data).")] = None,
        k: Annotated[int, typer.Option("--k", help="Items of context per question (retrieval systems).")] = 10,
        concurrency: Annotated[int, typer.Option(help="Parallel (system, conversation) units / remote calls.")] = 1,
        embedder: Annotated[str | None, typer.Option(
            help="minilm | openai | hashing (default: the global --embedder, else minilm).")] = None,
        full_context_tokens: Annotated[int, typer.Option(help="Token budget of the full-context system.")] = 6000,
        context_size: Annotated[int | None, typer.Option(
            help="KV window of local models in tokens (default 16384 with mem0, else 8192).")] = None,
        lenient_judge: Annotated[bool, typer.Option(
            "--lenient-judge", help="HaluMem: accept judge JSON without a ```json fence (official: fence needed).")]
        = False,
        report_only: Annotated[bool, typer.Option(
            "--report-only", help="Only rebuild results.json, report.md and plots from what --out already holds "
            "(e.g. a partial run); no LLM is loaded.")] = False,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Evaluate memory systems: `deltamem eval locomo --systems deltamem,full,rag --sessions 6 --out DIR`.

        Compare agent LLMs on the update scenarios: `deltamem eval scenarios --llm base=hf:A,trained=hf:B --out DIR`.
        """
        def body() -> None:
            from deltamem.eval.benchmarks import BENCHMARKS
            from deltamem.eval.harness import EvalSpec, evaluate, parse_list, systems_arg

            if bench == "scenarios":
                _scenarios(llm or OPTS.llm or "local", suite=data, out=out, embedder=embedder or OPTS.embedder
                           or "minilm", quiet=no_progress or json_out, json_out=json_out or OPTS.json)
                return
            if bench not in BENCHMARKS:
                raise ValueError(f"unknown benchmark {bench!r}; choose from {', '.join(BENCHMARKS)}")
            spec = EvalSpec(
                bench=bench,
                data=data or Path(os.environ.get("DELTAMEM_EVAL_DATA", "data")),
                out=out, llm=llm or OPTS.llm or "local", systems=tuple(systems_arg(systems)),
                answer_llm=answer_llm, judge_llm=judge_llm, embedder=embedder or OPTS.embedder or "minilm",
                conversations=parse_list(conversations), sessions=sessions, questions=questions, k=k,
                concurrency=concurrency, strict_judge=not lenient_judge, full_context_tokens=full_context_tokens,
                context_size=context_size, report_only=report_only, progress=not (no_progress or json_out),
            )
            spec = replace(spec, command=_command(spec, lenient_judge))
            outcome = evaluate(spec)
            summary = {s: {"accuracy": v["accuracy"], "answered": v["answered"], "by_category": v["by_category"],
                           "cost": v["cost"]} for s, v in outcome.results["summary"].items()}
            if json_out or OPTS.json:
                render.print_json({"out": str(outcome.out), "summary": summary, "failures": outcome.failures})
            else:
                for s, v in summary.items():
                    acc = "—" if v["accuracy"] is None else f"{100 * v['accuracy']:.1f}%"
                    render.console.print(f"{s}: accuracy {acc} over {v['answered']} questions")
                render.console.print(f"results in {outcome.out}/ (results.json, report.md, *.png)")
            if outcome.failures:
                for f in outcome.failures:
                    render.err_console.print(f"[red]failed:[/] {f}", markup=True)
                render.err_console.print("rerun the same command to resume the failed units")
                raise typer.Exit(1)

        run_safely(body)


def _scenarios(llm: str, *, suite: Path | None, out: Path, embedder: str, quiet: bool, json_out: bool) -> None:
    """``deltamem eval scenarios``: every model of ``llm`` (``label=spec,...``) on the update-scenario suite."""
    import sys

    from deltamem.config import EmbedderConfig
    from deltamem.eval.harness import default_model_factory
    from deltamem.eval.scenario_compare import compare_on_scenarios, parse_model_list
    from deltamem.registry import build_embedder
    from deltamem.reward import MLDScorer

    models = [(label, default_model_factory(spec)) for label, spec in parse_model_list(llm)]
    emb = build_embedder(EmbedderConfig(provider=embedder))  # type: ignore[arg-type]

    def show(label: str, r: object) -> None:
        if not quiet:
            render.err_console.print(f"{label}: {r.name} ({r.kind}) reward {r.reward:.3f}"  # type: ignore[attr-defined]
                                     f"{'' if r.parsed else ' unusable'}", markup=False)  # type: ignore[attr-defined]

    command = " ".join(shlex.quote(a) for a in ["deltamem", "eval", "scenarios", "--llm", llm, "--out", str(out)]
                       + (["--data", str(suite)] if suite else []) + ["--embedder", embedder])
    report = compare_on_scenarios(models, embedder=emb, scorer=MLDScorer(emb), suite=suite, out_dir=out,
                                  command=command, on_result=show)
    rows = [{k: m[k] for k in ("label", "mean_reward", "json_valid_rate", "mean_reward_by_kind")}
            for m in report["models"]]
    if json_out:
        render.print_json({"out": str(out), "models": rows})
        return
    for m in rows:
        print(f"{m['label']}: mean MLD reward {m['mean_reward']:.3f}, usable JSON {m['json_valid_rate']:.0%}",
              file=sys.stdout)
    render.console.print(f"results in {out}/ (scenarios.json, scenarios.md, scenarios.png)")


def _command(spec: EvalSpec, lenient_judge: bool) -> str:
    """The equivalent command line, every setting spelled out (for the report; sys.argv may not be ours)."""
    args = ["deltamem", "eval", spec.bench, "--systems", ",".join(spec.systems), "--data", str(spec.data),
            "--out", str(spec.out), "--llm", spec.llm, "--embedder", spec.embedder, "--k", str(spec.k),
            "--concurrency", str(spec.concurrency)]
    for flag, value in (("--answer-llm", spec.answer_llm), ("--judge-llm", spec.judge_llm),
                        ("--conversations", ",".join(spec.conversations) or None), ("--sessions", spec.sessions),
                        ("--questions", spec.questions)):
        if value is not None:
            args += [flag, str(value)]
    if spec.full_context_tokens != 6000:
        args += ["--full-context-tokens", str(spec.full_context_tokens)]
    if spec.context_size is not None:
        args += ["--context-size", str(spec.context_size)]
    if lenient_judge:
        args.append("--lenient-judge")
    return " ".join(shlex.quote(a) for a in args)
