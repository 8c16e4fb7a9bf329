"""Wrong or truncated files give a CorruptDataError naming the file and the record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deltamem.core.errors import CorruptDataError
from deltamem.datasets import load_halumem, load_locomo, load_longmemeval, load_personamem_questions
from deltamem.datasets.personamem import load_personamem_contexts

FIX = Path(__file__).parent / "fixtures"
Loader = Callable[[Path], Any]


def _truncate(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 2 // 3])
    return dst


@pytest.mark.parametrize(
    ("fixture", "loader", "pattern"),
    [
        ("locomo_mini.json", load_locomo, "not valid JSON"),
        ("halumem_mini.jsonl", load_halumem, "line 1: not valid JSON"),
        ("longmemeval_mini.json", load_longmemeval, "not valid JSON"),
        ("personamem_contexts_mini.jsonl", load_personamem_contexts, "line 2: not valid JSON"),
    ],
)
def test_truncated_json(tmp_path: Path, fixture: str, loader: Loader, pattern: str) -> None:
    bad = _truncate(FIX / fixture, tmp_path / fixture)
    with pytest.raises(CorruptDataError, match=pattern) as exc:
        loader(bad)
    assert str(bad) in str(exc.value)


def test_truncated_csv(tmp_path: Path) -> None:
    src = (FIX / "personamem_questions_mini.csv").read_text(encoding="utf-8")
    cut = src[: src.index("'(d) Magical")]  # stops inside a quoted cell of row 2
    bad = tmp_path / "q.csv"
    bad.write_text(cut, encoding="utf-8", newline="")
    with pytest.raises(CorruptDataError, match=r"q\.csv"):
        load_personamem_questions(bad)


def test_csv_short_row(tmp_path: Path) -> None:
    lines = (FIX / "personamem_questions_mini.csv").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "q.csv"
    bad.write_text("\r\n".join([*lines[:2], "2,q-9,suggest_new_ideas"]) + "\r\n", encoding="utf-8", newline="")
    with pytest.raises(CorruptDataError, match=r"row 2 \(q-9\).*truncated"):
        load_personamem_questions(bad)


def test_csv_missing_column(tmp_path: Path) -> None:
    text = (FIX / "personamem_questions_mini.csv").read_text(encoding="utf-8")
    bad = tmp_path / "q.csv"
    bad.write_text(text.replace("correct_answer", "answer", 1), encoding="utf-8", newline="")
    with pytest.raises(CorruptDataError, match=r"header lacks column.*correct_answer"):
        load_personamem_questions(bad)


def test_csv_bad_cell(tmp_path: Path) -> None:
    text = (FIX / "personamem_questions_mini.csv").read_text(encoding="utf-8")
    bad = tmp_path / "q.csv"
    bad.write_text(text.replace(",(d),", ",(e),", 1), encoding="utf-8", newline="")
    with pytest.raises(CorruptDataError, match=r"row 2 \(q-0002\): correct_answer"):
        load_personamem_questions(bad)


def _edit_json(src: Path, dst: Path, edit: Callable[[Any], None]) -> Path:
    data = json.loads(src.read_text())
    edit(data)
    dst.write_text(json.dumps(data))
    return dst


def _edit_jsonl(src: Path, dst: Path, edit: Callable[[Any], None]) -> Path:
    rows = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    edit(rows)
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dst


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda d: d[1]["qa"][0].pop("question"),
         r"conversation #1 \(conv-x2\) qa #0: missing required key 'question'"),
        (lambda d: d[0]["qa"][0].pop("answer"), r"qa #0: missing required key 'answer'"),
        (lambda d: d[0]["qa"][1].update(category="2"), r"qa #1: key 'category' should be int, got str"),
        (lambda d: d[0]["qa"][1].update(category=7), r"category 7 is not one of 1-5"),
        (lambda d: d[0]["conversation"]["session_2"][0].update(text=None), r"session_2 turn #0: key 'text'"),
        (lambda d: d[0]["conversation"].update(session_1_date_time="yesterday"), r"does not match"),
        (lambda d: d[0].pop("sample_id"), r"conversation #0: missing required key 'sample_id'"),
    ],
)
def test_locomo_schema_errors(tmp_path: Path, edit: Callable[[Any], None], pattern: str) -> None:
    bad = _edit_json(FIX / "locomo_mini.json", tmp_path / "l.json", edit)
    with pytest.raises(CorruptDataError, match=pattern) as exc:
        load_locomo(bad)
    assert str(bad) in str(exc.value)


def test_locomo_top_level_must_be_list(tmp_path: Path) -> None:
    bad = tmp_path / "l.json"
    bad.write_text('{"sample_id": "x"}')
    with pytest.raises(CorruptDataError, match="expected a JSON list"):
        load_locomo(bad)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda r: r[0]["sessions"][1]["memory_points"][0].update(is_update="yes"),
         r"session #1 memory point #0: is_update"),
        (lambda r: r[0]["sessions"][0]["memory_points"][1].pop("importance"),
         r"memory point #1: missing required key 'importance'"),
        (lambda r: r[0]["sessions"][0]["questions"][0].update(evidence="x"),
         r"question #0: key 'evidence' should be list"),
        (lambda r: r[0]["sessions"][2]["dialogue"][0].update(role=3),
         r"session #2 dialogue #0: key 'role' should be str"),
        (lambda r: r[0].pop("uuid"), r"line 1: missing required key 'uuid'"),
    ],
)
def test_halumem_schema_errors(tmp_path: Path, edit: Callable[[Any], None], pattern: str) -> None:
    bad = _edit_jsonl(FIX / "halumem_mini.jsonl", tmp_path / "h.jsonl", edit)
    with pytest.raises(CorruptDataError, match=pattern) as exc:
        load_halumem(bad)
    assert (str(bad) in str(exc.value) and "00000000-aaaa" in str(exc.value)) or "uuid" in str(exc.value)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda d: d[0]["haystack_dates"].pop(), r"instance #0 \(q1aa\): .*parallel lists"),
        (lambda d: d[1].update(question_type="trivia"), r"instance #1 \(q2bb_abs\): unknown question_type"),
        (lambda d: d[0].update(question_date="30/05/2023"), r"question_date.*does not match"),
        (lambda d: d[0]["haystack_sessions"][0][0].pop("content"), r"turn #0: missing required key 'content'"),
    ],
)
def test_longmemeval_schema_errors(tmp_path: Path, edit: Callable[[Any], None], pattern: str) -> None:
    bad = _edit_json(FIX / "longmemeval_mini.json", tmp_path / "x.json", edit)
    with pytest.raises(CorruptDataError, match=pattern):
        load_longmemeval(bad)


def test_personamem_context_line_with_two_keys(tmp_path: Path) -> None:
    bad = tmp_path / "c.jsonl"
    bad.write_text(json.dumps({"a": [], "b": []}) + "\n")
    with pytest.raises(CorruptDataError, match="line 1: expected one key"):
        load_personamem_contexts(bad)
