"""Times entering through the CLI (session files) pass the core's one gate: a clear error and exit code 1, nothing
written, never a traceback (issue #19, finding 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app


@pytest.mark.parametrize("date", ["0999-01-01", "٢٠٢٤-٠١-٠١", "2024-02-30", "9999-12-31T23:00:00-05:00"])
def test_session_files_with_bad_dates_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  date: str) -> None:
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    monkeypatch.setenv("DELTAMEM_LLM__PROVIDER", "none")
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"sessions": [{"date": date, "messages": [{"speaker": "A", "text": "I live in Oslo"}]}]}),
                 encoding="utf-8")
    db = tmp_path / "m.db"
    runner = CliRunner()
    result = runner.invoke(app, ["--db", str(db), "add", str(f), "-u", "a"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "s.json" in result.output and ("range" in result.output or "ISO-8601" in result.output)
    listed = runner.invoke(app, ["--db", str(db), "--json", "list", "-u", "a"])
    assert listed.exit_code == 0 and json.loads(listed.output)["results"] == []
