"""``--json`` before the command (global option) and after it (any command) give the same output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from deltamem.cli.json_flag import JsonAnywhereGroup, strip_flag
from deltamem.cli.main import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    db = tmp_path / "m.db"

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return result.output

    return run


@pytest.mark.parametrize("command", [
    ["list", "--user", "caro"],
    ["search", "Boston", "--user", "caro", "-k", "2"],
    ["history", "--user", "caro"],
    ["log", "--user", "caro"],
    ["review", "list", "--user", "caro"],
    ["get", "{mid}", "--user", "caro"],
])
def test_json_before_and_after_the_command_agree(cli: Any, command: list[str]) -> None:
    added = json.loads(cli("add", "Caroline lives in Boston", "Rex is a dog", "--user", "caro", "--json"))
    args = [a.format(mid=added["changes"][0]["memory_id"]) for a in command]
    before = json.loads(cli("--json", *args))
    after = json.loads(cli(*args, "--json"))
    middle = json.loads(cli(args[0], "--json", *args[1:]))
    assert before == after == middle
    assert before or args[0] == "review"  # data, not an empty answer (the review queue is empty; JSON parsed)


def test_json_after_a_writing_command(cli: Any) -> None:
    added = json.loads(cli("add", "Caroline lives in Boston", "--user", "caro", "--json"))
    assert added["counts"]["ADD"] == 1
    mid = added["changes"][0]["memory_id"]
    updated = json.loads(cli("update", mid[:8], "Caroline lives in Seattle", "--user", "caro", "--json"))
    assert updated["changes"][0]["before"] == "Caroline lives in Boston"
    reverted = json.loads(cli("revert", updated["id"][:8], "--user", "caro", "--json"))
    assert reverted["reverts"] == updated["id"]


def test_tokens_after_double_dash_are_left_alone(cli: Any) -> None:
    out = cli("add", "--user", "caro", "--", "--json")
    assert out.startswith("change set")  # a table: the --json after -- is the fact, not the flag
    out = cli("add", "--user", "caro", "--json", "--", "--json", "plain fact")
    assert [c["after"] for c in json.loads(out)["changes"]] == ["--json", "plain fact"]
    listed = json.loads(cli("list", "--user", "caro", "--json"))["results"]
    assert [e["text"] for e in listed] == ["--json", "--json", "plain fact"]


def test_an_option_value_that_looks_like_the_flag_stays_a_value(cli: Any) -> None:
    out = cli("add", "a fact", "--user", "--json")  # click reads --json as the user name, as it did before
    assert out.startswith("change set")
    assert json.loads(cli("list", "--user", "--json", "--json"))["results"][0]["namespace"] == "user:--json"


def test_a_command_with_its_own_json_option_keeps_it() -> None:
    seen: dict[str, bool] = {}
    toy = typer.Typer(cls=JsonAnywhereGroup)

    @toy.callback()
    def main(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        seen["global"] = json_out

    @toy.command()
    def own(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        seen["own"] = json_out

    @toy.command()
    def other(name: str) -> None:
        seen["other"] = name == "x"

    assert CliRunner().invoke(toy, ["own", "--json"]).exit_code == 0
    assert seen == {"global": False, "own": True}
    assert CliRunner().invoke(toy, ["--json", "own"]).exit_code == 0
    assert seen == {"global": True, "own": False}
    assert CliRunner().invoke(toy, ["other", "x", "--json"]).exit_code == 0
    assert seen == {"global": True, "own": False, "other": True}


def test_strip_flag() -> None:
    assert strip_flag(["a", "--json", "b"], "--json", value_options=set()) == (["a", "b"], True)
    assert strip_flag(["a", "b"], "--json", value_options=set()) == (["a", "b"], False)
    assert strip_flag(["--", "--json"], "--json", value_options=set()) == (["--", "--json"], False)
    assert strip_flag(["-u", "--json", "--json"], "--json", value_options={"-u"}) == (["-u", "--json"], True)
    assert strip_flag(["-u=x", "--json"], "--json", value_options={"-u"}) == (["-u=x"], True)
