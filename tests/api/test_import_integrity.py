"""Import integrity and the namespace invariant through the Python API, on every store (findings 1 and 7 of #19).

1. A file whose history records carry entries of another namespace is refused, so no revert can later write them
   into that namespace; a store already holding such history refuses the revert.
7. Memory records that disagree with the history, a byte changed inside valid JSON and a duplicated line are all
   refused with a clear error; the database is unchanged each time. Change-set ids are unique per namespace, so an
   import never learns whether an id exists in another namespace.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.export_files import full_dump, parse, records, sealed, v1

from deltamem.core import Change, ChangeSet, CorruptDataError, MemoryState, NamespaceError, to_iso
from deltamem.core.codec import entry_to_dict
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.archive import SCHEMA_VERSION
from deltamem.stores.base import ArchiveStore
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

EMB = HashingEmbedder(dim=64)
VICTIM = "user:victim"
MALLORY = "user:mallory"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    store: ArchiveStore
    if request.param == "memory":
        store = InMemoryStore()
    elif request.param == "sqlite":
        store = SqliteStore(tmp_path / "m.db")
    else:
        from deltamem.stores.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("pg_dsn"))
    with Memory(store=store, embedder=EMB) as m:
        yield m


def export_of(m: Memory, ns: str) -> str:
    out = io.StringIO()
    m.export(out, namespace=ns)
    return out.getvalue()


def seed(m: Memory) -> str:
    """The victim's memory (its id) and some history of its own in mallory's namespace."""
    mid = m.add("victim's own fact", namespace=VICTIM).changes[0].memory_id
    m.add(["mallory fact one", "mallory fact two"], namespace=MALLORY)
    return mid


def forged_delete(m: Memory, victim_mid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Mallory's file: a change set of mallory's namespace whose history 'deletes' the victim's memory, with a
    planted text as its before-entry. Reverting it would ADD that entry, in the victim's namespace."""
    victim = m.get(victim_mid, namespace=VICTIM)
    header = parse(export_of(m, MALLORY))[0]
    cs = {"type": "change_set", "id": "forged-cs", "namespace": MALLORY, "created_at": to_iso(victim.created_at),
          "session_id": None, "actor": "user", "ops": [], "counts": {"ADD": 0, "UPDATE": 0, "DELETE": 1},
          "reverts": None, "reverted_by": None, "note": ""}
    hist = {"type": "history", "change_set_id": "forged-cs", "namespace": MALLORY, "memory_id": victim_mid,
            "kind": "DELETE", "before": entry_to_dict(victim.evolve(text="planted by mallory")), "after": None,
            "session_id": None, "actor": "user", "created_at": to_iso(victim.created_at)}
    return header, [cs, hist]


@pytest.mark.parametrize("version", [1, 2])
def test_history_with_entries_of_another_namespace_is_refused(memory: Memory, version: int) -> None:
    mid = seed(memory)
    header, recs = forged_delete(memory, mid)
    before = full_dump(memory.store)
    text = v1(header, recs) if version == 1 else sealed(header, recs)
    with pytest.raises(CorruptDataError, match=r"namespace 'user:victim'.*'user:mallory'"):
        memory.import_(io.StringIO(text))
    assert full_dump(memory.store) == before
    assert memory.get(mid, namespace=VICTIM).text == "victim's own fact"


def test_store_load_refuses_foreign_entries_too(memory: Memory) -> None:
    """Defence in depth: the store's own load checks the invariant, whoever calls it."""
    from deltamem.stores.archive import line_to_record

    mid = seed(memory)
    _, recs = forged_delete(memory, mid)
    before = full_dump(memory.store)
    with pytest.raises(NamespaceError):
        memory.store.load([line_to_record(r, seq=i) for i, r in enumerate(recs, start=1)])
    assert full_dump(memory.store) == before


def test_commit_of_a_change_set_reaching_another_namespace_is_refused(memory: Memory) -> None:
    mid = seed(memory)
    victim = memory.get(mid, namespace=VICTIM)
    planted = victim.evolve(text="planted")
    forged = ChangeSet(id="forged", namespace=MALLORY, ops=(), changes=(Change("ADD", mid, None, planted),),
                       state=MemoryState(MALLORY), created_at=victim.created_at)
    before = full_dump(memory.store)
    with pytest.raises(NamespaceError, match="'user:victim'"):
        memory.store.commit(forged, {mid: EMB.embed(["planted"])[0]})
    assert full_dump(memory.store) == before


def test_memory_records_must_match_the_history(memory: Memory) -> None:
    memory.add(["one fact", "two fact"], namespace=MALLORY)
    lines = parse(export_of(memory, MALLORY))
    recs = records(lines)
    mem = next(r for r in recs if r["type"] == "memory")
    mem["memory"]["text"] = "a fact no change set ever wrote"
    target = Memory(store=InMemoryStore(), embedder=EMB)
    target.add("pre-existing", namespace="user:other")
    before = full_dump(target.store)
    for text in (sealed(lines[0], recs), v1(lines[0], recs)):
        with pytest.raises(CorruptDataError, match="disagrees with its history"):
            target.import_(io.StringIO(text))
        assert full_dump(target.store) == before


def test_a_flipped_byte_inside_valid_json_is_refused(memory: Memory) -> None:
    memory.add(["one fact", "two fact"], namespace=MALLORY)
    text = export_of(memory, MALLORY)
    assert parse(text)[0]["schema_version"] == SCHEMA_VERSION == 2
    flipped = text.replace("two fact", "twp fact")  # in every record that holds it: valid JSON, consistent
    assert flipped != text
    target = Memory(store=InMemoryStore(), embedder=EMB)
    with pytest.raises(CorruptDataError, match="checksum"):
        target.import_(io.StringIO(flipped))
    assert target.store.namespaces() == []


