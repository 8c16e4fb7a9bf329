"""The run's CSV log (one row per logged step) and its PNG reward curve. Pure I/O; no torch."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: CSV column ← key in TRL's log dict (``mld`` is the reward function's name, see :mod:`deltamem.train.reward`).
COLUMNS: dict[str, str] = {
    "step": "step", "reward_mean": "reward", "reward_std": "reward_std", "kl": "kl", "loss": "loss",
    "completion_length": "completions/mean_length", "parse_fail_rate": "mld/parse_fail",
    "invalid_rate": "mld/invalid", "p_soft": "mld/p_soft", "r_soft": "mld/r_soft",
    "zero_std_groups": "frac_reward_zero_std", "entropy": "entropy", "learning_rate": "learning_rate",
    "grad_norm": "grad_norm", "seconds": "seconds",
}


def metrics_row(step: int, logs: Mapping[str, Any], seconds: float) -> dict[str, Any] | None:
    """The CSV row for one TRL log dict, or None for logs without a reward (e.g. the final summary)."""
    if "reward" not in logs:
        return None
    row: dict[str, Any] = {}
    for column, key in COLUMNS.items():
        value = step if column == "step" else seconds if column == "seconds" else logs.get(key)
        row[column] = "" if value is None else round(float(value), 6)
    row["step"] = step
    return row


class MetricsCSV:
    """Appends rows to ``path``; on resume, rows after the resumed step are dropped (they will be redone)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[dict[str, str]]:
        """Rows written so far."""
        if not self.path.is_file():
            return []
        with self.path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def truncate_after(self, step: int) -> None:
        """Keep only rows with ``step <= step`` (called when a run resumes from a checkpoint)."""
        kept = [r for r in self.rows() if int(float(r["step"])) <= step]
        self._write(kept, mode="w")

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one row (header written with the first)."""
        self._write([row], mode="a")

    def _write(self, rows: Sequence[Mapping[str, Any]], *, mode: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = mode == "w" or not self.path.is_file() or self.path.stat().st_size == 0
        with self.path.open(mode, newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
            if new:
                writer.writeheader()
            writer.writerows(rows)


def plot_reward_curve(csv_path: Path, png_path: Path, *, title: str = "GRPO reward", window: int = 10) -> Path:
    """PNG of the mean reward per step (± std band) and its moving average, plus the parse-failure rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = MetricsCSV(csv_path).rows()
    steps = [int(float(r["step"])) for r in rows]
    mean = [_num(r["reward_mean"]) for r in rows]
    std = [_num(r["reward_std"]) for r in rows]
    fail = [_num(r["parse_fail_rate"]) for r in rows]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, height_ratios=(3, 1))
    ax.plot(steps, mean, lw=1, alpha=0.6, label="mean reward (group batch)")
    ax.fill_between(steps, [m - s for m, s in zip(mean, std, strict=True)],
                    [m + s for m, s in zip(mean, std, strict=True)], alpha=0.15, label="± std")
    ax.plot(steps, moving_average(mean, window), lw=2, label=f"moving average ({window})")
    ax.set_ylabel("MLD reward")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax2.plot(steps, fail, color="tab:red", lw=1)
    ax2.set_ylabel("parse fail")
    ax2.set_xlabel("step")
    ax2.set_ylim(-0.05, 1.05)
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` values (NaNs skipped).

    >>> moving_average([0, 1, 2, 3], 2)
    [0.0, 0.5, 1.5, 2.5]
    """
    out = []
    for i in range(len(values)):
        part = [v for v in values[max(0, i - window + 1): i + 1] if not math.isnan(v)]
        out.append(sum(part) / len(part) if part else math.nan)
    return out


def _num(value: str) -> float:
    return float(value) if value not in ("", None) else math.nan


def summarise_curve(csv_path: Path, *, window: int = 10) -> dict[str, Any]:
    """First-window vs last-window mean reward and parse-failure rate of a run's CSV (for the results README)."""
    rows = MetricsCSV(csv_path).rows()
    mean = [_num(r["reward_mean"]) for r in rows]
    fail = [_num(r["parse_fail_rate"]) for r in rows]

    def avg(values: Sequence[float]) -> float | None:
        ok = [v for v in values if not math.isnan(v)]
        return round(sum(ok) / len(ok), 4) if ok else None

    return {"steps": len(rows), "window": window, "reward_first": avg(mean[:window]),
            "reward_last": avg(mean[-window:]),
            "parse_fail_first": avg(fail[:window]), "parse_fail_last": avg(fail[-window:]),
            "steps_with_nonzero_reward": sum(1 for v in mean if v > 0)}
