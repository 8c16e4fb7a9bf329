from __future__ import annotations

import json
from pathlib import Path

import pytest

from deltamem.core.errors import CorruptDataError
from deltamem.synth.jsonio import JSONExtractError, JsonlCheckpoint, extract_json_object, read_jsonl


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n{"ops": []}\n```\nDone.', {"ops": []}),
    ('Sure. {"a": [1, 2,],} trailing words', {"a": [1, 2]}),
    ('[1, 2] then {"b": "x"}', {"b": "x"}),
    ('{"outer": {"inner": "}"}}', {"outer": {"inner": "}"}}),
])
def test_extract_json_object_tolerates_fences_prose_and_trailing_commas(text: str, expected: dict[str, object]) -> None:
    assert extract_json_object(text) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("no json here", "no JSON object"),
    ('{"turns": [{"speaker": "user", "text": "hi"', "cut off"),
])
def test_extract_json_object_errors_are_actionable(text: str, fragment: str) -> None:
    with pytest.raises(JSONExtractError, match=fragment):
        extract_json_object(text)


def test_checkpoint_resumes_and_drops_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    ck = JsonlCheckpoint(path)
    ck.append({"key": "a", "v": 1})
    ck.append({"key": "b", "v": 2})
    with path.open("a", encoding="utf-8") as f:
        f.write('{"key": "c", "v"')  # a write cut off by a crash
    again = JsonlCheckpoint(path)
    assert "a" in again and "b" in again and "c" not in again
    again.append({"key": "c", "v": 3})
    assert [r["key"] for r in read_jsonl(path)] == ["a", "b", "c"]
    with pytest.raises(CorruptDataError, match="already recorded"):
        again.append({"key": "a", "v": 9})


def test_checkpoint_rejects_a_corrupt_middle_line(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"key": "a"}) + "\nnot json\n" + json.dumps({"key": "b"}) + "\n", encoding="utf-8")
    with pytest.raises(CorruptDataError, match=":2"):
        JsonlCheckpoint(path)
