"""Hypothesis fuzzing of import files (#19): every damaged file is refused with a clear error, the store unchanged.

Starting from a real export (adds, an update, deletes, a revert, metadata), each example damages the file one way:
a flipped bit anywhere; a field replaced by a malformed value; a record moved into another namespace; an invalid
date, replaced consistently everywhere it occurs; a duplicated line; memory records that disagree with the history.
Except for the bit flip, every damaged file is re-sealed with correct checksums, so that the validation behind the
checksums is what must refuse it. The targets already hold data, and their full dump must not change.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.export_files import full_dump, parse, records, sealed, v1

from deltamem.core import CorruptDataError, Delete, Update
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

EMB = HashingEmbedder(dim=64)
NS = "user:src"
VICTIM = "user:victim"
BAD_DATES = ["not a date", "2024-02-30T00:00:00.000000+00:00", "", "2024-01-01T25:00:00+00:00",
             "0999-12-31T00:00:00.000000+00:00", "10000-01-01T00:00:00.000000+00:00", "2024-01-01T00:00:00+99:00"]


def _source_export() -> str:
    with Memory(store=InMemoryStore(), embedder=EMB) as m:
        cs = m.add(["Caroline lives in Boston", "Caroline has a dog named Rex", "Caroline is a nurse"],
                   namespace=NS, session_id="s1", metadata={"topic": "life", "n": 1})
        boston, rex, nurse = (c.memory_id for c in cs.changes)
        m.apply([Update(id=boston, text="Caroline moved to Seattle")], namespace=NS, session_id="s2")
        gone = m.apply([Delete(id=rex)], namespace=NS)
        m.revert(gone.id, namespace=NS)
        m.apply([Delete(id=nurse)], namespace=NS)
        out = io.StringIO()
        m.export(out, namespace=NS)
        return out.getvalue()


SOURCE = _source_export()
_N = itertools.count()
LINES = parse(SOURCE)
HEADER, RECS = LINES[0], records(LINES)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[Memory, list[Any]]]]:
    """A SQLite and an in-memory store, each with data of its own (also in the namespace the file imports into)."""
    made = [Memory(store=SqliteStore(tmp_path_factory.mktemp("fuzz") / "t.db"), embedder=EMB),
            Memory(store=InMemoryStore(), embedder=EMB)]
    for m in made:
        m.add(["victim fact"], namespace=VICTIM)
        m.add(["already here"], namespace=NS)
    yield [(m, full_dump(m.store)) for m in made]
    for m in made:
        m.close()


def _copy(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(json.dumps(recs))
    return out


def _pick(draw: st.DrawFn, recs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return draw(st.sampled_from([r for r in recs if r["type"] == kind]))


# Per record type: a field path and values that are never valid there.
_BAD_FIELDS: dict[str, list[tuple[tuple[str, ...], list[Any]]]] = {
    "memory": [(("memory",), [None, 1, "x", []]), (("memory", "id"), [None, 1, ""]),
               (("memory", "text"), [None, 7, ["a"]]), (("memory", "timestamp"), [None, 5, "yesterday"]),
               (("memory", "metadata"), ["x", [1]]), (("vector",), ["!!", 3, None, "AAA"]),
               (("deleted_at",), ["never", 3]), (("type",), ["memorz", None])],
    "change_set": [(("id",), [None, ""]), (("ops",), ["x", {}]), (("counts",), [[], {"ADD": "x"}, {"FROB": 1}]),
                   (("created_at",), ["tuesday", None]), (("reverts",), ["ghost"]), (("type",), ["frob"])],
    "history": [(("kind",), ["MERGE", None]), (("before",), [1, "x", {"id": "a"}]),
                (("after",), [2, "y", {"text": "t"}]), (("memory_id",), ["another-id", ""]),
                (("change_set_id",), ["ghost"]), (("created_at",), ["soon"])],
}


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["flip", "field", "missing", "namespace", "date", "duplicate", "disagree"]))
    recs = _copy(RECS)
    header = dict(HEADER)
    if kind == "flip":
        data = bytearray(SOURCE.encode("utf-8"))
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] ^= 1 << draw(st.integers(0, 7))
        return kind, bytes(data)
    if kind in ("field", "missing"):
        rtype = draw(st.sampled_from(sorted(_BAD_FIELDS)))
        rec = _pick(draw, recs, rtype)
        path, values = draw(st.sampled_from(_BAD_FIELDS[rtype]))
        where = rec
        for key in path[:-1]:
            where = where[key]
        if kind == "missing":
            del where[path[-1]]
        else:
            where[path[-1]] = draw(st.sampled_from(values))
    elif kind == "namespace":
        rec = draw(st.sampled_from(recs))
        targets = [rec["memory"]] if rec["type"] == "memory" else [rec] + [
            rec[side] for side in ("before", "after") if rec.get(side)]
        draw(st.sampled_from(targets))["namespace"] = VICTIM
        if draw(st.booleans()):
            header["namespaces"] = [NS, VICTIM]
    elif kind == "date":
        stamps = sorted({v for v in json.dumps(recs).split('"') if v.startswith("20") and v.endswith("+00:00")})
        old, new = draw(st.sampled_from(stamps)), draw(st.sampled_from(BAD_DATES))
        recs = json.loads(json.dumps(recs).replace(f'"{old}"', json.dumps(new)))
    elif kind == "duplicate":
        rec = draw(st.sampled_from(recs))
        recs.insert(draw(st.integers(0, len(recs))), json.loads(json.dumps(rec)))
    else:
        how = draw(st.sampled_from(["edit", "toggle", "drop-history", "drop-memory", "swap"]))
        if how == "edit":
            mem = _pick(draw, recs, "memory")["memory"]
            field, value = draw(st.sampled_from([("text", "edited"), ("session_id", "s9"), ("keywords", ["k"]),
                                                 ("metadata", {"topic": "other"}), ("message_indices", [7])]))
            mem[field] = value
        elif how == "toggle":
            rec = _pick(draw, recs, "memory")
            rec["deleted_at"] = None if rec["deleted_at"] else rec["memory"]["updated_at"]
        elif how in ("drop-history", "drop-memory"):
            recs.remove(_pick(draw, recs, "history" if how == "drop-history" else "memory"))
        else:
            hist = [r for r in recs if r["type"] == "history"]
            by_memory = [[r for r in hist if r["memory_id"] == m] for m in {r["memory_id"] for r in hist}]
            pair = draw(st.sampled_from(sorted((g for g in by_memory if len(g) > 1), key=lambda g: g[0]["memory_id"])))
            i, j = recs.index(pair[0]), recs.index(pair[-1])
            recs[i], recs[j] = recs[j], recs[i]
    # a missing optional field (before: null) is only an error from v2 on: v1 readers defaulted it
    text = sealed(header, recs) if kind == "missing" or draw(st.booleans()) else v1(header, recs)
    return kind, text.encode("utf-8")


@pytest.mark.parametrize("version", [1, 2])
def test_the_undamaged_export_imports(tmp_path: Path, version: int) -> None:
    text = SOURCE if version == 2 else v1(HEADER, RECS)
    with Memory(store=SqliteStore(tmp_path / "fresh.db"), embedder=EMB) as m:
        m.add(["already here"], namespace=NS)
        assert m.import_(io.StringIO(text)) == len(RECS)
        assert len(m.get_all(namespace=NS)) == 3


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=True)
@given(case=damaged())
def test_every_damaged_file_is_refused_and_nothing_is_written(
        case: tuple[str, bytes], targets: list[tuple[Memory, list[Any]]], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    kind, data = case
    path = tmp_path_factory.getbasetemp() / f"damaged-{next(_N)}.jsonl"
    path.write_bytes(data)
    for memory, before in targets:
        with pytest.raises(CorruptDataError) as err:
            memory.import_(path)
        assert str(err.value).strip(), kind
        assert full_dump(memory.store) == before, kind
    path.unlink()