def test_a_swapped_pair_of_lines_is_refused(memory: Memory) -> None:
    memory.add(["one fact", "two fact"], namespace=MALLORY)
    lines = export_of(memory, MALLORY).splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    with pytest.raises(CorruptDataError, match="reordered"):
        Memory(store=InMemoryStore(), embedder=EMB).import_(io.StringIO("\n".join(lines) + "\n"))


@pytest.mark.parametrize("kind", ["change_set", "memory", "history"])
def test_a_duplicated_line_is_a_clear_error(memory: Memory, kind: str) -> None:
    memory.add(["one fact", "two fact"], namespace=MALLORY)
    lines = parse(export_of(memory, MALLORY))
    recs = records(lines)
    dup = next(r for r in recs if r["type"] == kind)
    recs.insert(recs.index(dup) + 1, json.loads(json.dumps(dup)))
    target = Memory(store=SqliteStore(":memory:"), embedder=EMB)
    for text in (sealed(lines[0], recs), v1(lines[0], recs)):
        with pytest.raises(CorruptDataError, match=r"twice|disagree"):
            target.import_(io.StringIO(text))
        assert target.store.namespaces() == []


def test_change_set_ids_are_unique_per_namespace_only(memory: Memory) -> None:
    """Importing a change-set id that another namespace holds behaves exactly as importing a fresh one, so an import
    cannot probe other namespaces for ids; within one namespace the id clashes (409 on the server)."""
    memory.add(["victim fact"], namespace=VICTIM)
    lines = parse(export_of(memory, VICTIM))
    renamed = json.loads(json.dumps(records(lines)).replace(VICTIM, MALLORY))
    before = full_dump(memory.store)
    text = sealed({**lines[0], "namespaces": [MALLORY]}, renamed)
    assert memory.import_(io.StringIO(text)) == len(renamed)
    assert [r for r in full_dump(memory.store) if r[0] == VICTIM] == before  # the victim's records are untouched
    assert [c.id for c in memory.change_sets(namespace=MALLORY)] == [c.id for c in memory.change_sets(
        namespace=VICTIM)]
    back = memory.revert(memory.change_sets(namespace=MALLORY)[0].id, namespace=MALLORY)
    assert memory.get_all(namespace=MALLORY) == [] and back.namespace == MALLORY
    assert [e.text for e in memory.get_all(namespace=VICTIM)] == ["victim fact"]
    assert memory.change_sets(namespace=VICTIM)[0].reverted_by is None


def test_a_store_poisoned_before_the_fix_refuses_the_revert(tmp_path: Path) -> None:
    """History forged into a SQLite store by an import of an earlier version: the revert is refused, not applied."""
    import sqlite3

    from deltamem.core.codec import entry_from_dict
    from deltamem.stores.sql.rows import CS_COLS, HIST_COLS, entry_json
    from deltamem.stores.sqlite_schema import SqliteValues

    with Memory(store=SqliteStore(tmp_path / "old.db"), embedder=EMB) as m:
        mid = seed(m)
        _, (cs, hist) = forged_delete(m, mid)
    con = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    con.execute(f"INSERT INTO change_sets ({CS_COLS}) VALUES (?, ?, ?, NULL, 'user', '[]', ?, NULL, NULL, '')",
                (cs["id"], MALLORY, cs["created_at"], json.dumps(cs["counts"])))
    con.execute(f"INSERT INTO history ({HIST_COLS[5:]}) VALUES (?, ?, ?, 'DELETE', ?, NULL, NULL, 'user', ?)",
                (cs["id"], MALLORY, mid, entry_json(SqliteValues(), entry_from_dict(hist["before"])),
                 hist["created_at"]))
    con.close()
    with Memory(store=SqliteStore(tmp_path / "old.db"), embedder=EMB) as m:
        before = full_dump(m.store)
        with pytest.raises(NamespaceError, match="'user:victim'"):
            m.revert("forged-cs", namespace=MALLORY, force=True)
        assert full_dump(m.store) == before
        assert m.get(mid, namespace=VICTIM).text == "victim's own fact"


def _nested(depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(depth):
        out = {"a": out}
    return out


POISON = {  # values that a store would take, and that would then break reads of the namespace
    "entry session_id not a string": lambda t: t.replace('"session_id": "s1"', '"session_id": [1]'),
    "change-set ops that are not ops": lambda t: t.replace('"ops": [{"op": "ADD", "text": "one"}]', '"ops": [5]'),
    "metadata nested too deeply": lambda t: t.replace('"metadata": {}', '"metadata": ' + json.dumps(_nested(200))),
    "an empty before entry": lambda t: t.replace('"before": null', '"before": {}'),
}


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
def test_records_that_would_poison_reads_are_refused(memory: Memory, poison: Any) -> None:
    memory.add("one", namespace=MALLORY, session_id="s1")
    lines = parse(export_of(memory, MALLORY))
    recs = json.loads(poison(json.dumps(records(lines))))
    assert recs != records(lines)
    target = Memory(store=SqliteStore(":memory:"), embedder=EMB)
    with pytest.raises(CorruptDataError):
        target.import_(io.StringIO(sealed(lines[0], recs)))
    assert target.store.namespaces() == []


def test_a_line_nested_thousands_deep_is_a_clear_error(memory: Memory) -> None:
    memory.add("one", namespace=MALLORY)
    lines = export_of(memory, MALLORY).splitlines()
    text = "\n".join([lines[0], "[" * 100_000 + "]" * 100_000, *lines[1:]]) + "\n"
    with pytest.raises(CorruptDataError, match="nested too deeply"):
        Memory(store=InMemoryStore(), embedder=EMB).import_(io.StringIO(text))
