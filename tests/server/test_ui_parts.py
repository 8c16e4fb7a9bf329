"""The inspector's pure parts: the word diff and the chart's numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deltamem.server.ui.chart import chart
from deltamem.server.ui.diff import word_diff
from deltamem.stores.base import ChangeSetRecord

T = datetime(2024, 5, 1, tzinfo=UTC)


def test_word_diff_marks_the_words_that_changed() -> None:
    assert word_diff("Ana lives in Boston now", "Ana lives in Lisbon now") == [
        ("same", "Ana lives in "), ("del", "Boston"), ("ins", "Lisbon"), ("same", " now")]
    assert word_diff("", "new text") == [("ins", "new text")]
    assert word_diff("same", "same") == [("same", "same")]


def _cs(i: int, add: int = 0, delete: int = 0, update: int = 0) -> ChangeSetRecord:
    return ChangeSetRecord(id=f"cs{i}", namespace="n", created_at=T + timedelta(days=i), session_id=None,
                           actor="agent", ops=(), counts={"ADD": add, "UPDATE": update, "DELETE": delete})


def test_chart_counts_memories_back_from_the_live_count() -> None:
    records = [_cs(3, add=1, delete=2), _cs(2, update=4), _cs(1, add=5)]  # newest first, as stores list them
    c = chart(records, held_now=4)
    assert c is not None and c.max_memories == 5 and c.max_ops == 5
    assert [title.split(": ")[1] for _, _, title in c.dots] == ["5 memories", "5 memories", "4 memories"]
    assert {b.kind for b in c.bars} == {"ADD", "UPDATE", "DELETE"}
    # Only the last change sets are drawn; the held count of the oldest one shown still comes out right.
    shown = chart(records, held_now=4, limit=2)
    assert shown is not None and [t.split(": ")[1] for _, _, t in shown.dots] == ["5 memories", "4 memories"]
    assert chart([], held_now=0) is None
