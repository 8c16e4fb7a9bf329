"""``deltamem train``: GRPO training of the memory agent, ``--dry-run`` checks, and ``train eval`` before / after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deltamem.cli import render
from deltamem.cli.common import OPTS, run_safely

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Training config (TOML), e.g. "
                                                "configs/train/cpu_50step.toml.")]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Override data.path: a synthesis dir or "
                                              "transitions.jsonl.")]
OutOpt = Annotated[Path | None, typer.Option("--output-dir", help="Override output.dir.")]


def _run(config: Path | None, *, dry_run: bool, resume: bool, data: Path | None, output_dir: Path | None,
         json_out: bool) -> None:
    def body() -> None:
        from deltamem.train.run import load, reward_embedder

        cfg = load(config, data=data, output_dir=output_dir)
        embedder = reward_embedder(cfg.reward.embedder)
        if dry_run:
            from deltamem.train.dryrun import dry_run as check

            rep = check(cfg, embedder)
            if json_out:
                render.print_json(rep.to_dict())
            else:
                render.console.print(json.dumps(rep.checks, indent=2), markup=False)
                for p in rep.problems:
                    render.err_console.print(f"[red]problem:[/] {p}")
                render.console.print("dry run: OK" if rep.ok else f"dry run: {len(rep.problems)} problem(s)")
            if not rep.ok:
                raise typer.Exit(1)
            return
        from deltamem.train.trainer import train

        summary = train(cfg, embedder, resume=resume, progress=not json_out)
        if json_out:
            render.print_json(summary)
        else:
            render.console.print(json.dumps(summary, indent=2), markup=False)

    run_safely(body)


def register(app: typer.Typer) -> None:
    """Add ``deltamem train`` (with ``--dry-run`` / ``--resume``) and ``deltamem train eval``."""
    train_app = typer.Typer(help="GRPO training of the memory agent with the MLD reward (needs the 'train' extra).",
                            no_args_is_help=False, invoke_without_command=True)

    @train_app.callback()
    def train_main(
        ctx: typer.Context,
        config: ConfigOpt = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate config, data and launcher files on CPU; "
                                              "no model is loaded, nothing is trained.")] = False,
        resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in output.dir.")]
        = False,
        data: DataOpt = None,
        output_dir: OutOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Train (GRPO) per a TOML config: progress bar, metrics.csv, reward_curve.png, checkpoints."""
        if ctx.invoked_subcommand is not None:
            return
        _run(config, dry_run=dry_run, resume=resume, data=data, output_dir=output_dir,
             json_out=json_out or OPTS.json)

    @train_app.command("eval")
    def train_eval(
        config: ConfigOpt = None,
        checkpoint: Annotated[list[Path] | None, typer.Option(
            "--checkpoint", help="A trained checkpoint (repeatable); default: output.dir/sft (if the run had a "
            "warm-up) and output.dir/final.")] = None,
        no_base: Annotated[bool, typer.Option("--no-base", help="Skip the untrained base model.")] = False,
        data: DataOpt = None,
        output_dir: OutOpt = None,
        max_examples: Annotated[int, typer.Option(help="Evaluate at most this many held-out examples (0 = all).")]
        = 0,
        out: Annotated[Path | None, typer.Option("--out", help="Write the full results (JSON) here.")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Before / after: mean MLD reward and parse rate on the held-out transitions (greedy, one call each)."""
        def body() -> None:
            from deltamem.core import ConfigError
            from deltamem.llm.hf_backend import TransformersChatModel
            from deltamem.train.evaluate import evaluate_model
            from deltamem.train.run import load, reward_embedder
            from deltamem.train.sft import finished_sft
            from deltamem.train.trainer import FINAL, prepare

            cfg = load(config, data=data, output_dir=output_dir)
            prep = prepare(cfg, reward_embedder(cfg.reward.embedder))
            examples = prep.split.eval[:max_examples] if max_examples else prep.split.eval
            if not examples:
                raise ConfigError("the held-out split is empty (raise data.eval_personas)")
            if checkpoint:
                trained = [(str(p), str(p)) for p in checkpoint]
            else:  # the run's own checkpoints: the SFT warm-up (when there was one), then the GRPO result
                warm = finished_sft(Path(cfg.output.dir))
                trained = ([("sft", str(warm))] if warm is not None else []) + [
                    ("grpo", str(Path(cfg.output.dir) / FINAL))]
            paths = ([] if no_base else [("base", prep.model_path)]) + trained
            results = []
            for label, path in paths:
                r = evaluate_model(TransformersChatModel.from_path(path), examples, prep.scorer,
                                   max_tokens=cfg.grpo.max_completion_length)
                results.append({"label": label, **r})
            report = {"config": cfg.source, "eval_personas": list(prep.split.eval_personas), "results": results}
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            if json_out or OPTS.json:
                render.print_json({**report, "results": [{k: v for k, v in r.items() if k != "items"}
                                                         for r in results]})
                return
            for r in results:
                render.console.print(f"{r['label']}: mean reward {r['mean_reward']:.4f}  parse rate "
                                     f"{r['parse_rate']:.3f}  ({r['examples']} held-out examples, "
                                     f"{r['seconds']} s)", markup=False)

        run_safely(body)

    app.add_typer(train_app, name="train")
