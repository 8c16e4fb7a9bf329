"""Rich tables that show why a rollout got its reward. Rendering only; nothing here computes the reward."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from deltamem.reward.result import RewardResult


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def explain_renderable(result: RewardResult) -> Group:
    """Summary line, the matched pairs (cos, κ, credit, keywords) and the unmatched memories, as one rich Group."""
    cfg = result.config
    variant = {"product": "cos·κ", "threshold": f"1[cos≥{cfg.threshold:g}]·κ", "min": "min(cos, κ)"}[cfg.credit]
    if not cfg.use_keywords:
        variant += " (κ off)"
    head = Text.from_markup(
        f"[bold]reward {result.reward:.3f}[/]  (soft F1; P_soft {_num(result.p_soft)}, R_soft {_num(result.r_soft)})"
        f"\nMLD {_num(result.mld)}   |Δ_pred| {len(result.delta_pred)}   |Δ_target| {len(result.delta_target)}"
        f"   Σs {result.total_credit:.3f}   credit s = {variant}, pairs matched on {cfg.match_on}"
    )
    parts: list[Text | Table] = [head]
    if result.reason:
        colour = "red" if result.outcome == "invalid" else "yellow"
        parts.append(Text.from_markup(f"[{colour}]{result.outcome}:[/] {escape(result.reason)}"))
    if result.pairs:
        pairs = Table(title="matched pairs (γ*)", show_lines=True, title_justify="left")
        pairs.add_column("#", justify="right", style="dim")
        pairs.add_column("predicted p_i")
        pairs.add_column("target g_j")
        pairs.add_column("cos", justify="right")
        pairs.add_column("κ", justify="right")
        pairs.add_column("credit", justify="right", style="bold")
        pairs.add_column("keywords missing", style="red")
        for n, p in enumerate(sorted(result.pairs, key=lambda p: -p.credit), 1):
            pairs.add_row(str(n), escape(p.pred), escape(p.target), f"{p.cosine:.3f}", f"{p.kappa:.2f}",
                          f"{p.credit:.3f}", escape(", ".join(p.keywords_missing)))
        parts.append(pairs)
    extra, missed = result.unmatched_pred, result.unmatched_target
    if extra or missed:
        table = Table(title="unmatched (cost 1 each)", title_justify="left")
        table.add_column("side")
        table.add_column("memory")
        for text in extra:
            table.add_row("[yellow]extra[/] (prediction only)", escape(text))
        for text in missed:
            table.add_row("[red]missed[/] (target only)", escape(text))
        parts.append(table)
    return Group(*parts)


def explain_text(result: RewardResult, *, width: int = 120) -> str:
    """:func:`explain_renderable` rendered to plain text (no colour codes)."""
    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False, force_terminal=False).print(
        explain_renderable(result))
    return buf.getvalue()
