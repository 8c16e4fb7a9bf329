"""``bench/halumem_audit.py``: a hand audit is checked against the run and scored with the judge's formulas."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from deltamem.core.errors import CorruptDataError

Loader = Callable[[str], ModuleType]  # the bench_script fixture (tests/eval/conftest.py)


def _point(index: int, score: int, interference: bool = False) -> dict[str, Any]:
    return {"index": index, "score": score, "importance": 0.5, "is_interference": interference,
            "memory_type": "Persona Memory"}


RESULTS: dict[str, Any] = {
    "meta": {"systems": ["a"]},
    "sessions": [
        {"system": "a", "session": "session_1", "halumem": {
            # 4 core points: the judge gives 3 full scores; 2 interference points, 1 scored 2.
            "integrity": [_point(1, 2), _point(2, 2), _point(3, 2), _point(4, 0),
                          _point(5, 2, True), _point(6, 0, True)],
            "updates": [{"index": 7, "label": "Correct"}, {"index": 8, "label": "Omission"}]}},
    ],
    "questions": [
        {"id": "u:session_1:0", "systems": {"a": {"label": "Correct"}}},
        {"id": "u:session_1:1", "systems": {"a": {"label": "Correct"}}},
    ],
}
AUDIT: dict[str, Any] = {
    # The audit overturns 2 of the 3 full core scores and finds point 4 stored after all; the distractor was not
    # stored; the first update was a stale memory; the second answer invented something.
    "integrity": {"a": {"1": {"core_present": 2, "interference_stored": 0, "wrong_core_2": 2,
                              "wrong_interference_2": 1, "under_scored": 1}}},
    "updates": {"1:7": {"a": "H"}, "1:8": {"a": "O"}},
    "qa": {"1:0": {"a": "C"}, "1:1": {"a": "H"}},
}


def test_judge_and_hand_figures_use_the_same_formulas(bench_script: Loader) -> None:
    figures = bench_script("halumem_audit").compare(RESULTS, AUDIT)["a"]
    assert figures["judge"] == {"recall": 75.0, "interference acc.": 50.0, "update correct": 50.0,
                                "update halluc.": 0.0, "update omission": 50.0, "QA correct": 100.0,
                                "QA halluc.": 0.0, "QA omission": 0.0}
    assert figures["hand"] == {"recall": 50.0, "interference acc.": 100.0, "update correct": 0.0,
                               "update halluc.": 50.0, "update omission": 50.0, "QA correct": 50.0,
                               "QA halluc.": 50.0, "QA omission": 0.0}


@pytest.mark.parametrize(("path", "value", "message"), [
    (("integrity", "a", "1", "core_present"), 3, "core_present 3 does not follow"),
    (("integrity", "a", "1", "wrong_interference_2"), 0, "interference_stored 0 does not follow"),
    (("qa", "1:1", "a"), "Wrong", "is not C, H or O"),
])
def test_an_audit_that_does_not_fit_the_run_is_refused(path: tuple[str, ...], value: Any, message: str,
                                                       bench_script: Loader) -> None:
    audit = copy.deepcopy(AUDIT)
    node = audit
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(CorruptDataError, match=message):
        bench_script("halumem_audit").compare(RESULTS, audit)


def test_a_missing_label_is_named(tmp_path: Path, bench_script: Loader) -> None:
    audit = copy.deepcopy(AUDIT)
    del audit["updates"]["1:8"]
    with pytest.raises(CorruptDataError, match="no update label for a at 1:8"):
        bench_script("halumem_audit").compare(RESULTS, audit)


def test_cli_prints_the_table_and_writes_the_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  bench_script: Loader) -> None:
    (tmp_path / "results.json").write_text(json.dumps(RESULTS), encoding="utf-8")
    (tmp_path / "hand_audit.json").write_text(json.dumps(AUDIT), encoding="utf-8")
    assert bench_script("halumem_audit").main(["--out", str(tmp_path)]) == 0
    assert "| a | hand | 50.0 | 100.0 | 0.0 | 50.0 | 50.0 | 50.0 | 50.0 | 0.0 |" in capsys.readouterr().out
    assert (tmp_path / "judge_vs_hand.png").read_bytes()[:4] == b"\x89PNG"
