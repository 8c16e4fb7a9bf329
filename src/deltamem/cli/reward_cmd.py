"""``deltamem reward``: score a predicted memory state (or an agent's raw output) against a target with MLD."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely


def register(app: typer.Typer) -> None:
    """Add the ``reward`` command."""

    @app.command()
    def reward(
        target: Annotated[Path, typer.Option("--target", help="S*_{t+1}: JSON list of {id, text, keywords}.")],
        state: Annotated[Path | None, typer.Option("--state", help="S_t (needed with --output): same format.")] = None,
        pred: Annotated[Path | None, typer.Option("--pred", help="The predicted state S_pred: same format.")] = None,
        output: Annotated[Path | None, typer.Option(
            "--output", help="The agent's raw output (text holding a JSON list of ops); '-' reads stdin.")] = None,
        credit: Annotated[str, typer.Option(help="Pair credit: product (cos·κ), threshold (1[cos≥τ]·κ) or min.")] = (
            "product"),
        threshold: Annotated[float, typer.Option(help="τ of the threshold credit.")] = 0.8,
        match_on: Annotated[str, typer.Option(help="Matching maximises total credit (default) or cosine.")] = (
            "credit"),
        no_keywords: Annotated[bool, typer.Option("--no-keywords", help="κ ≡ 1 (lexical fidelity off).")] = False,
        explain: Annotated[bool, typer.Option("--explain", help="Show matched pairs and unmatched memories.")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
        embedder: Annotated[str | None, typer.Option(help="minilm (default) or hashing.")] = None,
    ) -> None:
        """Score a rollout: soft F1 over the Memory-based Levenshtein Distance between predicted and target state."""
        def body() -> None:
            result, embedder_name = _score(target=target, state=state, pred=pred, output=output, credit=credit,
                                           threshold=threshold, match_on=match_on, use_keywords=not no_keywords,
                                           embedder=embedder or OPTS.embedder or "minilm")
            if json_out or OPTS.json:
                render.print_json({**result.to_dict(), "embedder": embedder_name})
                return
            from deltamem.reward.result import explain_renderable

            if explain:
                render.console.print(f"[dim]embedder: {embedder_name}[/]")
                render.console.print(explain_renderable(result))
            else:
                mld = "—" if result.mld is None else f"{result.mld:.3f}"
                render.console.print(f"reward {result.reward:.3f}  P_soft {result.p_soft:.3f}  "
                                     f"R_soft {result.r_soft:.3f}  MLD {mld}  "
                                     f"(|Δ_pred| {len(result.delta_pred)}, |Δ_target| {len(result.delta_target)})")
                if result.reason:
                    render.console.print(f"{result.outcome}: {result.reason}", markup=False)

        run_safely(body)


def _load(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} file {path} is not valid JSON: {e}") from e


def _score(*, target: Path, state: Path | None, pred: Path | None, output: Path | None, credit: str,
           threshold: float, match_on: str, use_keywords: bool, embedder: str) -> tuple[Any, str]:
    from deltamem.config import EmbedderConfig
    from deltamem.core import ConfigError
    from deltamem.registry import build_embedder
    from deltamem.reward import MLDScorer, RewardConfig

    if (pred is None) == (output is None):
        raise ConfigError("give exactly one of --pred (a predicted state) or --output (the agent's raw output)")
    if output is not None and state is None:
        raise ConfigError("--output needs --state: the operations are applied to S_t")
    if embedder not in ("minilm", "hashing", "openai"):
        raise ConfigError(f"unknown embedder {embedder!r}; use minilm or hashing")
    config = RewardConfig(credit=credit, threshold=threshold, match_on=match_on,  # type: ignore[arg-type]
                          use_keywords=use_keywords)
    scorer = MLDScorer(build_embedder(EmbedderConfig(provider=embedder)), config=config)  # type: ignore[arg-type]
    target_data = _load(target, "target")
    if output is not None:
        raw = sys.stdin.read() if str(output) == "-" else output.read_text(encoding="utf-8")
        result = scorer.score(raw, target_data, state=_load(state, "state") if state else None)
    else:
        assert pred is not None
        result = scorer.score(_load(pred, "pred"), target_data)  # a predicted state: S_t is not needed
    return result, scorer.embedder.name
