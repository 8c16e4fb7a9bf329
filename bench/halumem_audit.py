"""Set a hand audit of a HaluMem run beside the judge's figures: a markdown table and a PNG.

The LLM judge of a HaluMem run can be wrong, and with a small local model it often is. A hand audit records, in
``<out>/hand_audit.json``, a label per question and per update point (C correct, H hallucination, O omission) and,
per session, how many judge verdicts on extraction it overturns. This script checks the audit against the run's
``results.json`` (every question and update point labelled for every system; the per-session counts must add up to
what the judge scored) and computes both sets of figures with the same formulas:

    python bench/halumem_audit.py --out docs/results/halumem-dev

It prints the table and writes ``<out>/judge_vs_hand.png``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deltamem.core.errors import CorruptDataError

_LABELS = {"Correct": "C", "Hallucination": "H", "Omission": "O"}
METRICS = ("recall", "interference acc.", "update correct", "update halluc.", "QA correct", "QA halluc.")


def _short(question_id: str) -> str:
    """``<user>:session_7:3`` → ``7:3``."""
    return question_id.split("session_", 1)[1]


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _label(audit: Mapping[str, Any], key: str, system: str, what: str) -> str:
    try:
        label = str(audit[key][system])
    except KeyError:
        raise CorruptDataError(f"hand audit: no {what} label for {system} at {key}") from None
    if label not in ("C", "H", "O"):
        raise CorruptDataError(f"hand audit: {what} label {label!r} for {system} at {key} is not C, H or O")
    return label


def compare(results: Mapping[str, Any], audit: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """{system: {"judge": {metric: %}, "hand": {metric: %}}}; raises CorruptDataError if the audit does not fit."""
    systems: Sequence[str] = results["meta"]["systems"]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for system in systems:
        counts = {side: Counter[str]() for side in ("judge", "hand")}
        for session in (s for s in results["sessions"] if s["system"] == system):
            pos = session["session"].split("_", 1)[1]
            items = session["halumem"]["integrity"]
            core = [i for i in items if not i["is_interference"]]
            inter = [i for i in items if i["is_interference"]]
            core2 = sum(i["score"] == 2 for i in core)
            inter2 = sum(i["score"] == 2 for i in inter)
            hand = audit["integrity"].get(system, {}).get(pos, {})
            present = hand.get("core_present", 0)
            stored = hand.get("interference_stored", 0)
            if present != core2 - hand.get("wrong_core_2", 0) + hand.get("under_scored", 0) or present > len(core):
                raise CorruptDataError(f"hand audit: {system} session {pos}: core_present {present} does not follow "
                                       f"from the judge's {core2} full scores and the overturned ones")
            if stored != inter2 - hand.get("wrong_interference_2", 0) or stored < 0:
                raise CorruptDataError(f"hand audit: {system} session {pos}: interference_stored {stored} does not "
                                       f"follow from the judge's {inter2} full scores and the overturned ones")
            for side, full, fell in (("judge", core2, inter2), ("hand", present, stored)):
                counts[side].update(core=len(core), present=full, inter=len(inter), fell=fell)
            for u in session["halumem"]["updates"]:
                key = f"{pos}:{u['index']}"
                counts["judge"][f"u{_LABELS.get(u['label'], 'X')}"] += 1
                counts["hand"][f"u{_label(audit['updates'], key, system, 'update')}"] += 1
                counts["judge"]["u"] += 1
                counts["hand"]["u"] += 1
        for q in results["questions"]:
            rec = q["systems"].get(system)
            if rec is None:
                continue
            counts["judge"][f"q{_LABELS.get(rec['label'], 'X')}"] += 1
            counts["hand"][f"q{_label(audit['qa'], _short(q['id']), system, 'QA')}"] += 1
            counts["judge"]["q"] += 1
            counts["hand"]["q"] += 1
        out[system] = {side: {
            "recall": _pct(c["present"], c["core"]),
            "interference acc.": _pct(c["inter"] - c["fell"], c["inter"]),
            "update correct": _pct(c["uC"], c["u"]), "update halluc.": _pct(c["uH"], c["u"]),
            "update omission": _pct(c["uO"], c["u"]),
            "QA correct": _pct(c["qC"], c["q"]), "QA halluc.": _pct(c["qH"], c["q"]),
            "QA omission": _pct(c["qO"], c["q"]),
        } for side, c in counts.items()}
    return out


def table(figures: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Markdown: one row per system and source (judge / hand)."""
    cols = ("recall", "interference acc.", "update correct", "update halluc.", "update omission", "QA correct",
            "QA halluc.", "QA omission")
    rows = ["| system | source | " + " | ".join(cols) + " |", "| --- | --- |" + " ---: |" * len(cols)]
    for system, sides in figures.items():
        for side in ("judge", "hand"):
            rows.append(f"| {system} | {side} | " + " | ".join(f"{sides[side][c]:.1f}" for c in cols) + " |")
    return "\n".join(rows)


def plot(figures: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path) -> None:
    """Grouped bars: each metric, judge vs hand, per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(figures)
    fig, axes = plt.subplots(1, len(systems), figsize=(6.0 * len(systems), 4.5), sharey=True, squeeze=False)
    width = 0.38
    for ax, system in zip(axes[0], systems, strict=True):
        xs = range(len(METRICS))
        for j, (side, colour) in enumerate((("judge", "#bbbbbb"), ("hand", "#1f77b4"))):
            ax.bar([x + (j - 0.5) * width for x in xs], [figures[system][side][m] for m in METRICS], width,
                   label="1.5B judge" if side == "judge" else "by hand", color=colour)
        ax.set_xticks(list(xs), METRICS, rotation=25, ha="right", fontsize=8)
        ax.set_title(system)
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("%")
    axes[0][0].legend()
    fig.suptitle("HaluMem: the judge's figures and the hand audit's")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the run's folder (results.json, hand_audit.json)")
    args = parser.parse_args(argv)
    results = json.loads((args.out / "results.json").read_text(encoding="utf-8"))
    audit = json.loads((args.out / "hand_audit.json").read_text(encoding="utf-8"))
    figures = compare(results, audit)
    print(table(figures))
    plot(figures, args.out / "judge_vs_hand.png")
    print(f"\nwrote {args.out / 'judge_vs_hand.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
