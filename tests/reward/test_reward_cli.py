"""``deltamem reward`` through typer's runner (hashing embedder, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app

STATE = [{"id": "m1", "text": "Caroline lives in Boston"}, {"id": "m2", "text": "Rex is a dog"}]
TARGET = [{"id": "m1", "text": "Caroline moved to Seattle in March 2024", "keywords": ["Seattle", "March 2024"]},
          {"id": "m2", "text": "Rex is a dog"}]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, data in (("state", STATE), ("target", TARGET)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
        paths[name] = str(tmp_path / f"{name}.json")
    update = '[{"op": "UPDATE", "id": "m1", "text": "Caroline moved to Seattle"}]'
    (tmp_path / "out.txt").write_text(f"```json\n{update}\n```")
    paths["output"] = str(tmp_path / "out.txt")
    (tmp_path / "bad.txt").write_text('[{"op": "DELETE", "id": "m7"}]')
    paths["bad"] = str(tmp_path / "bad.txt")
    return paths


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["reward", "--embedder", "hashing", *args])
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    return result.output


def test_json_for_a_predicted_state(files: dict[str, str]) -> None:
    data = json.loads(run("--target", files["target"], "--pred", files["target"], "--json"))
    assert (data["reward"], data["mld"], data["outcome"], data["embedder"]) == (1.0, 0.0, "identical", "hashing-64")


def test_raw_output_with_explain_and_min_credit(files: dict[str, str]) -> None:
    data = json.loads(run("--state", files["state"], "--target", files["target"], "--output", files["output"],
                          "--credit", "min", "--json"))
    (pair,) = data["pairs"]
    assert pair["kappa"] == 0.5 and pair["keywords_missing"] == ["March 2024"]
    assert data["reward"] == pytest.approx(min(pair["cosine"], 0.5))
    text = run("--state", files["state"], "--target", files["target"], "--output", files["output"], "--credit",
               "min", "--explain")
    assert "matched pairs" in text and "March 2024" in text and f"reward {data['reward']:.3f}" in text


def test_invalid_output_prints_the_reason(files: dict[str, str]) -> None:
    text = run("--state", files["state"], "--target", files["target"], "--output", files["bad"])
    assert "reward 0.000" in text and "unknown or deleted memory id 'm7'" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--pred", "X", "--output", "Y"], "exactly one of --pred"),
    (["--output", "Y"], "--output needs --state"),
    (["--pred", "missing.json"], "No such file"),
    (["--pred", "TARGET", "--credit", "sum"], "credit must be"),
])
def test_readable_errors(files: dict[str, str], args: list[str], message: str) -> None:
    args = [files["target"] if a == "TARGET" else a for a in args]
    assert message in run("--target", files["target"], *args, code=1)
