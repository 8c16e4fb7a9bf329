"""The input gates of the Python API on every store (issue #19).

Finding 2: a timestamp before year 1000 was stored on SQLite in a form that could not be read back, and list,
search, history, revert and export of the whole namespace failed. Now every time that enters (ops, update, session
dates, message times, filters, import records) passes one gate (``deltamem.core.as_utc``: aware UTC, years
1000-9999) on every store, every accepted time round-trips, and a namespace that already holds a bad row from an
older version still reads: the row comes back clamped, with a warning.

Finding 3 (its core): metadata is checked against configurable limits before any write.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from deltamem.core import MAX_TIME, MIN_TIME, Add, CorruptDataError, DeltamemError, InvalidOperation, ValidationError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.base import ArchiveStore, Filters
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

EMB = HashingEmbedder(dim=64)
NS = "user:t"
OLD = datetime(999, 6, 1, tzinfo=UTC)


def _pg(request: pytest.FixtureRequest) -> Callable[[], ArchiveStore]:
    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg")
    from deltamem.stores.postgres import PostgresStore

    dsn: str = request.getfixturevalue("pg_dsn")
    return lambda: PostgresStore(dsn)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Memory]]:
    """Fresh facades over one backend (several share one database, as a second process would)."""
    opened: list[Memory] = []
    if request.param == "memory":
        shared = InMemoryStore()
        factory: Callable[[], ArchiveStore] = lambda: shared  # noqa: E731
    elif request.param == "sqlite":
        factory = lambda: SqliteStore(tmp_path / "m.db")  # noqa: E731
    else:
        factory = _pg(request)

    def new() -> Memory:
        m = Memory(store=factory(), embedder=EMB)
        opened.append(m)
        return m

    yield new
    for m in opened:
        m.close()


def _readable(m: Memory) -> list[str]:
    """Every read of the namespace works; returns the live texts."""
    texts = [e.text for e in m.get_all(namespace=NS)]
    m.search("fact", namespace=NS, mode="hybrid")
    m.search("fact", namespace=NS, mode="keyword")
    m.history(namespace=NS)
    m.change_sets(namespace=NS)
    m.export(io.StringIO(), namespace=NS)
    return texts


def test_every_write_path_refuses_times_outside_the_range(make: Callable[[], Memory]) -> None:
    m = make()
    kept = m.add(["a stored fact"], namespace=NS).changes[0].memory_id
    attempts: list[Callable[[], object]] = [
        lambda: m.add([Add(text="old fact", timestamp=OLD)], namespace=NS),
        lambda: m.add([{"op": "ADD", "text": "old fact", "timestamp": "0999-06-01T00:00:00Z"}], namespace=NS),
        lambda: m.add([{"op": "ADD", "text": "late fact", "timestamp": "9999-12-31T23:00:00-05:00"}], namespace=NS),
        lambda: m.update(kept, "rewritten fact", namespace=NS, timestamp=OLD),
        lambda: m.add([{"role": "user", "content": "hello"}], namespace=NS, session_date="0999-06-01", infer=False),
        lambda: m.add([{"role": "user", "content": "hello", "time": "0500-01-01T00:00:00Z"}], namespace=NS,
                      infer=False),
        lambda: m.add([{"role": "user", "content": "hello"}], namespace=NS, session_date="٢٠٢٤-01-01", infer=False),
        lambda: m.search("fact", namespace=NS, filters=Filters(since=OLD)),
        lambda: m.get_all(namespace=NS, filters=Filters(until=datetime(1, 1, 1))),
    ]
    for attempt in attempts:
        with pytest.raises((ValidationError, InvalidOperation)) as e:
            attempt()
        assert isinstance(e.value, DeltamemError) and ("range" in str(e.value) or "ISO-8601" in str(e.value))
    assert _readable(m) == ["a stored fact"]
    assert len(m.change_sets(namespace=NS)) == 1  # nothing else was written


def test_import_refuses_a_record_with_a_time_outside_the_range(make: Callable[[], Memory]) -> None:
    m = make()
    m.add(["an exported fact"], namespace=NS)
    buf = io.StringIO()
    m.export(buf, namespace=NS)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    for line in lines:
        if line["type"] == "memory":
            line["memory"]["timestamp"] = "0999-06-01T00:00:00.000000+00:00"
        line.pop("sha256", None)  # export v2 checksums (the file would be refused for them otherwise)
    lines[0]["schema_version"] = 1
    target = make()
    target.reset(namespace=NS)
    with pytest.raises(CorruptDataError, match="out of range"):
        target.import_(io.StringIO("".join(json.dumps(line) + "\n" for line in lines)))
    assert target.get_all(namespace=NS) == []


def test_accepted_times_round_trip_on_every_store(make: Callable[[], Memory]) -> None:
    m = make()
    given = [MIN_TIME, MAX_TIME, datetime(2024, 5, 1, 12), datetime(1000, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))),
             "2024-05-01T12:00:00+02:00"]
    m.add([{"op": "ADD", "text": f"fact {i}", "timestamp": t if isinstance(t, str) else t.isoformat()}
           for i, t in enumerate(given)], namespace=NS)
    expect = [MIN_TIME, MAX_TIME, datetime(2024, 5, 1, 12, tzinfo=UTC), MIN_TIME, datetime(2024, 5, 1, 10, tzinfo=UTC)]
    again = make()  # another facade: the SQL stores read the rows back from the database
    by_text = {e.text: e.timestamp for e in again.get_all(namespace=NS)}
    assert [by_text[f"fact {i}"] for i in range(len(given))] == expect
    assert [e.text for e in again.get_all(namespace=NS, filters=Filters(since=MAX_TIME))] == ["fact 1"]
    assert {e.text for e in again.get_all(namespace=NS, filters=Filters(until=MIN_TIME))} == {"fact 0", "fact 3"}
    buf = io.StringIO()
    again.export(buf, namespace=NS)
    again.reset(namespace=NS)
    again.import_(io.StringIO(buf.getvalue()))
    assert {e.text: e.timestamp for e in make().get_all(namespace=NS)} == by_text


def test_metadata_limits_are_checked_before_any_write(make: Callable[[], Memory]) -> None:
    m = make()
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(600):
        node["a"] = {}
        node = node["a"]
    for bad in (deep, {"k": float("nan")}, {"blob": "x" * 20_000}, {f"k{i}": i for i in range(300)}, {"k": object()}):
        with pytest.raises(InvalidOperation):
            m.add(["a fact with metadata"], namespace=NS, metadata=bad)
        with pytest.raises(InvalidOperation):
            m.add([Add(text="a fact with metadata", metadata=bad)], namespace=NS)
    assert m.change_sets(namespace=NS) == [] and _readable(m) == []
    m.config = m.config.model_copy(update={"max_metadata_depth": 2, "max_metadata_bytes": 64})
    with pytest.raises(InvalidOperation, match="nested more than 2"):
        m.add(["x"], namespace=NS, metadata={"a": {"b": {"c": 1}}})
    m.add(["x"], namespace=NS, metadata={"a": {"b": 1}, "t": (1, 2)})
    assert [dict(e.metadata) for e in make().get_all(namespace=NS)] == [{"a": {"b": 1}, "t": [1, 2]}]


# -- rows an older version wrote ------------------------------------------------------------------------------------
def _poison_sqlite(path: Path, memory_id: str) -> None:
    """What deltamem before the gate wrote for a year-999 timestamp: glibc's unpadded "%Y"."""
    bad = "999-06-01T00:00:00.000000+00:00"
    with sqlite3.connect(path) as c:
        c.execute("UPDATE memories SET timestamp = ? WHERE id = ?", (bad, memory_id))
        for seq, after in c.execute("SELECT seq, after FROM history WHERE memory_id = ?", (memory_id,)).fetchall():
            entry = json.loads(after)
            entry["timestamp"] = bad
            c.execute("UPDATE history SET after = ? WHERE seq = ?", (json.dumps(entry), seq))


