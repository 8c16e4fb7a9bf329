"""SQLite specifics: persistence, WAL, corrupt files, schema versions, cross-connection cache sync."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from deltamem.core import StoreError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.sqlite import SqliteStore

EMB = HashingEmbedder(dim=64)


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Memory(store=SqliteStore(path), embedder=EMB) as m:
        cs = m.add(["persisted fact"], user_id="u")
    with Memory(store=SqliteStore(path), embedder=EMB) as m:
        assert [e.text for e in m.get_all(user_id="u")] == ["persisted fact"]
        assert m.change_sets(user_id="u")[0].id == cs.id
        assert m.search("persisted", user_id="u")[0].entry.text == "persisted fact"
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_file_gives_store_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        SqliteStore(path)
    assert path.read_bytes() == b"this is not sqlite" * 100  # untouched


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    SqliteStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteStore(path)


def test_search_cache_follows_writes_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    reader = Memory(store=SqliteStore(path), embedder=EMB)
    writer = Memory(store=SqliteStore(path), embedder=EMB)
    mid = writer.add("Caroline lives in Boston", user_id="u").changes[0].memory_id
    assert reader.search("Boston", user_id="u", mode="vector")[0].entry.text == "Caroline lives in Boston"
    writer.update(mid, "Caroline lives in Seattle", user_id="u")
    writer.add("Rex is a dog", user_id="u")
    hits = reader.search("Caroline lives in Seattle", user_id="u", mode="vector", k=5)
    assert next(h.entry.text for h in hits) == "Caroline lives in Seattle"
    assert len(hits) == 2
    writer.reset(user_id="u")  # purge bumps the epoch: the reader must drop its whole cache
    assert reader.search("Seattle", user_id="u", mode="vector") == []
    writer.add("fresh start", user_id="u")
    assert [h.entry.text for h in reader.search("fresh", user_id="u", mode="vector")] == ["fresh start"]


def test_bad_synchronous_setting_is_a_config_error(tmp_path: Path) -> None:
    from deltamem.core import ConfigError

    with pytest.raises(ConfigError):
        SqliteStore(tmp_path / "m.db", synchronous="sometimes")
