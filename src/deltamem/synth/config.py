"""Settings of a synthesis run (a frozen dataclass, as every component's config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from deltamem.core.errors import ConfigError

Stage = Literal["profile", "timeline", "ops", "dialogue"]
STAGES: tuple[Stage, ...] = ("profile", "timeline", "ops", "dialogue")


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """One synthesis run. The sizes default to what a 1.5B model with an 8k context handles reliably (ours).

    ``personas`` / ``sessions``: how many seed personas to draw and how many events (= sessions) per persona.
    ``memories``: the range of initial memories asked for (fewer than ``min_initial`` is rejected).
    ``keyword_coverage``: the share of an ADD / UPDATE's keywords its dialogue must contain (1.0 = all).
    ``gap_days``: the range of days between consecutive events (drawn with the run seed).
    ``trim_bad_ops``: drop single bad ops (and labels missing from their text) from an otherwise good ops reply
    instead of regenerating the whole event (counted as ``trimmed`` in the stats).
    """

    personas: int
    sessions: int
    seed: int = 0
    max_tries: int = 3
    temperature: float = 0.7
    memories: tuple[int, int] = (6, 10)
    min_initial: int = 3
    turns: tuple[int, int] = (2, 10)  # one exchange is a real session; the 1.5B model often writes just that
    max_ops: int = 6
    keyword_coverage: float = 1.0
    start_date: str = "2024-01-01"
    gap_days: tuple[int, int] = (3, 40)
    personas_file: Path | None = None
    trim_bad_ops: bool = True
    max_tokens: dict[str, int] = field(default_factory=lambda: {
        "profile": 700, "timeline": 600, "ops": 500, "dialogue": 900})

    def __post_init__(self) -> None:
        if self.personas < 1 or self.sessions < 1:
            raise ConfigError("--personas and --sessions must be at least 1")
        if self.max_tries < 1:
            raise ConfigError("--max-tries must be at least 1")
        if not (1 <= self.memories[0] <= self.memories[1] and 1 <= self.turns[0] <= self.turns[1]):
            raise ConfigError("memories and turns must be ranges (low <= high, both >= 1)")
        if not 0.0 < self.keyword_coverage <= 1.0:
            raise ConfigError("keyword_coverage must be in (0, 1]")
        if not 1 <= self.gap_days[0] <= self.gap_days[1]:
            raise ConfigError("gap_days must be a range of at least one day")
        try:
            date.fromisoformat(self.start_date)
        except ValueError as e:
            raise ConfigError(f"start_date must be YYYY-MM-DD: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, written to ``run.json``."""
        d = asdict(self)
        d["personas_file"] = str(self.personas_file) if self.personas_file else None
        d["memories"], d["turns"], d["gap_days"] = list(self.memories), list(self.turns), list(self.gap_days)
        return d

    def identity(self) -> dict[str, Any]:
        """The settings a resumed run must share with the first one (they decide which items exist)."""
        d = self.to_dict()
        return {k: d[k] for k in ("personas", "sessions", "seed", "start_date", "gap_days", "personas_file")}
