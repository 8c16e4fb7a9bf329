"""``deltamem import`` of a bad file (finding 7 of #19): exit 1 with a message, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.api.export_files import parse, records, sealed, v1
from typer.testing import CliRunner

from deltamem.cli.main import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    runner = CliRunner()

    def run(db: str, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--db", str(tmp_path / db), *args])
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    return run


def test_duplicate_change_set_line_is_a_message_and_exit_1(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("src.db", "add", "one fact", "two fact", "-u", "caro")[0] == 0
    path = tmp_path / "out.jsonl"
    assert cli("src.db", "export", str(path), "-u", "caro")[0] == 0
    lines = parse(path.read_text())
    recs = records(lines)
    recs.append(json.loads(json.dumps(next(r for r in recs if r["type"] == "change_set"))))
    for i, text in enumerate((sealed(lines[0], recs), v1(lines[0], recs))):
        bad = tmp_path / f"dup{i}.jsonl"
        bad.write_text(text)
        code, out = cli("dst.db", "import", str(bad))
        assert code == 1 and "appears twice" in out
        code, out = cli("dst.db", "--json", "list", "-u", "caro")
        assert code == 0 and json.loads(out)["results"] == []
    flipped = tmp_path / "flipped.jsonl"
    flipped.write_text(path.read_text().replace("two fact", "twp fact"))
    code, out = cli("dst.db", "import", str(flipped))
    assert code == 1 and "checksum mismatch" in out
    assert cli("dst.db", "import", str(path))[0] == 0
