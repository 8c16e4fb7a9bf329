"""The Memory facade over every store: writes, revert, isolation, export / import and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from deltamem import AsyncMemory, Memory
from deltamem.core import (
    Add,
    ConfigError,
    ConflictError,
    CorruptDataError,
    EmbeddingDimensionError,
    InvalidOperation,
    NotFoundError,
    Update,
)
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.memory import InMemoryStore


def test_add_search_update_revert_cycle(memory: Memory) -> None:
    cs = memory.add(["Caroline lives in Boston", "Caroline is a nurse"], user_id="caro", session_id="s1")
    boston = cs.changes[0].memory_id
    upd = memory.update(boston, "Caroline moved to Seattle", user_id="caro")
    assert memory.search("Seattle", user_id="caro", k=1)[0].entry.text == "Caroline moved to Seattle"
    assert memory.get(boston, user_id="caro").text == "Caroline moved to Seattle"
    back = memory.revert(upd.id, user_id="caro")
    assert back.reverts == upd.id
    assert memory.get(boston, user_id="caro").text == "Caroline lives in Boston"
    with pytest.raises(ConflictError, match="already reverted"):
        memory.revert(upd.id, user_id="caro")
    assert [h.kind for h in memory.history(boston, user_id="caro")] == ["ADD", "UPDATE", "UPDATE"]


def test_revert_refuses_when_later_change_touched_same_memory(memory: Memory) -> None:
    mid = memory.add("Rex is a puppy", user_id="u").changes[0].memory_id
    first = memory.update(mid, "Rex is one year old", user_id="u")
    memory.update(mid, "Rex is two years old", user_id="u")
    with pytest.raises(ConflictError, match="later change sets"):
        memory.revert(first.id, user_id="u")
    assert memory.get(mid, user_id="u").text == "Rex is two years old"
    memory.revert(first.id, user_id="u", force=True)
    assert memory.get(mid, user_id="u").text == "Rex is a puppy"


def test_delete_is_non_destructive_and_delete_all_is_revertable(memory: Memory) -> None:
    ids = [c.memory_id for c in memory.add(["a fact", "b fact", "c fact"], user_id="u").changes]
    memory.delete(ids[0], user_id="u")
    with pytest.raises(NotFoundError):
        memory.get(ids[0], user_id="u")
    assert memory.history(ids[0], user_id="u")[-1].kind == "DELETE"
    wipe = memory.delete_all(user_id="u")
    assert wipe.counts()["DELETE"] == 2 and memory.get_all(user_id="u") == []
    memory.revert(wipe.id, user_id="u")
    assert sorted(e.text for e in memory.get_all(user_id="u")) == ["b fact", "c fact"]


def test_reset_erases_only_its_namespace(memory: Memory) -> None:
    memory.add("mine", user_id="a")
    memory.add("theirs", user_id="b")
    assert memory.reset(user_id="a") > 0
    assert memory.get_all(user_id="a") == [] and memory.history(user_id="a") == []
    assert [e.text for e in memory.get_all(user_id="b")] == ["theirs"]


def test_no_api_path_crosses_namespaces(memory: Memory) -> None:
    a = memory.add(["Alice's bank PIN is 1234", "Alice lives in Oslo"], user_id="alice")
    memory.add("Bob likes jazz", user_id="bob")
    a_id = a.changes[0].memory_id
    assert all(h.entry.namespace == "user:bob" for h in memory.search("Alice PIN Oslo", user_id="bob", k=10))
    assert [e.text for e in memory.get_all(user_id="bob")] == ["Bob likes jazz"]
    with pytest.raises(NotFoundError):
        memory.get(a_id, user_id="bob")
    with pytest.raises(NotFoundError, match="unknown or deleted"):
        memory.update(a_id, "hacked", user_id="bob")
    with pytest.raises(NotFoundError, match="unknown or deleted"):
        memory.delete(a_id, user_id="bob")
    with pytest.raises(NotFoundError):
        memory.revert(a.id, user_id="bob")
    assert memory.history(a_id, user_id="bob") == []
    assert memory.change_sets(user_id="bob")[0].id != a.id
    memory.delete_all(user_id="bob")
    out = io.StringIO()
    memory.export(out, user_id="bob")
    assert "Alice" not in out.getvalue()
    assert len(memory.get_all(user_id="alice")) == 2
    assert memory.get(a_id, user_id="alice").text == "Alice's bank PIN is 1234"


@pytest.mark.parametrize("kwargs", [{}, {"user_id": "a", "namespace": "x"}, {"user_id": "a b"}, {"namespace": " "}])
def test_scope_is_required_and_validated(memory: Memory, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        memory.get_all(**kwargs)


def test_agent_and_user_scopes_are_distinct(memory: Memory) -> None:
    memory.add("user fact", user_id="x")
    memory.add("agent fact", agent_id="x")
    memory.add("pair fact", user_id="x", agent_id="x")
    assert [e.text for e in memory.get_all(agent_id="x")] == ["agent fact"]
    assert [e.text for e in memory.get_all(user_id="x", agent_id="x")] == ["pair fact"]


def test_add_accepts_op_dicts_and_rejects_conversations(memory: Memory) -> None:
    cs = memory.add([{"op": "ADD", "text": "from a dict", "keywords": ["dict"]}], user_id="u")
    assert memory.get(cs.changes[0].memory_id, user_id="u").keywords == ("dict",)
    with pytest.raises(ConfigError, match="conversation"):
        memory.add([{"role": "user", "content": "hi"}], user_id="u")
    with pytest.raises(InvalidOperation):
        memory.add([{"op": "UPDATE", "text": "no id"}], user_id="u")


def _export(memory: Memory) -> str:
    memory.add(["one fact", "two fact"], user_id="u")
    out = io.StringIO()
    memory.export(out, user_id="u")
    return out.getvalue()


def _fresh(dim: int = 64) -> Memory:
    return Memory(store=InMemoryStore(), embedder=HashingEmbedder(dim=dim))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda lines: [*lines[:2], "{not json", *lines[3:]], "malformed record"),
        (lambda lines: lines[:-1], "truncated"),
        (lambda lines: lines[:3], "truncated"),
        (lambda lines: [lines[0].replace('"schema_version": 2', '"schema_version": 99'), *lines[1:]],
         "schema version 99"),
        (lambda lines: ['{"hello": 1}', *lines[1:]], "not a deltamem export header"),
        (lambda lines: [], "empty file"),
        (lambda lines: [*lines[:1], lines[1].replace('"vector": "', '"vector": "!!'), *lines[2:]], "malformed"),
        (lambda lines: [*lines[:1], json.dumps({**json.loads(lines[1]), "memory": {"id": "x"}}), *lines[2:]],
         "lacks"),
    ],
)
def test_bad_import_gives_clear_error_and_writes_nothing(memory: Memory, mangle: object, message: str) -> None:
    lines = _export(memory).splitlines()
    target = _fresh()
    target.add("pre-existing", user_id="u")
    before = target.state(user_id="u")
    with pytest.raises(CorruptDataError, match=message):
        target.import_(io.StringIO("\n".join(mangle(lines)) + "\n"))  # type: ignore[operator]
    assert target.state(user_id="u") == before
    assert len(target.history(user_id="u")) == 1


def test_import_with_wrong_dimension_is_refused(memory: Memory) -> None:
    text = _export(memory)
    target = _fresh(dim=32)
    with pytest.raises(EmbeddingDimensionError, match="64-d"):
        target.import_(io.StringIO(text))
    assert target.store.namespaces() == []


def test_memory_refuses_embedder_of_other_dimension(memory: Memory) -> None:
    memory.add("x", user_id="u")
    with pytest.raises(EmbeddingDimensionError, match="64-d"):
        Memory(store=memory.store, embedder=HashingEmbedder(dim=32))


def test_export_to_file_is_atomic(memory: Memory, tmp_path: Path) -> None:
    memory.add("fact", user_id="u")
    path = tmp_path / "out.jsonl"
    n = memory.export(path, user_id="u")
    assert n == 3 and not (tmp_path / "out.jsonl.part").exists()
    footer = json.loads(path.read_text().splitlines()[-1])
    assert footer["type"] == "footer" and footer["records"] == 3 and len(footer["sha256"]) == 64


def test_all_namespaces_export(memory: Memory) -> None:
    memory.add("a", user_id="a")
    memory.add("b", user_id="b")
    out = io.StringIO()
    memory.export(out, all_namespaces=True)
    target = _fresh()
    target.import_(io.StringIO(out.getvalue()))
    assert [e.text for e in target.get_all(user_id="b")] == ["b"]


def test_explicit_ops_and_concurrent_style_conflict_retry(memory: Memory) -> None:
    mid = memory.add("v1", user_id="u").changes[0].memory_id
    cs = memory.apply([Update(id=mid, text="v2"), Add(text="other")], namespace="user:u")
    assert cs.counts() == {"ADD": 1, "UPDATE": 1, "DELETE": 0}


def test_async_twin_delegates(memory: Memory) -> None:
    import asyncio

    async def run() -> list[str]:
        am = AsyncMemory(memory)
        await am.add(["async fact"], user_id="u")
        hits = await am.search("async", user_id="u")
        return [h.entry.text for h in hits]

    assert asyncio.run(run()) == ["async fact"]


@pytest.mark.parametrize(("limit", "offset"), [(None, -1), (-5, 0), (10, 2**70), (2**64, 0)])
def test_bad_pagination_is_a_clear_error(memory: Memory, limit: int | None, offset: int) -> None:
    with pytest.raises(ConfigError, match="limit and offset"):
        memory.get_all(user_id="u", limit=limit, offset=offset)
