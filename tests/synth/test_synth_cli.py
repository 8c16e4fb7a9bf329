from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from synth_fakes import model_with
from typer.testing import CliRunner

from deltamem.cli.synth_cmd import _resolve_llm, register
from deltamem.core.errors import ConfigError
from deltamem.synth import SynthConfig, SynthPipeline, compute_stats, fake_reply
from deltamem.synth.jsonio import read_jsonl, write_jsonl

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    return app


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(_app(), list(args))
    return result.exit_code, result.output


def _synth(out: Path, *extra: str) -> tuple[int, str]:
    return _invoke("synth", "run", "--personas", "2", "--sessions", "2", "--out", str(out), "--llm", "fake", "-q",
                   *extra)


def test_run_writes_valid_data_and_validate_passes(tmp_path: Path) -> None:
    code, out = _synth(tmp_path / "d")
    assert code == 0, out
    assert "transitions" in out and "4" in out
    assert len(read_jsonl(tmp_path / "d" / "transitions.jsonl")) == 4
    code, out = _invoke("synth", "validate", str(tmp_path / "d"))
    assert code == 0, out
    assert "checked 4 transitions: all valid" in out


def test_bare_synth_runs_like_run(tmp_path: Path) -> None:
    code, out = _invoke("synth", "--personas", "2", "--sessions", "2", "--out", str(tmp_path / "bare"), "--llm",
                        "fake", "--quiet")
    assert code == 0, out
    _synth(tmp_path / "run")
    assert (tmp_path / "bare" / "transitions.jsonl").read_text() == (tmp_path / "run" / "transitions.jsonl").read_text()


def test_scripted_replies_file_reproduces_a_run(tmp_path: Path) -> None:
    model = model_with()
    SynthPipeline(model, tmp_path / "ref", SynthConfig(personas=1, sessions=2, seed=3)).run()
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps(fake_reply(r["messages"])) + "\n" for r in model.requests))
    code, out = _invoke("synth", "run", "--personas", "1", "--sessions", "2", "--seed", "3", "--out",
                        str(tmp_path / "cli"), "--llm", f"scripted:{replies}", "-q")
    assert code == 0, out
    assert (tmp_path / "cli" / "transitions.jsonl").read_text() == (tmp_path / "ref" / "transitions.jsonl").read_text()


def _tamper(path: Path, index: int, edit: str) -> str:
    rows = read_jsonl(path)
    row = rows[index]
    if edit == "next_state":
        row["next_state"][0]["text"] = "Someone else entirely."
    elif edit == "op_keyword":
        row["ops"][0]["keywords"] = ["zeppelin"]
    elif edit == "dialogue":
        for turn in row["session"]:
            turn["text"] = "Nothing to report."
    elif edit == "unknown_id":
        row["ops"][0]["id"] = "m999"
        row["ops"][0]["op"] = "DELETE"
    elif edit == "malformed":
        del row["state"]
    write_jsonl(path, rows)
    return str(row.get("id"))


@pytest.mark.parametrize(("edit", "message"), [
    ("next_state", "does not give next_state"),
    ("op_keyword", "['zeppelin'] not in"),
    ("dialogue", "dialogue:"),
    ("unknown_id", "unknown or deleted memory id 'm999'"),
    ("malformed", "malformed transition"),
])
def test_validate_catches_a_tampered_transition(tmp_path: Path, edit: str, message: str) -> None:
    _synth(tmp_path)
    tid = _tamper(tmp_path / "transitions.jsonl", 1, edit)
    code, out = _invoke("synth", "validate", str(tmp_path))
    assert code == 1
    assert tid in out and message in " ".join(out.split())
    assert "1 invalid" in out
    code, out = _invoke("synth", "validate", str(tmp_path), "--json")
    report = json.loads(out)
    assert code == 1 and report["checked"] == 4 and report["failed"] == 1


def test_stats_command_prints_the_computed_stats(tmp_path: Path) -> None:
    _synth(tmp_path)
    code, out = _invoke("synth", "stats", str(tmp_path), "--json")
    assert code == 0
    assert json.loads(out) == compute_stats(tmp_path)
    code, out = _invoke("synth", "stats", str(tmp_path))
    assert code == 0 and "ADD" in out and "rejections" in out


@pytest.mark.parametrize(("args", "message"), [
    (["synth", "run", "--personas", "2", "--llm", "fake"], "--personas, --sessions and --out are required"),
    (["synth", "run", "--personas", "2", "--sessions", "1", "--out", "X", "--llm", "gpt"], "unknown LLM"),
    (["synth", "run", "--personas", "999", "--sessions", "1", "--out", "X", "--llm", "fake"], "seed personas"),
    (["synth", "validate", "does-not-exist"], "does not exist"),
])
def test_readable_errors_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                           message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = _invoke(*args)
    assert code == 1
    assert message in " ".join(out.split()) and "Traceback" not in out


def test_resolve_llm_scripted_and_none(tmp_path: Path) -> None:
    replies = tmp_path / "r.jsonl"
    replies.write_text('"plain"\n{"content": "wrapped"}\n')
    model = _resolve_llm(f"scripted:{replies}")
    assert [model.chat([{"role": "user", "content": "x"}]).content for _ in range(2)] == ["plain", "wrapped"]
    with pytest.raises(ConfigError, match="needs an LLM"):
        _resolve_llm("none")


def test_the_same_command_runs_against_an_openai_compatible_endpoint(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``--llm openai:MODEL@URL`` drives the pipeline over real HTTP (here a loopback server answering with the
    fake synthesis model), and gives the same data as the in-process fake."""
    from tests.llm.fake_openai import FakeChatServer, completion

    def answer(body: dict[str, object]) -> tuple[int, dict[str, object]]:
        return 200, completion(fake_reply(body["messages"]))  # type: ignore[arg-type]

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeChatServer(default=answer) as server:
        code, out = _invoke("synth", "run", "--personas", "2", "--sessions", "2", "--out", str(tmp_path / "http"),
                            "--llm", f"openai:fake-chat@{server.base_url}", "-q")
        assert code == 0, out
        assert len(server.requests) >= 2 + 2 + 4 + 4  # profiles, timelines, ops and dialogues of 2 x 2 events
    _synth(tmp_path / "local")
    assert read_jsonl(tmp_path / "http" / "transitions.jsonl") == read_jsonl(tmp_path / "local" / "transitions.jsonl")
    code, out = _invoke("synth", "validate", str(tmp_path / "http"))
    assert code == 0 and "all valid" in out, out
