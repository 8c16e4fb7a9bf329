"""``deltamem synth``: generate, re-validate and summarise memory-evolution training data (see docs/synthesis.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely
from deltamem.core.errors import ConfigError, CorruptDataError

if TYPE_CHECKING:
    from deltamem.llm.base import ChatModel

synth_app = typer.Typer(help="Synthesise (S_t, session, ops, S*_t+1) training transitions with an LLM.",
                        pretty_exceptions_enable=False, add_completion=False)

Personas = Annotated[int | None, typer.Option("--personas", help="How many seed personas to draw.")]
Sessions = Annotated[int | None, typer.Option("--sessions", help="Events (= dialogue sessions) per persona.")]
Out = Annotated[Path | None, typer.Option("--out", help="Output directory (re-run the same command to resume).")]
Llm = Annotated[str | None, typer.Option(
    "--llm", help="local[:model-or-path] | openai:MODEL\\[@BASE_URL] | fake | scripted:REPLIES.jsonl "
                  "(default: the global --llm, else local).")]
Seed = Annotated[int, typer.Option("--seed", help="Seeds persona sampling, dates and every LLM call.")]
MaxTries = Annotated[int, typer.Option("--max-tries", help="Tries per item before it is dropped (and counted).")]
RetryDropped = Annotated[bool, typer.Option("--retry-dropped", help="Resume giving dropped dialogues --max-tries "
                                                                     "more tries (fresh seeds).")]
PersonasFile = Annotated[Path | None, typer.Option("--personas-file", help="JSONL of seed personas (default: "
                                                                          "the packaged set).")]
Until = Annotated[str, typer.Option("--until", help="Stop after this stage: profile | timeline | ops | dialogue.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    """Add the ``synth`` sub-app (``run``, ``validate``, ``stats``; bare ``synth --personas ...`` runs too)."""
    app.add_typer(synth_app, name="synth")


@synth_app.callback(invoke_without_command=True)
def _synth(ctx: typer.Context, personas: Personas = None, sessions: Sessions = None, out: Out = None,
           llm: Llm = None, seed: Seed = 0, max_tries: MaxTries = 3, personas_file: PersonasFile = None,
           until: Until = "dialogue", retry_dropped: RetryDropped = False, quiet: Quiet = False,
           json_out: JsonOut = False) -> None:
    """Synthesise training transitions: `deltamem synth --personas N --sessions M --out DIR [--llm SPEC]`."""
    if ctx.invoked_subcommand is not None:
        return
    if personas is None and sessions is None and out is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    _run(personas, sessions, out, llm=llm, seed=seed, max_tries=max_tries, personas_file=personas_file,
         until=until, retry_dropped=retry_dropped, quiet=quiet, json_out=json_out)


@synth_app.command("run")
def run(personas: Personas = None, sessions: Sessions = None, out: Out = None, llm: Llm = None, seed: Seed = 0,
        max_tries: MaxTries = 3, personas_file: PersonasFile = None, until: Until = "dialogue",
        retry_dropped: RetryDropped = False, quiet: Quiet = False, json_out: JsonOut = False) -> None:
    """Run (or resume) a synthesis into --out; writes transitions.jsonl and stats.json."""
    _run(personas, sessions, out, llm=llm, seed=seed, max_tries=max_tries, personas_file=personas_file,
         until=until, retry_dropped=retry_dropped, quiet=quiet, json_out=json_out)


@synth_app.command("validate")
def validate(directory: Annotated[Path, typer.Argument(help="A synthesis output directory.")],
             json_out: JsonOut = False) -> None:
    """Re-check every transition: ops apply to S_t and give S*_t+1, keywords in texts and in the dialogue."""
    failed = False

    def body() -> None:
        nonlocal failed
        from deltamem.synth.verify import validate_dir

        report = validate_dir(directory)
        failed = not report.ok
        if json_out or OPTS.json:
            render.print_json(report.to_dict())
            return
        for name, problems in report.problems.items():
            render.console.print(f"[red]✗[/] {escape(name)}")
            for p in problems:
                render.console.print(f"    {escape(p)}", markup=True)
        status = "[green]all valid[/]" if report.ok else f"[red]{len(report.problems)} invalid[/]"
        render.console.print(f"checked {report.checked} transitions: {status}")

    run_safely(body)
    if failed:
        raise typer.Exit(1)


@synth_app.command("stats")
def stats(directory: Annotated[Path, typer.Argument(help="A synthesis output directory.")],
          json_out: JsonOut = False) -> None:
    """Op-type distribution, sessions per persona, LLM tokens and rejections by reason."""
    def body() -> None:
        from deltamem.synth.stats import compute_stats

        data = compute_stats(directory)
        if json_out or OPTS.json:
            render.print_json(data)
        else:
            _print_stats(data)

    run_safely(body)


def _run(personas: int | None, sessions: int | None, out: Path | None, *, llm: str | None, seed: int,
         max_tries: int, personas_file: Path | None, until: str, retry_dropped: bool, quiet: bool,
         json_out: bool) -> None:
    def body() -> None:
        from deltamem.synth import STAGES, SynthConfig, SynthPipeline

        if personas is None or sessions is None or out is None:
            raise ConfigError("--personas, --sessions and --out are required")
        if until not in STAGES:
            raise ConfigError(f"--until must be one of {', '.join(STAGES)}")
        config = SynthConfig(personas=personas, sessions=sessions, seed=seed, max_tries=max_tries,
                             personas_file=personas_file)
        model = _resolve_llm(llm or OPTS.llm or "local")
        pipeline = SynthPipeline(model, out, config, progress=not (quiet or json_out or OPTS.json))
        data = pipeline.run(until=until, retry_dropped=retry_dropped)
        if json_out or OPTS.json:
            render.print_json(data)
        else:
            _print_stats(data)
            render.console.print(f"written to {escape(str(out))} (re-run the same command to resume)")

    run_safely(body)


def _resolve_llm(spec: str) -> ChatModel:
    """A ChatModel for ``--llm``: ``fake`` (rule-based, no model), ``scripted:PATH`` (replies in order, one JSON
    string or ``{"content": ...}`` a line), else whatever the registry builds from the spec."""
    if spec == "fake":
        from deltamem.synth.fake import fake_synth_model

        return fake_synth_model()
    if spec.startswith("scripted:"):
        from deltamem.llm.scripted import ScriptedChatModel

        return ScriptedChatModel(_scripted_replies(Path(spec.removeprefix("scripted:"))), name="scripted")
    try:
        from deltamem.config import LLMConfig
        from deltamem.registry import build_chat_model, parse_llm_spec
    except ImportError as e:
        raise ConfigError(f"cannot resolve --llm {spec!r}: the model registry is unavailable ({e})") from e
    fields = {k: v for k, v in parse_llm_spec(spec).items() if v is not None}
    try:
        model = build_chat_model(LLMConfig.model_validate(fields))
    except ImportError as e:  # a backend module that is not installed (or not written yet)
        raise ConfigError(f"cannot build the LLM {spec!r}: {e}") from e
    if model is None:
        raise ConfigError("synthesis needs an LLM; --llm none is not possible here")
    return model


def _scripted_replies(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read scripted replies {path}: {e}") from e
    replies: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorruptDataError(f"{path}:{n}: not JSON: {e}") from e
        if isinstance(value, dict) and isinstance(value.get("content"), str):
            value = value["content"]
        if not isinstance(value, str):
            raise CorruptDataError(f'{path}:{n}: a reply must be a JSON string or {{"content": "..."}}')
        replies.append(value)
    return replies


def _print_stats(data: dict[str, Any]) -> None:
    from rich.table import Table

    usage = data["usage"]
    per = data["sessions_per_persona_summary"]
    table = Table(title="synthesis", show_header=False)
    table.add_row("transitions", str(data["transitions"]))
    table.add_row("personas with transitions", str(data["personas_with_transitions"]))
    table.add_row("sessions per persona", f"min {per['min']}  mean {per['mean']}  max {per['max']}")
    table.add_row("ops", "  ".join(f"{k} {v}" for k, v in data["ops"].items()))
    table.add_row("evolution", "  ".join(f"{k} {v}" for k, v in data["evolution"].items()))
    table.add_row("LLM tokens", f"prompt {usage['prompt_tokens']}  completion {usage['completion_tokens']}  "
                                f"calls {usage['calls']}")
    table.add_row("rejections", "  ".join(f"{k} {v}" for k, v in data["rejections"].items()) or "none")
    table.add_row("dropped", "  ".join(f"{k} {v}" for k, v in data["dropped"].items()))
    render.console.print(table)
