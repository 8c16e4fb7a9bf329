"""Two tenants, every write path, adversarial inputs: a hypothesis state machine (the acceptance test of #19).

Each step, one tenant writes through the Python API or the REST API (the same Memory and store underneath):
explicit ops and single updates / deletes (unknown ids, the other tenant's ids, bad times, oversize or deep
metadata, odd Unicode, extra fields), agent sessions (a scripted model that updates and deletes what it was shown,
names ids it was not, writes fields it may not set, or answers junk; sessions also run as server jobs), imports
(valid exports of the tenant's own namespaces, files forged to carry the other tenant's namespace in history entries
or records, and corrupted ones), reverts of any change set (own, the other tenant's, unknown), review approve / edit /
reject of held change sets (own or the other tenant's), and delete-all / reset. After every step:

- nothing outside the step's scope changed (the acting namespace; for an import, the acting tenant's namespaces):
  the other tenant's memories, history, change sets and review items are exactly as before, and a step that failed
  (a DeltamemError, an HTTP 4xx, a failed job) changed nothing at all;
- every namespace's live state equals the replay of its own history (:func:`tenant_world.replay_matches`).

Anything else than DeltamemError / 4xx (a 5xx, a raw exception, a job's InternalError) fails the test. The same
machine runs on SQLite and, marked ``integration``, on PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tests.security.adversarial import (
    DATE,
    GOOD_TEXT,
    ID_SOURCE,
    LABEL,
    MESSAGES,
    MODEL_OP,
    OP_SPEC,
    TEXT,
    VIA,
    WHERE,
    WHO,
)
from tests.security.tenant_world import (
    IMPORTS,
    JUNK,
    VALID_IMPORTS,
    Tenant,
    World,
    doctor,
    iter_spaces,
    replay_matches,
    snapshot,
    victim_lines,
)

from deltamem.core import Add, Delete, Update
from deltamem.stores.base import ArchiveStore
from deltamem.stores.retry import Backoff
from deltamem.stores.sqlite import SqliteStore


class TenantMachine(RuleBasedStateMachine):
    """The machine; ``world`` is set by the test that runs it."""

    world: World

    def __init__(self) -> None:
        super().__init__()
        self.tenants = self.world.tenants()

    def teardown(self) -> None:
        self.world.clear()

    # -- the step and its invariant ------------------------------------------------------------------------------
    def step(self, me: Tenant, scope: str | None, act: Callable[[], bool]) -> None:
        """Run ``act`` for tenant ``me`` (True: it wrote, or may have; False: it failed as expected) and check that
        nothing outside ``scope`` changed (a namespace; None: any of ``me``'s), and nothing at all when it failed."""
        known = list(iter_spaces(self.tenants))
        before = snapshot(self.world, known)
        ok = act()
        after = snapshot(self.world, known)
        for ns in sorted(set(before) | set(after)):
            inside = me.owns(ns) if scope is None else ns == scope
            if not ok or not inside:
                assert before.get(ns) == after.get(ns), (
                    f"a {'failed ' if not ok else ''}step of tenant {me.name} (scope: {scope or me.prefix + '*'}) "
                    f"changed namespace {ns}")

    @invariant()
    def every_namespace_replays_its_history(self) -> None:
        for ns in sorted({*self.world.store.namespaces(), *iter_spaces(self.tenants)}):
            replay_matches(self.world.store, ns)

    def pair(self, who: int, where: int) -> tuple[Tenant, Tenant, str]:
        me, other = self.tenants[who], self.tenants[1 - who]
        return me, other, me.spaces[where % len(me.spaces)]

    def some_id(self, source: str, ns: str, other: Tenant, pick: int) -> str:
        ids = {"own": self.world.live_ids(ns), "dead": self.world.dead_ids(ns),
               "foreign": self.world.live_ids(other.spaces[0]), "unknown": ["no-such-memory"]}.get(source, [source])
        return ids[pick % len(ids)] if ids else "no-such-memory"

    # -- explicit writes ------------------------------------------------------------------------------------------
    def op_dict(self, spec: dict[str, Any], ns: str, other: Tenant, pick: int) -> dict[str, Any]:
        op: dict[str, Any] = {"op": spec["kind"]}
        if spec["kind"] in ("ADD", "UPDATE", "BOGUS"):
            op.update(text=spec["text"], timestamp=spec["timestamp"], metadata=spec["metadata"])
        if spec["kind"] not in ("ADD", "NOOP") or spec["explicit_id"]:
            op["id"] = self.some_id(spec["id"], ns, other, pick)
        extras = {k: (other.spaces[0] if v == "OTHER" else v) for k, v in spec["extras"].items()}
        return {k: v for k, v in {**op, **extras}.items() if v is not None}

    @rule(who=WHO, via=VIA, where=WHERE, specs=st.lists(OP_SPEC, min_size=1, max_size=3),
          objects=st.booleans(), session=LABEL, pick=st.integers(0, 1000))
    def explicit_ops(self, who: int, via: str, where: int, specs: list[dict[str, Any]], objects: bool,
                     session: str | None, pick: int) -> None:
        me, other, ns = self.pair(who, where)

        def act() -> bool:
            ops = [self.op_dict(s, ns, other, pick + i) for i, s in enumerate(specs)]
            if via == "py":
                data: list[Any] = [as_object(o) for o in ops] if objects else ops
                return self.world.py(lambda: self.world.memory.add(data, namespace=ns, session_id=session))[0]
            body = {"ops": ops, **({"session_id": session} if session is not None else {})}
            r = self.world.rest(me, "POST", "/v1/memories", params=me.params(ns), body=body)
            return r.status_code == 201

        self.step(me, ns, act)

    @initialize(facts=st.lists(st.lists(GOOD_TEXT, min_size=1, max_size=6, unique=True), min_size=2, max_size=2))
    def seed(self, facts: list[list[str]]) -> None:
        for tenant, texts in zip(self.tenants, facts, strict=True):
            self.world.memory.add(texts, namespace=tenant.spaces[0])

    @rule(who=WHO, via=VIA, where=WHERE, what=st.sampled_from(["update"] * 4 + ["delete"] * 3 + ["all", "reset"]),
          source=ID_SOURCE, text=TEXT, when=DATE, pick=st.integers(0, 1000))
    def one_or_all(self, who: int, via: str, where: int, what: str, source: str, text: str, when: Any,
                   pick: int) -> None:
        """Update or delete one memory, or all of them (delete-all, reset)."""
        me, other, ns = self.pair(who, where)
        mid = self.some_id(source, ns, other, pick)
        mem = self.world.memory
        if mid in (".", ".."):
            return  # a dot segment: the client resolves it to another route, it names no memory
        url = f"/v1/memories/{quote(mid, safe='')}"
        py: dict[str, Callable[[], Any]] = {
            "update": lambda: mem.update(mid, text, namespace=ns, timestamp=when),
            "delete": lambda: mem.delete(mid, namespace=ns),
            "all": lambda: mem.delete_all(namespace=ns), "reset": lambda: mem.reset(namespace=ns)}
        rest: dict[str, tuple[str, str, Any]] = {
            "update": ("PUT", url, {"text": text, "timestamp": when}), "delete": ("DELETE", url, None),
            "all": ("DELETE", "/v1/memories", None), "reset": ("POST", "/v1/reset", {"confirm": True})}

        def act() -> bool:
            if via == "py":
                return self.world.py(py[what])[0]
            method, path, body = rest[what]
            return self.world.rest(me, method, path, params=me.params(ns), body=body).status_code == 200

        self.step(me, ns, act)

    # -- the agent --------------------------------------------------------------------------------------------------
    @rule(who=WHO, via=VIA, where=WHERE, messages=MESSAGES, date=DATE,
          mode=st.sampled_from(["ops"] * 5 + ["wipe"] * 2 + ["junk", "junk_once", "search"]),
          ops=st.lists(MODEL_OP, min_size=1, max_size=5), junk=st.sampled_from(JUNK), query=TEXT, session=LABEL,
          pick=st.integers(0, 1000))
    def agent_session(self, who: int, via: str, where: int, messages: list[tuple[str, str, Any]], date: Any,
                      mode: str, ops: list[Any], junk: str, query: str, session: str | None, pick: int) -> None:
        me, other, ns = self.pair(who, where)
        said = next((t for _, t, _ in messages if t.strip()), "nothing")
        foreign = self.some_id("foreign", ns, other, pick)
        own = self.some_id("own", ns, other, pick)

        def fill(value: Any) -> Any:
            return {"SESSION": said, "FOREIGN": foreign, "OWN": own, "OTHER": other.spaces[0]}.get(value, value) \
                if isinstance(value, str) else value

        model_ops = [(k, fill(t), fill(x), {n: fill(v) for n, v in extra.items()}) for k, t, x, extra in ops]
        self.world.plan.follow(mode, model_ops, junk=junk, query=query or "x")
        msgs = [{"speaker": s, "text": t, **({"time": w} if w is not None else {})} for s, t, w in messages]

        def act() -> bool:
            if via == "py":
                return self.world.py(lambda: self.world.memory.add(msgs, namespace=ns, session_date=date,
                                                                   session_id=session))[0]
            body = {"messages": msgs, **({"session_date": date} if date is not None else {}),
                    **({"session_id": session} if session is not None else {})}
            r = self.world.rest(me, "POST", "/v1/sessions", params=me.params(ns), body=body)
            return r.status_code == 202 and self.world.wait_job(me, r.json()["job_id"])["status"] == "done"

        self.step(me, ns, act)

    # -- import -------------------------------------------------------------------------------------------------
    @rule(who=WHO, via=VIA, where=WHERE, kind=st.sampled_from(IMPORTS), pick=st.integers(0, 1000))
    def import_file(self, who: int, via: str, where: int, kind: str, pick: int) -> None:
        me, other, ns = self.pair(who, where)
        new = f"{me.prefix}import{len(me.spaces)}"
        if via == "rest":
            r = self.world.rest(me, "GET", "/v1/export", params=me.params(ns))
            assert r.status_code == 200, r.text
            text = r.text
        else:
            text = self.world.export_text(ns)
        victim = other.spaces[0]
        body = doctor(kind, text, new=new, victim_ns=victim, victim=victim_lines(self.world, victim), pick=pick)
        if kind in ("foreign_records", "mixed"):
            via = "rest"  # the Python API has no tenants: only the server can tell whose namespace a record is in

        def act() -> bool:
            if via == "py":
                ok, err = self.world.py(lambda: self.world.memory.import_(io.StringIO(body)))
            else:
                r = self.world.rest(me, "POST", "/v1/import", raw=body.encode("utf-8"))
                ok, err = r.status_code == 200, r.text
            assert ok or kind not in VALID_IMPORTS, f"a valid import was refused: {err}"
            return ok

        self.step(me, None, act)
        if kind in VALID_IMPORTS:
            me.spaces.append(new)

    # -- revert -------------------------------------------------------------------------------------------------
    @rule(who=WHO, via=VIA, where=WHERE, source=st.sampled_from(["own", "own", "foreign", "sibling", "unknown"]),
          force=st.booleans(), pick=st.integers(0, 1000))
    def revert(self, who: int, via: str, where: int, source: str, force: bool, pick: int) -> None:
        me, other, ns = self.pair(who, where)
        space = {"own": ns, "foreign": other.spaces[pick % len(other.spaces)],
                 "sibling": me.spaces[(where + 1) % len(me.spaces)]}.get(source)
        ids = self.world.change_set_ids(space) if space else []
        cs_id = ids[pick % len(ids)] if ids else "no-such-change-set"

        def act() -> bool:
            if via == "py":
                return self.world.py(lambda: self.world.memory.revert(cs_id, namespace=ns, force=force))[0]
            r = self.world.rest(me, "POST", f"/v1/change-sets/{cs_id}/revert", params=me.params(ns),
                                body={"force": force})
            return r.status_code == 200

        self.step(me, ns, act)

    # -- review -------------------------------------------------------------------------------------------------
    def held(self) -> list[tuple[int, str]]:
        """(tenant, namespace) of every namespace with pending review items."""
        return [(i, ns) for i, t in enumerate(self.tenants) for ns in t.spaces if self.world.review_ids(ns)]

    @precondition(lambda self: bool(self.held()))
    @rule(action=st.sampled_from(["approve", "approve", "edit", "reject"]), via=VIA, where=WHERE,
          source=st.sampled_from(["own"] * 4 + ["foreign", "resolved", "unknown"]),
          specs=st.lists(OP_SPEC, max_size=3), by=LABEL, pick=st.integers(0, 1000))
    def review(self, action: str, via: str, where: int, source: str, specs: list[dict[str, Any]], by: str | None,
               pick: int) -> None:
        """Approve, edit or reject a held change set: one of the tenant's own (pending or resolved), one of the other
        tenant's (as its own), or an unknown id."""
        who, ns = self.held()[pick % len(self.held())]
        if source == "foreign":  # the other tenant names this item in a namespace of its own
            who, ns = 1 - who, self.tenants[1 - who].spaces[where % len(self.tenants[1 - who].spaces)]
        me, other = self.tenants[who], self.tenants[1 - who]
        ids = {"own": self.world.review_ids(ns), "resolved": self.world.review_ids(ns, status=None),
               "foreign": [i for s in other.spaces for i in self.world.review_ids(s)]}.get(source, [])
        item = ids[pick % len(ids)] if ids else "no-such-item"
        ops = [self.op_dict(s, ns, other, pick + i) for i, s in enumerate(specs)]
        review = self.world.memory.review

        def act() -> bool:
            if via == "py":
                call = {"approve": lambda: review.approve(item, namespace=ns, by=by or "reviewer"),
                        "edit": lambda: review.edit(item, ops, namespace=ns),
                        "reject": lambda: review.reject(item, namespace=ns, by=by or "reviewer")}[action]
                return self.world.py(call)[0]
            decision = {"by": by} if by is not None else None
            method, url, body = {"approve": ("POST", f"/v1/review/{item}/approve", decision),
                                 "edit": ("PUT", f"/v1/review/{item}", {"ops": ops}),
                                 "reject": ("POST", f"/v1/review/{item}/reject", decision)}[action]
            return self.world.rest(me, method, url, params=me.params(ns), body=body).status_code == 200

        self.step(me, ns, act)


def as_object(op: dict[str, Any]) -> Any:
    """The op as the dataclass a library user would build (no parsing: the core's own checks must hold)."""
    fields = {k: v for k, v in op.items() if k in ("id", "text", "timestamp", "metadata")}
    cls = {"ADD": Add, "UPDATE": Update, "DELETE": Delete}.get(op["op"])
    if cls is None:
        return op
    if cls is Delete:
        fields = {k: v for k, v in fields.items() if k == "id"}
    try:
        return cls(**fields)
    except TypeError:  # a required field missing: what the user would see before calling deltamem at all
        return op


def run_machine(world: World, *, examples: int, steps: int) -> None:
    machine = type("Machine", (TenantMachine,), {"world": world})
    # No shrinking: a step writes to a database, so shrinking a failure takes minutes, past the test timeout; the
    # report lists the (at most ``steps``) steps of the failing run as they were. Add Phase.shrink to shrink one.
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None, report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow]))


