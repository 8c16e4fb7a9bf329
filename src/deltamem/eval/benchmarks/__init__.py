"""The benchmarks, one plug-in module each, registered in one table (:data:`BENCHMARKS`).

To add one: write a module with a class that satisfies :class:`~deltamem.eval.benchmarks.base.Benchmark` (load and
plan, judge an answer, its metrics and report section) and add an instance here; the CLI, the harness, the runner,
the report and ``bench/replay_ingest.py`` take it from this table.
"""

from __future__ import annotations

from deltamem.core.errors import ConfigError
from deltamem.eval.benchmarks.base import Benchmark, ConversationPlan, Step
from deltamem.eval.benchmarks.halumem import HaluMem
from deltamem.eval.benchmarks.locomo import LoCoMo
from deltamem.eval.benchmarks.longmemeval import LongMemEval
from deltamem.eval.benchmarks.personamem import PersonaMem

__all__ = ["BENCHMARKS", "Benchmark", "ConversationPlan", "Step", "benchmark"]

#: Every benchmark by name, in the order the CLI lists them.
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (LoCoMo(), HaluMem(), PersonaMem(), LongMemEval())}


def benchmark(name: str) -> Benchmark:
    """The plug-in called ``name``; a ConfigError naming the known ones otherwise."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}") from None
