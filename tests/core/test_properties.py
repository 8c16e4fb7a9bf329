"""Hypothesis properties of apply / invert, pure and through real stores."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deltamem.core import (
    Add,
    Delete,
    InvalidOperation,
    MemoryEntry,
    MemoryState,
    Noop,
    Operation,
    Update,
    apply,
    invert,
)
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
texts = st.text(alphabet="abcdefgh ijklmnop", min_size=1, max_size=30).filter(lambda s: s.strip())


@st.composite
def states(draw: st.DrawFn) -> MemoryState:
    n = draw(st.integers(0, 8))
    return MemoryState.of("u", [
        MemoryEntry(id=f"m{i}", namespace="u", text=draw(texts), timestamp=T0, created_at=T0, updated_at=T0)
        for i in range(n)
    ])


@st.composite
def valid_ops(draw: st.DrawFn, state: MemoryState) -> list[Operation]:
    ids = list(state)
    touched = draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
    ops: list[Operation] = []
    for mid in touched:
        ops.append(draw(st.sampled_from([Update(id=mid, text=draw(texts)), Delete(id=mid)])))
    ops += [Add(text=draw(texts)) for _ in range(draw(st.integers(0, 4)))]
    if draw(st.booleans()):
        ops.append(Noop())
    return draw(st.permutations(ops))


@given(data=st.data())
def test_apply_then_invert_restores_state(data: st.DataObject) -> None:
    state = data.draw(states())
    ops = data.draw(valid_ops(state))
    cs = apply(state, ops)
    assert invert(cs, cs.state).state == state if cs.changes else cs.state == state


@given(data=st.data())
def test_invalid_op_anywhere_leaves_state_unchanged(data: st.DataObject) -> None:
    state = data.draw(states())
    ops = data.draw(valid_ops(state))
    bad = data.draw(st.sampled_from([Delete(id="ghost"), Update(id="ghost", text="x"), Add(text=" ")]))
    ops.insert(data.draw(st.integers(0, len(ops))), bad)
    snapshot = dict(state)
    with pytest.raises(InvalidOperation):
        apply(state, ops)
    assert dict(state) == snapshot


def _memories(tmp_path_factory: pytest.TempPathFactory) -> list[Memory]:
    emb = HashingEmbedder(dim=32)
    path = tmp_path_factory.mktemp("prop") / "m.db"
    return [Memory(store=InMemoryStore(), embedder=emb), Memory(store=SqliteStore(path), embedder=emb)]


def _seed(m: Memory, ns: str, state: MemoryState) -> dict[str, str]:
    """Add the state's texts through the facade; returns drawn-id → stored-id."""
    cs = m.apply([Add(text=e.text) for e in state.values()], namespace=ns)
    return {old: c.memory_id for old, c in zip(state, cs.changes, strict=True)}


def _remap(ops: list[Operation], ids: dict[str, str]) -> list[Operation]:
    out: list[Operation] = []
    for op in ops:
        if isinstance(op, Update):
            out.append(Update(id=ids[op.id], text=op.text))
        elif isinstance(op, Delete):
            out.append(Delete(id=ids[op.id]))
        else:
            out.append(op)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_store_revert_restores_state_and_export_import_is_identity(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for m in _memories(tmp_path_factory):
        ns = "user:p"
        state = data.draw(states())
        ids = _seed(m, ns, state)
        before = m.state(namespace=ns)
        cs = m.apply(_remap(data.draw(valid_ops(state)), ids), namespace=ns)
        if cs.changes:
            m.revert(cs.id, namespace=ns)
        assert m.state(namespace=ns) == before

        out = io.StringIO()
        n = m.export(out, namespace=ns)
        fresh = Memory(store=InMemoryStore(), embedder=m.embedder)
        assert fresh.import_(io.StringIO(out.getvalue())) == n
        again = io.StringIO()
        fresh.export(again, namespace=ns)
        # the header holds exported_at, and the footer's file digest covers the header
        assert again.getvalue().splitlines()[1:-1] == out.getvalue().splitlines()[1:-1]
        assert fresh.state(namespace=ns) == m.state(namespace=ns)
        def hist(mem: Memory, ns: str = ns) -> list[tuple[object, ...]]:  # seq is store-local; the order is not
            return [(h.change_set_id, h.memory_id, h.kind, h.before, h.after, h.session_id, h.actor, h.created_at)
                    for h in mem.history(namespace=ns)]

        assert hist(fresh) == hist(m)
        assert [(c.id, c.reverts, c.reverted_by, dict(c.counts)) for c in fresh.change_sets(namespace=ns)] == [
            (c.id, c.reverts, c.reverted_by, dict(c.counts)) for c in m.change_sets(namespace=ns)]
        m.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_store_never_half_applies(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    for m in _memories(tmp_path_factory):
        ns = "user:p"
        state = data.draw(states())
        ids = _seed(m, ns, state)
        before, hist_before = m.state(namespace=ns), m.history(namespace=ns)
        ops = _remap(data.draw(valid_ops(state)), ids)
        ops.insert(data.draw(st.integers(0, len(ops))), Delete(id="ghost"))
        with pytest.raises(InvalidOperation):
            m.apply(ops, namespace=ns)
        assert m.state(namespace=ns) == before
        assert m.history(namespace=ns) == hist_before
        m.close()
