"""Re-validation of a finished synthesis directory (``deltamem synth validate DIR``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from deltamem.core.errors import ConfigError, CorruptDataError
from deltamem.synth.jsonio import read_jsonl
from deltamem.synth.validate import transition_problems


@dataclass
class ValidationReport:
    """How many transitions were checked, and the problems of each failing one (by transition id or line)."""

    checked: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every transition passed."""
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"checked": self.checked, "failed": len(self.problems), "ok": self.ok, "problems": self.problems}


def validate_dir(out_dir: Path, *, keyword_coverage: float | None = None) -> ValidationReport:
    """Check every row of ``out_dir/transitions.jsonl`` with :func:`deltamem.synth.transition_problems`.

    ``keyword_coverage`` defaults to the run's own setting (``run.json``), else 1.0 (every keyword).
    """
    if keyword_coverage is None:
        keyword_coverage = _run_coverage(Path(out_dir) / "run.json")
    path = Path(out_dir) / "transitions.jsonl"
    if not path.exists():
        raise ConfigError(f"{path} does not exist; run `deltamem synth run` first")
    try:
        rows = read_jsonl(path)
    except CorruptDataError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    report = ValidationReport()
    seen: set[str] = set()
    for n, row in enumerate(rows, 1):
        report.checked += 1
        name = str(row.get("id", f"line {n}"))
        problems = transition_problems(row, keyword_coverage=keyword_coverage)
        if name in seen:
            problems.append("duplicate transition id")
        seen.add(name)
        if problems:
            report.problems[f"{name} (line {n})"] = problems
    return report


def _run_coverage(run_file: Path) -> float:
    try:
        value = json.loads(run_file.read_text(encoding="utf-8"))["config"]["keyword_coverage"]
        return float(value)
    except (OSError, ValueError, KeyError, TypeError):
        return 1.0
