"""The reward's configuration and its result object (what a person reads to see why a rollout scored what it did),
with its rendering as rich tables (rich is imported only when a result is shown)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from deltamem.core import ConfigError

if TYPE_CHECKING:
    from rich.console import Group

CreditKind = Literal["product", "threshold", "min"]
MatchOn = Literal["credit", "cosine"]
Outcome = Literal["scored", "identical", "one_empty", "invalid"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardConfig:
    """How a matched pair earns credit and how pairs are chosen.

    * ``credit``: ``product`` s = cos·κ (the paper's form, default); ``threshold`` s = 1[cos ≥ τ]·κ;
      ``min`` s = min(cos, κ). cos is clipped to [0, 1] first.
    * ``threshold``: τ of the ``threshold`` variant (default 0.8, see docs/reward.md).
    * ``match_on``: the matrix the one-to-one assignment maximises: ``credit`` (default, ours: the matching that
      minimises MLD) or ``cosine`` (the paper's "optimal matching on C"; credit is then read off the chosen pairs).
    * ``use_keywords``: False sets κ ≡ 1, the "without lexical fidelity" ablation.
    """

    credit: CreditKind = "product"
    threshold: float = 0.8
    match_on: MatchOn = "credit"
    use_keywords: bool = True

    def __post_init__(self) -> None:
        if self.credit not in ("product", "threshold", "min"):
            raise ConfigError(f"credit must be product, threshold or min, not {self.credit!r}")
        if self.match_on not in ("credit", "cosine"):
            raise ConfigError(f"match_on must be credit or cosine, not {self.match_on!r}")
        if not (isinstance(self.threshold, int | float) and 0.0 <= self.threshold <= 1.0):
            raise ConfigError(f"threshold must be a number in [0, 1], not {self.threshold!r}")


@dataclass(frozen=True, slots=True)
class MatchedPair:
    """One pair of the optimal matching: a predicted memory p_i credited against a target memory g_j."""

    pred: str
    target: str
    cosine: float
    kappa: float
    credit: float
    keywords_found: tuple[str, ...] = ()
    keywords_missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"pred": self.pred, "target": self.target, "cosine": self.cosine, "kappa": self.kappa,
                "credit": self.credit, "keywords_found": list(self.keywords_found),
                "keywords_missing": list(self.keywords_missing)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardResult:
    """The state-level reward of one rollout and everything it was computed from.

    ``reward`` is the soft F1 = 2·P·R / (P + R) with ``p_soft`` = Σs / |Δ_pred| and ``r_soft`` = Σs / |Δ_target|;
    ``mld`` = |Δ_pred| + |Δ_target| − 2Σs (``None`` when the output was invalid: there is no predicted state).
    ``delta_pred`` / ``delta_target`` are the memory texts left after cancelling the memories both states share;
    ``pairs`` the matched pairs with non-zero credit (a zero-credit pair costs the same as leaving both unmatched).
    ``outcome`` says which rule produced the reward and ``reason`` explains it in words (empty when ``scored``).
    """

    reward: float
    p_soft: float
    r_soft: float
    mld: float | None
    delta_pred: tuple[str, ...]
    delta_target: tuple[str, ...]
    pairs: tuple[MatchedPair, ...]
    config: RewardConfig
    outcome: Outcome = "scored"
    reason: str = ""

    @property
    def total_credit(self) -> float:
        """Σs over the matched pairs."""
        return math.fsum(p.credit for p in self.pairs)

    @property
    def unmatched_pred(self) -> tuple[str, ...]:
        """Predicted memories with no credited partner (spurious or wrong: each costs 1 in MLD)."""
        used = _multiset(p.pred for p in self.pairs)
        return _minus(self.delta_pred, used)

    @property
    def unmatched_target(self) -> tuple[str, ...]:
        """Target memories no predicted memory earned credit for (missed: each costs 1 in MLD)."""
        used = _multiset(p.target for p in self.pairs)
        return _minus(self.delta_target, used)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the CLI's ``--json``)."""
        cfg = self.config
        return {
            "reward": self.reward, "p_soft": self.p_soft, "r_soft": self.r_soft, "mld": self.mld,
            "outcome": self.outcome, "reason": self.reason,
            "config": {"credit": cfg.credit, "threshold": cfg.threshold, "match_on": cfg.match_on,
                       "use_keywords": cfg.use_keywords},
            "delta_pred": list(self.delta_pred), "delta_target": list(self.delta_target),
            "pairs": [p.to_dict() for p in self.pairs],
            "unmatched_pred": list(self.unmatched_pred), "unmatched_target": list(self.unmatched_target),
        }

    def explain(self, *, width: int = 120) -> str:
        """The result as plain-text tables: summary, matched pairs (cos, κ, credit, keywords), unmatched memories."""
        return explain_text(self, width=width)


def _multiset(texts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in texts:
        out[t] = out.get(t, 0) + 1
    return out


def _minus(texts: tuple[str, ...], used: dict[str, int]) -> tuple[str, ...]:
    left: list[str] = []
    for t in texts:
        if used.get(t, 0):
            used[t] -= 1
        else:
            left.append(t)
    return tuple(left)


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def explain_renderable(result: RewardResult) -> Group:
    """Summary line, the matched pairs (cos, κ, credit, keywords) and the unmatched memories, as one rich Group."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

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
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False, force_terminal=False).print(
        explain_renderable(result))
    return buf.getvalue()
