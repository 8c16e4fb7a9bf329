"""The report's PNGs (matplotlib, Agg backend): accuracy per category, cumulative accuracy, cost per system."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError

__all__ = ["PLOTS", "write_plots"]

PLOTS = ("accuracy_by_category.png", "cumulative_accuracy.png", "cost.png")


def write_plots(out_dir: Path, results: Mapping[str, Any]) -> list[Path]:
    """Draw the three plots into ``out_dir``; returns their paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ConfigError(f"plots need matplotlib: pip install 'deltamem[eval]' ({e})") from e
    summary: Mapping[str, Any] = results["summary"]
    bench = results["meta"]["bench"]
    systems = list(summary)
    paths = [out_dir / p for p in PLOTS]

    cats = sorted({c for v in summary.values() for c in v["by_category"]})
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(cats) * max(1, len(systems)) / 2), 4.5))
    width = 0.8 / max(1, len(systems))
    for j, s in enumerate(systems):
        vals = [100 * (summary[s]["by_category"].get(c, {}).get("accuracy") or 0.0) for c in cats]
        ax.bar([i + j * width for i in range(len(cats))], vals, width, label=s)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cats))])
    ax.set_xticklabels([f"{c}\n(n={_count(summary, c)})" for c in cats], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{bench}: accuracy per category")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for s in systems:
        cum = summary[s]["cumulative_by_depth"]
        xs = [int(k) for k, v in cum.items() if v is not None]
        ax.plot(xs, [100 * cum[str(x)] for x in xs], marker="o", label=s)
    ax.set_xlabel("sessions s (questions whose evidence lies within the first s sessions)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{bench}: cumulative accuracy vs sessions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    ingest = [summary[s]["cost"]["ingest"]["prompt_tokens"] + summary[s]["cost"]["ingest"]["completion_tokens"]
              for s in systems]
    answer = [summary[s]["cost"]["answer"]["prompt_tokens"] + summary[s]["cost"]["answer"]["completion_tokens"]
              for s in systems]
    axes[0].bar(systems, ingest, label="ingest")
    axes[0].bar(systems, answer, bottom=ingest, label="answer")
    axes[0].set_ylabel("LLM tokens (prompt + completion)")
    axes[0].legend()
    secs_i = [summary[s]["cost"]["ingest"]["seconds"] for s in systems]
    secs_a = [summary[s]["cost"]["answer"]["seconds"] for s in systems]
    axes[1].bar(systems, secs_i, label="ingest")
    axes[1].bar(systems, secs_a, bottom=secs_i, label="answer")
    axes[1].set_ylabel("wall time (s)")
    axes[1].legend()
    fig.suptitle(f"{bench}: cost per system")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=120)
    plt.close(fig)
    return paths


def _count(summary: Mapping[str, Any], cat: str) -> int:
    return max((v["by_category"].get(cat, {}).get("count", 0) for v in summary.values()), default=0)
