"""The independent update-scenario suite (issue #16): written before the agent rework, never tuned on.

Only the data is checked here (shape, coverage, internal consistency); no model runs.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.eval.scenarios import Scenario, load_scenarios
from deltamem.reward.text import containment

SUITE = Path(str(resources.files("deltamem.eval").joinpath("data/scenarios_independent.json")))

KINDS = {"new_fact", "changed_fact", "retraction", "detail_added", "noop", "small_talk", "assistant_said",
         "relative_date", "injection", "injection_plus_fact", "multi_change", "hypothetical", "negated", "correction"}
UNCHANGED_KINDS = {"noop", "small_talk", "injection"}  # the target is exactly the state


@pytest.fixture(scope="module")
def suite() -> list[Scenario]:
    return load_scenarios(SUITE)


@pytest.fixture(scope="module")
def raw() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(SUITE.read_text(encoding="utf-8"))
    return data


def test_loads_with_at_least_30_uniquely_named_cases(suite: list[Scenario]) -> None:
    assert len(suite) >= 30
    names = [s.name for s in suite]
    assert len(set(names)) == len(names)


def test_every_kind_is_present(suite: list[Scenario]) -> None:
    kinds = {s.kind for s in suite}
    assert kinds >= KINDS, f"missing kinds: {sorted(KINDS - kinds)}"
    assert kinds <= KINDS, f"undocumented kinds: {sorted(kinds - KINDS)}"


def test_state_ids_are_unique_within_each_case(raw: list[dict[str, Any]]) -> None:
    for case in raw:
        ids = [m["id"] for m in case["state"]]
        assert len(set(ids)) == len(ids), case["name"]


def test_no_change_cases_keep_the_state_exactly(raw: list[dict[str, Any]]) -> None:
    for case in raw:
        if case["kind"] in UNCHANGED_KINDS:
            assert [t["text"] for t in case["target"]] == [m["text"] for m in case["state"]], case["name"]
            assert all(t["keywords"] == [] for t in case["target"]), case["name"]


def test_injection_with_a_real_fact_keeps_every_memory(raw: list[dict[str, Any]]) -> None:
    for case in raw:
        if case["kind"] == "injection_plus_fact":
            targets = [t["text"] for t in case["target"]]
            assert all(m["text"] in targets for m in case["state"]), case["name"]
            assert len(targets) > len(case["state"]), case["name"]


def test_targets_are_consistent_with_their_keywords(raw: list[dict[str, Any]]) -> None:
    """Unchanged memories are verbatim copies without keywords; changed ones hold all their own keywords."""
    for case in raw:
        state = {m["text"] for m in case["state"]}
        texts = [t["text"] for t in case["target"]]
        assert len(set(texts)) == len(texts), case["name"]
        for t in case["target"]:
            if t["keywords"]:
                assert t["text"] not in state, (case["name"], t["text"])
                assert 1 <= len(t["keywords"]) <= 3, (case["name"], t["text"])
                assert containment(t["keywords"], t["text"])[0] == 1.0, (case["name"], t["text"])
            else:
                assert t["text"] in state, (case["name"], t["text"])


def test_sessions_are_well_formed(raw: list[dict[str, Any]]) -> None:
    for case in raw:
        assert 2 <= len(case["session"]) <= 12, case["name"]
        assert all(turn["speaker"].strip() and turn["text"].strip() for turn in case["session"]), case["name"]


def test_cli_runs_the_independent_suite_with_data(tmp_path: Path) -> None:
    """The README's command: ``--data`` selects this suite (dry run with the rule-based fake model)."""
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["--embedder", "hashing", "eval", "scenarios", "--llm", "fake", "--data",
                                      str(SUITE), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "scenarios.json").read_text())
    results = report["models"][0]["results"]
    assert len(results) == len(load_scenarios(SUITE))
    assert all(not r["error"] for r in results)
