"""The namespace chart: memories held and ops committed per change set over time, as SVG geometry.

Drawn on the server (no script runs in the inspector): bars for the ADD / UPDATE / DELETE of each change set, a line
for the number of memories after it. The template turns these numbers into ``<rect>`` / ``<polyline>`` elements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deltamem.stores.base import ChangeSetRecord

WIDTH, HEIGHT, PAD = 720, 220, 36
KINDS = ("ADD", "UPDATE", "DELETE")


@dataclass(frozen=True, slots=True)
class Bar:
    """One op kind of one change set: where its rectangle sits, and what its tooltip says."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the template draws."""

    bars: tuple[Bar, ...]
    line: str  # polyline points "x,y x,y ..."
    dots: tuple[tuple[float, float, str], ...]  # the line's points, with their tooltips
    max_ops: int
    max_memories: int
    first: str
    last: str
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD


def chart(records: Sequence[ChangeSetRecord], held_now: int, *, limit: int = 60) -> Chart | None:
    """The last ``limit`` change sets (``records`` newest first, as the store lists them); None when there are none.

    The memories held after each change set are counted back from ``held_now`` (the live count): each change set's
    ADDs were not there before it, its DELETEs were; so older change sets need not be read.
    """
    if not records:
        return None
    shown = list(reversed(records[:limit]))
    held, shown_totals = held_now, []
    for r in reversed(shown):
        shown_totals.append(max(held, 0))
        held -= int(r.counts.get("ADD", 0)) - int(r.counts.get("DELETE", 0))
    shown_totals.reverse()
    max_ops = max(1, max(sum(int(r.counts.get(k, 0)) for k in KINDS) for r in shown))
    max_mem = max(1, max(shown_totals))
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = min(inner_w / len(shown), 60.0)  # a few change sets do not fill the width with one bar
    bar_w = step * 0.6
    bars, points, dots = [], [], []
    for i, (r, total) in enumerate(zip(shown, shown_totals, strict=True)):
        x = PAD + i * step + (step - bar_w) / 2
        base = float(HEIGHT - PAD)
        for kind in KINDS:
            n = int(r.counts.get(kind, 0))
            if n:
                h = inner_h * n / max_ops
                base -= h
                bars.append(Bar(round(x, 1), round(base, 1), round(bar_w, 1), round(h, 1), kind,
                                f"{r.created_at:%Y-%m-%d %H:%M} {r.session_id or r.id[:8]}: {n} {kind}"))
        cx, cy = round(PAD + (i + 0.5) * step, 1), round(HEIGHT - PAD - inner_h * total / max_mem, 1)
        points.append(f"{cx},{cy}")
        dots.append((cx, cy, f"{r.created_at:%Y-%m-%d %H:%M}: {total} memories"))
    return Chart(tuple(bars), " ".join(points), tuple(dots), max_ops, max_mem, f"{shown[0].created_at:%Y-%m-%d}",
                 f"{shown[-1].created_at:%Y-%m-%d}")
