"""``deltamem eval scenarios``: several agent LLMs on the packaged update-scenario suite, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.core import ConfigError
from deltamem.eval.scenario_compare import packaged_suite, parse_model_list
from deltamem.eval.scenarios import load_scenarios


def test_parse_model_list_labels_and_specs() -> None:
    assert parse_model_list("base=hf:/m/base, trained=hf:/m/final,local") == [
        ("base", "hf:/m/base"), ("trained", "hf:/m/final"), ("local", "local")]
    assert parse_model_list("openai:gpt-4o@http://h/v1?a=b") == [("openai:gpt-4o@http://h/v1?a=b",
                                                                  "openai:gpt-4o@http://h/v1?a=b")]
    with pytest.raises(ConfigError, match="unique"):
        parse_model_list("a=fake,a=local")
    with pytest.raises(ConfigError, match="at least one"):
        parse_model_list(" , ")
    with pytest.raises(ConfigError, match="empty model spec"):
        parse_model_list("a=")


def test_suite_is_packaged() -> None:
    suite = load_scenarios(packaged_suite())
    assert len(suite) == 14 and len({s.kind for s in suite}) >= 4


def test_cli_compares_two_models(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["--embedder", "hashing", "eval", "scenarios", "--llm", "one=fake,two=fake",
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "scenarios.json").read_text())
    assert [m["label"] for m in report["models"]] == ["one", "two"]
    one, two = report["models"]
    assert len(one["results"]) == len(two["results"]) == 14
    assert all(0.0 <= r["reward"] <= 1.0 for r in one["results"])
    assert one["mean_reward"] == pytest.approx(two["mean_reward"])  # same deterministic model twice
    md = (out / "scenarios.md").read_text()
    assert "| one | " in md and "| two | " in md and "| moved-city |" in md
    assert (out / "scenarios.png").stat().st_size > 1000
    assert "deltamem eval scenarios --llm one=fake,two=fake" in report["command"]


def test_cli_unknown_suite_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "suite.json"
    bad.write_text('{"not": "a list"}')
    result = CliRunner().invoke(app, ["--embedder", "hashing", "eval", "scenarios", "--llm", "fake", "--data",
                                      str(bad), "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code != 0
    assert "not a scenario suite" in result.output