def _poison_postgres(dsn: str, memory_id: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("UPDATE deltamem.memories SET timestamp = '0999-06-01T00:00:00+00' WHERE id = %s", (memory_id,))
        c.execute("UPDATE deltamem.history SET after = jsonb_set(after, '{timestamp}',"
                  " '\"999-06-01T00:00:00.000000+00:00\"') WHERE memory_id = %s", (memory_id,))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def test_a_bad_row_from_an_older_version_does_not_lock_its_namespace(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    factory: Callable[[], Any] = (lambda: SqliteStore(tmp_path / "old.db")) if backend == "sqlite" else _pg(request)
    m = Memory(store=factory(), embedder=EMB)
    m.add(["an ordinary fact"], namespace=NS)
    cs = m.add(["an ancient fact"], namespace=NS)
    bad_id = cs.changes[0].memory_id
    if backend == "sqlite":
        _poison_sqlite(tmp_path / "old.db", bad_id)
    else:
        _poison_postgres(request.getfixturevalue("pg_dsn"), bad_id)
    m.close()

    m = Memory(store=factory(), embedder=EMB)  # a fresh process: nothing cached
    with caplog.at_level(logging.WARNING, logger="deltamem.timeutil"):
        assert _readable(m) == ["an ordinary fact", "an ancient fact"]  # the text is not lost
    assert m.get(bad_id, namespace=NS).timestamp == MIN_TIME  # clamped into the range...
    assert bad_id in caplog.text and "older version" in caplog.text  # ...and reported
    after = next(h.after for h in m.history(namespace=NS) if h.memory_id == bad_id)
    assert after is not None and after.timestamp == MIN_TIME
    reverted = m.revert(cs.id, namespace=NS)  # revert reads the bad row and its history and still works
    assert reverted.counts()["DELETE"] == 1 and _readable(m) == ["an ordinary fact"]
    m.revert(reverted.id, namespace=NS)  # undoing the revert writes the row back in the valid form
    m.update(bad_id, "an ancient fact, dated", namespace=NS, timestamp=datetime(2020, 1, 1, tzinfo=UTC))
    assert m.get(bad_id, namespace=NS).timestamp == datetime(2020, 1, 1, tzinfo=UTC)
    m.close()
