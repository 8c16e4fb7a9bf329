"""``deltamem eval scenarios``: the update-scenario suite for one or more agent LLMs, side by side.

Typical use is trained vs untrained: ``--llm base=hf:BASE_DIR,trained=hf:RUN/final``. Every model runs the real
agent loop (:func:`deltamem.eval.scenarios.run_suite`) on the same scenarios with the same embedder and scorer;
``scenarios.json`` holds every model's full report, ``scenarios.md`` the comparison table and ``scenarios.png`` the
mean MLD reward per scenario kind per model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.embed.base import Embedder
from deltamem.eval.scenarios import ScenarioResult, load_scenarios, run_suite
from deltamem.llm.base import ChatModel

__all__ = ["compare_on_scenarios", "packaged_suite", "parse_model_list", "scenarios_markdown"]


def packaged_suite() -> Path:
    """The 14 hand-written update scenarios shipped with deltamem."""
    return Path(str(resources.files("deltamem.eval").joinpath("data/scenarios.json")))


def parse_model_list(value: str) -> list[tuple[str, str]]:
    """``"a=hf:DIR,local"`` → ``[("a", "hf:DIR"), ("local", "local")]``: labels default to the spec itself."""
    out: list[tuple[str, str]] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        label, _, spec = part.partition("=") if "=" in part.split(":", 1)[0] else ("", "", part)
        spec = spec.strip()
        if not spec:
            raise ConfigError(f"empty model spec in --llm {value!r}")
        out.append((label.strip() or spec, spec))
    if not out:
        raise ConfigError("--llm needs at least one model spec")
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"model labels must be unique: {labels}")
    return out


def compare_on_scenarios(models: Sequence[tuple[str, ChatModel]], *, embedder: Embedder, scorer: Any,
                         suite: Path | None = None, out_dir: Path | None = None, command: str = "",
                         on_result: Callable[[str, ScenarioResult], None] | None = None) -> dict[str, Any]:
    """Run the suite for every ``(label, model)``; write ``scenarios.{json,md,png}`` into ``out_dir`` if given."""
    scenarios = load_scenarios(suite or packaged_suite())
    reports = []
    for label, llm in models:
        def show(r: ScenarioResult, label: str = label) -> None:
            if on_result is not None:
                on_result(label, r)

        reports.append({"label": label, **run_suite(scenarios, llm=llm, embedder=embedder, scorer=scorer,
                                                    on_result=show)})
    report = {"suite": str(suite or "packaged"), "command": command, "models": reports}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "scenarios.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        (out_dir / "scenarios.md").write_text(scenarios_markdown(report), encoding="utf-8")
        _plot(report, out_dir / "scenarios.png")
    return report


def scenarios_markdown(report: dict[str, Any]) -> str:
    """The comparison as Markdown: summary per model, mean reward per kind, reward per scenario."""
    models = report["models"]
    labels = [m["label"] for m in models]
    lines = ["# Update-scenario suite", ""]
    if report.get("command"):
        lines += [f"Command: `{report['command']}`", ""]
    lines += ["| model | mean MLD reward | usable JSON | first try | s / scenario |", "|---|---|---|---|---|"]
    lines += [f"| {m['label']} | {m['mean_reward']:.3f} | {m['json_valid_rate']:.0%} | "
              f"{m['first_try_valid_rate']:.0%} | {m['mean_seconds']:.1f} |" for m in models]
    kinds = sorted({k for m in models for k in m["mean_reward_by_kind"]})
    lines += ["", "| kind | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    lines += [f"| {k} | " + " | ".join(f"{m['mean_reward_by_kind'].get(k, 0.0):.3f}" for m in models) + " |"
              for k in kinds]
    lines += ["", "| scenario | kind | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for i, r in enumerate(models[0]["results"]):
        cells = []
        for m in models:
            x = m["results"][i]
            cells.append(f"{x['reward']:.3f}" + ("" if x["parsed"] else " (unusable)"))
        lines.append(f"| {r['name']} | {r['kind']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = report["models"]
    kinds = [*sorted({k for m in models for k in m["mean_reward_by_kind"]}), "all"]
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(kinds)), 4.2))
    for j, m in enumerate(models):
        vals = [m["mean_reward_by_kind"].get(k, 0.0) if k != "all" else m["mean_reward"] for k in kinds]
        ax.bar([i + j * width for i in range(len(kinds))], vals, width, label=m["label"])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(kinds))])
    ax.set_xticklabels(kinds, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean MLD reward")
    ax.set_title("update scenarios: mean MLD reward per kind")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