def make_world(store: ArchiveStore, tmp: Path) -> World:
    world = World(store, tmp)
    world.memory.backoff = Backoff(base_s=0.001, cap_s=0.01, budget_s=0.2)  # no concurrent writers here
    return world


def test_two_tenants_on_sqlite(tmp_path: Path) -> None:
    world = make_world(SqliteStore(tmp_path / "memory.db"), tmp_path)
    try:
        run_machine(world, examples=40, steps=25)
    finally:
        world.close()


@pytest.mark.integration
def test_two_tenants_on_postgres(pg_dsn: str, tmp_path: Path) -> None:
    from deltamem.stores.postgres import PostgresStore

    world = make_world(PostgresStore(pg_dsn), tmp_path)
    try:
        run_machine(world, examples=15, steps=20)
    finally:
        world.close()


def test_the_invariant_check_sees_a_write_outside_the_scope(tmp_path: Path) -> None:
    """The step check can fail: a write into the other tenant's namespace, made inside a step, is reported."""
    world = make_world(SqliteStore(tmp_path / "memory.db"), tmp_path)
    try:
        machine = type("Machine", (TenantMachine,), {"world": world})()
        a, b = machine.tenants
        with pytest.raises(AssertionError, match="changed"):
            machine.step(a, a.spaces[0], lambda: bool(world.memory.add("planted", namespace=b.spaces[0])))
        assert len(world.live_ids(b.spaces[0])) == 1
        machine.teardown()
    finally:
        world.close()

