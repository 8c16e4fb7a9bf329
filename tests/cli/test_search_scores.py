"""``deltamem search`` says what its scores mean per mode; the scores themselves are the API's, unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.cli.render import hits_table
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.base import RRF_K
from deltamem.stores.memory import InMemoryStore

FACTS = ["Caroline lives in Boston", "Caroline is a nurse", "Rex is a dog"]


def _render(table: Any) -> str:
    out = Console(record=True, width=200)
    out.print(table)
    return out.export_text()


def _flat(text: str) -> str:
    """Text with the caption's line breaks (it wraps at the table's width) undone."""
    return " ".join(text.split())


@pytest.mark.parametrize(("mode", "column", "meaning"), [
    ("hybrid", "rank score", "reciprocal rank fusion"),
    ("vector", "cosine", "similarity of the embeddings"),
    ("keyword", "BM25", "relevance of the matching words"),
])
def test_table_names_the_score_and_explains_it(mode: Any, column: str, meaning: str) -> None:
    m = Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=64))
    m.add(FACTS, user_id="c")
    hits = m.search("Caroline Boston", user_id="c", mode=mode)
    text = _render(hits_table(hits, mode=mode))
    header = next(line for line in text.splitlines() if "memory" in line and "timestamp" in line)
    assert column in header and ("score" not in header or mode == "hybrid")
    assert meaning in _flat(text) and f"search results ({mode})" in text
    for h in hits:  # the numbers are the API's scores, only formatted
        assert f"{h.score:.3f}" in text


def test_hybrid_caption_gives_the_best_scores() -> None:
    text = _flat(_render(hits_table([], mode="hybrid")))
    both, one = 2 / (RRF_K + 1), 1 / (RRF_K + 1)
    assert f"{both:.3f} = first in both" in text and f"{one:.3f} = first in one" in text
    assert f"Σ 1/({RRF_K} + rank)" in text


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DELTAMEM_EMBEDDER__PROVIDER", "hashing")
    db = tmp_path / "m.db"

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", str(db), *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output

    run("add", *FACTS, "--user", "c")
    return run


def test_cli_search_explains_each_mode(cli: Any) -> None:
    hybrid = cli("search", "Caroline Boston", "--user", "c")
    assert "rank score" in hybrid and "0.033 = first in both" in _flat(hybrid) and "(hybrid)" in hybrid
    first_row = next(line for line in hybrid.splitlines() if "Caroline lives in Boston" in line)
    assert "0.033" in first_row  # first in both rankings: the best possible rank score
    assert "cosine" in cli("search", "Caroline Boston", "--user", "c", "--mode", "vector")
    assert "BM25" in cli("search", "Caroline Boston", "--user", "c", "--mode", "keyword")


def test_cli_json_scores_are_the_apis(cli: Any, tmp_path: Path) -> None:
    hits = json.loads(cli("search", "Caroline Boston", "--user", "c", "--json"))["results"]
    assert hits[0]["memory"] == "Caroline lives in Boston"
    assert hits[0]["score"] == pytest.approx(2 / (RRF_K + 1))
    m = Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=64))
    m.add(FACTS, user_id="c")
    assert [h["score"] for h in hits] == pytest.approx([h.score for h in m.search("Caroline Boston", user_id="c")])


def test_cli_search_mode_defaults_to_the_config(cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "deltamem.toml"
    config.write_text('search_mode = "keyword"\n')
    out = cli("--config", str(config), "search", "Boston", "--user", "c")
    assert "BM25" in out and "(keyword)" in out
    assert "Caroline is a nurse" not in out  # keyword search: only the matching memory
