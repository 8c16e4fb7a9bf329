"""Two tenants on one store, reached through the Python API and the REST API (issue #19's acceptance test).

:class:`World` is one store with a :class:`~deltamem.Memory` over it (hashing embedder, a scripted model that
follows a :class:`Plan`, a review policy with small thresholds) and the FastAPI app over that same Memory with a key
per tenant, so that every write path (ops, sessions as agent calls or server jobs, import, revert, review, delete-all)
lands in one store whose namespaces the invariants below can read:

- :func:`snapshot`: everything of every namespace (records and review queue), to compare before and after a step;
- :func:`replay_matches`: a namespace's live state is the replay of its own history.

A tenant's namespaces are those the server gives it: ``tenant:<t>/`` + the namespace of the request
(:func:`deltamem.server.deps.tenant_prefix`).
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from fastapi.testclient import TestClient
from tests.api.export_files import Line, parse, records, sealed, v1

from deltamem.agent import AgentConfig, MemoryAgent
from deltamem.agent.prompts import load
from deltamem.config import MemoryConfig, ReviewPolicy
from deltamem.core import DeltamemError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.server import ServerConfig, create_app
from deltamem.server.deps import tenant_prefix
from deltamem.server.keys import KeyStore
from deltamem.server.state import StateDB
from deltamem.stores.archive import record_to_line
from deltamem.stores.base import ArchiveStore, HistoryRecord

#: Small thresholds, so that agent sessions that delete a little are held for review (and the review rules run),
#: and small limits, so that oversize inputs stay small enough to print in a failure report.
CONFIG = MemoryConfig(review=ReviewPolicy(max_destructive=1, max_destructive_share=0.25, max_deletes=2,
                                          window_change_sets=4),
                      max_text_chars=300, max_metadata_keys=32, max_metadata_bytes=2048)
_SHOWN = re.compile(r"^(m\d+) \[")
_names = itertools.count(1)


class Answer(Protocol):
    """What the tests read of an HTTP response (the test client's httpx, or httpx2, Response)."""

    status_code: int

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class Unexpected(AssertionError):
    """A step failed in a way no input may cause (an error outside DeltamemError, a 5xx, a job's InternalError)."""


# -- the scripted model ---------------------------------------------------------------------------------------------
#: A model op: ("ADD", text, extras) | ("UPDATE", target, text, extras) | ("DELETE", target, {}); a target is an int
#: (the index of a memory the agent showed, modulo their number) or a str (written as it is: an id, "m99", junk).
ModelOp = tuple[str, Any, Any, dict[str, Any]]
JUNK = ("Sure, I have deleted all memories.", '{"ops": [{"op": "ADD", "text": "cut off', '{"ops": "delete all"}',
        "[1, 2, 3]", '{"ops": [{"op": "DROP", "id": "m1"}]}', '{"ops": [{"op": "ADD", "text": "\\ud800"}]}', "")


@dataclass
class Plan:
    """What the scripted model answers in the next session. ``mode``: ``ops`` (answer with ``ops``), ``wipe`` (delete
    every memory shown, then ``ops``), ``junk`` (only unusable text), ``junk_once`` (unusable, then ``ops`` in the
    repair turn), ``search`` (search, then ``ops``)."""

    mode: str = "ops"
    ops: list[ModelOp] = field(default_factory=list)
    junk: str = JUNK[0]
    query: str = "anything"

    def follow(self, mode: str, ops: list[ModelOp], *, junk: str, query: str) -> None:
        """Answer the next sessions this way."""
        self.mode, self.ops, self.junk, self.query = mode, ops, junk, query


def _render(op: ModelOp, shown: list[str]) -> dict[str, Any]:
    kind, target, text, extras = op
    out: dict[str, Any] = {"op": kind, **extras}
    if kind != "ADD":
        out["id"] = (shown[target % len(shown)] if shown else "m1") if isinstance(target, int) else target
    if kind != "DELETE":
        out["text"] = text
    return out


def plan_model(plan: Plan) -> ScriptedChatModel:
    """A scripted model that follows ``plan`` (read at each call, so a test changes it between sessions)."""
    system = load("system")

    def reply(messages: Sequence[Any]) -> str:
        if messages[0]["content"] != system:
            return "From memory: nothing"
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        shown = list(dict.fromkeys(
            m.group(1) for msg in messages if msg.get("role") in ("user", "tool")
            for ln in str(msg.get("content") or "").splitlines() if (m := _SHOWN.match(ln))))
        if plan.mode == "junk" or (plan.mode == "junk_once" and turn == 0):
            return plan.junk
        if plan.mode == "search" and turn == 0:
            return json.dumps({"search": [plan.query]})
        wipe = [{"op": "DELETE", "id": a} for a in shown] if plan.mode == "wipe" else []
        return json.dumps({"ops": wipe + [_render(op, shown) for op in plan.ops]})

    return ScriptedChatModel(default=reply)


# -- two tenants on one store ---------------------------------------------------------------------------------------
@dataclass
class Tenant:
    """A tenant: its key, its prefix and the namespaces it has written (main first)."""

    name: str
    key: str
    spaces: list[str]

    @property
    def prefix(self) -> str:
        return tenant_prefix(self.name)

    def owns(self, namespace: str) -> bool:
        return namespace.startswith(self.prefix)

    def params(self, namespace: str) -> dict[str, str]:
        """The query that names ``namespace`` in this tenant's requests."""
        rel = namespace[len(self.prefix):]
        return {"user_id": rel[len("user:"):]} if re.fullmatch(r"user:[\w.@+-]+", rel) else {"namespace": rel}


class World:
    """A store, a Memory over it, the server app over that Memory, and the scripted model's plan."""

    def __init__(self, store: ArchiveStore, tmp: Path) -> None:
        self.store = store
        self.plan = Plan()
        llm = plan_model(self.plan)
        emb = HashingEmbedder(dim=64)
        agent = MemoryAgent(llm, embedder=emb,  # the plan is scripted in the whole-session protocol
                            config=AgentConfig(mode="session", seed_k=50, max_seed_memories=50))
        self.memory = Memory(store=store, embedder=emb, llm=llm, agent=agent, config=CONFIG)
        self.db = StateDB(tmp / "server.db")
        self.keys = KeyStore(self.db)
        app = create_app(ServerConfig(state_path=tmp / "server.db", rate_per_s=0), memory=self.memory, db=self.db)
        self.client = TestClient(app, raise_server_exceptions=True)
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.memory.close()
        self.db.close()

    def tenants(self) -> tuple[Tenant, Tenant]:
        """Two fresh tenants (new names for every example, so examples never share a namespace)."""
        n = next(_names)
        a, b = f"a{n}", f"b{n}"
        ta = Tenant(a, self.keys.create(tenant=a)[1], [f"{tenant_prefix(a)}user:x"])
        tb = Tenant(b, self.keys.create(tenant=b)[1], [f"{tenant_prefix(b)}user:y"])
        # A namespace of each that spells the other's: the server prefixes it, so it stays the caller's own.
        ta.spaces.append(ta.prefix + tb.spaces[0])
        tb.spaces.append(tb.prefix + ta.spaces[0])
        return ta, tb

    def clear(self) -> None:
        for ns in self.store.namespaces():
            self.store.purge(ns)

    # -- calls that may fail only in expected ways --------------------------------------------------------------
    def py(self, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """(True, result), or (False, error) for a DeltamemError; anything else propagates and fails the test."""
        try:
            return True, fn()
        except DeltamemError as e:
            return False, e

    def rest(self, tenant: Tenant, method: str, url: str, *, body: Any = None, raw: bytes | None = None,
             params: dict[str, str] | None = None) -> Answer:
        """A request with the tenant's key (the response); a 5xx fails, and a 4xx must not name a tenant's internal
        prefix."""
        headers = {"Authorization": f"Bearer {tenant.key}"}
        content = raw
        if body is not None:
            content = json.dumps(body, default=_jsonable).encode("utf-8", "surrogatepass")
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            headers["Content-Type"] = "application/x-ndjson"
        r: Answer = self.client.request(method, url, params=params, content=content, headers=headers,
                                        follow_redirects=False)
        if r.status_code >= 500:
            raise Unexpected(f"{method} {url} answered {r.status_code}: {r.text[:500]}")
        if r.status_code >= 400 and re.search(r"tenant:[ab]\d+/", r.text):
            raise Unexpected(f"{method} {url}: the error shows an internal tenant prefix: {r.text[:500]}")
        return r

    def wait_job(self, tenant: Tenant, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.rest(tenant, "GET", f"/v1/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                if job["status"] == "failed" and job["error"]["type"] == "InternalError":
                    raise Unexpected(f"job {job_id} failed with an internal error: {job['error']}")
                return job
            time.sleep(0.005)
        raise Unexpected(f"job {job_id} did not finish within {timeout} s")

    # -- what a tenant (or an attacker who learnt its ids) can see ----------------------------------------------
    def live_ids(self, namespace: str) -> list[str]:
        return [e.id for e in self.store.list_entries(namespace)]

    def dead_ids(self, namespace: str) -> list[str]:
        live = set(self.live_ids(namespace))
        return list(dict.fromkeys(h.memory_id for h in self.store.history(namespace) if h.memory_id not in live))

    def change_set_ids(self, namespace: str) -> list[str]:
        return [r.id for r in self.store.change_sets(namespace)]

    def review_ids(self, namespace: str, status: str | None = "pending") -> list[str]:
        return [i.id for i in self.memory.review.queue.queue_list(namespace, status=status)]  # type: ignore[arg-type]

    def export_text(self, namespace: str) -> str:
        out = io.StringIO()
        self.memory.export(out, namespace=namespace)
        return out.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON")


# -- the invariants -------------------------------------------------------------------------------------------------
def snapshot(world: World, known: Sequence[str]) -> dict[str, Any]:
    """Everything of every namespace (``known``: namespaces that may hold only review items), comparable with ==:
    every record of its dump (history with its sequence number) and every review item, whatever its status."""
    snap: dict[str, Any] = {}
    for ns in sorted({*world.store.namespaces(), *known}):
        dump = []
        for rec in world.store.dump(ns):
            line = record_to_line(rec)
            if isinstance(rec, HistoryRecord):
                line["seq"] = rec.seq
            dump.append(line)
        snap[ns] = (dump, world.memory.review.queue.queue_list(ns, status=None))
    return snap


def replay_matches(store: ArchiveStore, namespace: str) -> None:
    """Rebuild the namespace's state from its history, in order, and compare it with the live memories. Every
    record lies in the namespace, belongs to one of its change sets and starts from the state the records before
    it left."""
    change_sets = {r.id for r in store.change_sets(namespace)}
    state: dict[str, Any] = {}
    for h in store.history(namespace):
        where = f"{namespace}: change set {h.change_set_id}, memory {h.memory_id} ({h.kind}, seq {h.seq})"
        assert h.namespace == namespace, where
        assert h.change_set_id in change_sets, f"{where}: no such change set in the namespace"
        for side in (h.before, h.after):
            assert side is None or (side.namespace == namespace and side.id == h.memory_id), f"{where}: {side}"
        assert h.before == state.get(h.memory_id), f"{where}: starts from another state than the history left"
        if h.after is None:
            state.pop(h.memory_id, None)
        else:
            state[h.memory_id] = h.after
    live = {e.id: e for e in store.list_entries(namespace)}
    assert live == state, f"{namespace}: the live state differs from the replay of its history"
    assert store.count(namespace) == len(live), namespace


# -- import files -----------------------------------------------------------------------------------------------------
def relocate(lines: list[Line], new: str) -> list[Line]:
    """Records moved into namespace ``new`` (memory, change set and history records, and their entries)."""
    out = []
    for line in copy.deepcopy(lines):
        if line["type"] == "memory":
            line["memory"]["namespace"] = new
        else:
            line["namespace"] = new
        if line["type"] == "history":
            for side in ("before", "after"):
                if line[side] is not None:
                    line[side]["namespace"] = new
        out.append(line)
    return out


#: Import files a tenant may send; those in VALID_IMPORTS must import (into a new namespace of the tenant).
IMPORTS = ("relocated", "relocated_v1", "as_is", "foreign_entries", "foreign_entries_v1", "foreign_records",
           "mixed", "inconsistent", "flipped_byte", "duplicate_line", "duplicate_resealed", "dropped_line",
           "truncated")
VALID_IMPORTS = ("relocated", "relocated_v1")


def doctor(kind: str, text: str, *, new: str, victim_ns: str, victim: list[Line], pick: int) -> str:
    """The import file ``kind`` made from the export ``text`` of one of the tenant's namespaces.

    ``new``: a fresh namespace of the tenant; ``victim_ns`` / ``victim``: the other tenant's namespace and its
    memory records (as export lines; ids and texts an attacker may have learnt).
    """
    lines = parse(text)
    header, recs = lines[0], records(lines)
    own = {**header, "namespaces": [new]}
    moved = relocate(recs, new)
    if kind == "relocated":
        return sealed(own, moved)
    if kind == "relocated_v1":
        return v1(own, moved)
    if kind == "as_is":
        return text
    if kind in ("foreign_entries", "foreign_entries_v1"):
        forged = _forge(moved, new, victim_ns, victim, pick)
        return sealed(own, forged) if kind == "foreign_entries" else v1(own, forged)
    if kind == "foreign_records":
        return sealed({**header, "namespaces": [victim_ns]}, relocate(recs, victim_ns))
    if kind == "mixed":
        return sealed({**header, "namespaces": [new, victim_ns]}, moved + relocate(recs, victim_ns)[:1])
    if kind == "inconsistent":
        mems = [i for i, r in enumerate(moved) if r["type"] == "memory"]
        if mems:
            moved[mems[pick % len(mems)]]["memory"]["text"] += " (edited)"
        return sealed(own, moved)
    body = text.split("\n")[:-1]  # the lines (every one ends with "\n"; splitlines would split inside strings)
    n = len(body) - 2  # record lines, between header and footer
    at = 1 + pick % n if n > 0 else 0
    if kind == "flipped_byte":
        line = body[at]
        i = line.find('"text"') if '"text"' in line else len(line) // 2
        j = min(i + 10, len(line) - 1)
        body[at] = line[:j] + ("X" if line[j] != "X" else "Y") + line[j + 1:]
    elif kind == "duplicate_line":
        body.insert(at, body[at])
    elif kind == "duplicate_resealed":
        return sealed(own, moved + moved[pick % len(moved):][:1] if moved else [])
    elif kind == "dropped_line":
        del body[at]
    elif kind == "truncated":
        body = body[:-1]
    else:
        raise ValueError(kind)
    return "".join(line + "\n" for line in body)


def _forge(moved: list[Line], new: str, victim_ns: str, victim: list[Line], pick: int) -> list[Line]:
    """Finding 1: a change set of ``new`` whose history deletes one of the victim's memories (before: the victim's
    entry with a planted text), or, when the victim has none, entries of the victim's namespace in the history."""
    if victim:
        entry = copy.deepcopy(victim[pick % len(victim)]["memory"])
        entry["text"] = "planted by the other tenant"
        at = entry["created_at"]
        cs = {"type": "change_set", "id": f"forged-{pick}", "namespace": new, "created_at": at, "session_id": None,
              "actor": "user", "ops": [], "counts": {"ADD": 0, "UPDATE": 0, "DELETE": 1}, "reverts": None,
              "reverted_by": None, "note": ""}
        hist = {"type": "history", "change_set_id": cs["id"], "namespace": new, "memory_id": entry["id"],
                "kind": "DELETE", "before": entry, "after": None, "session_id": None, "actor": "user",
                "created_at": at}
        return [*moved, cs, hist]
    out = copy.deepcopy(moved)
    for line in out:
        if line["type"] == "history":
            for side in ("before", "after"):
                if line[side] is not None:
                    line[side]["namespace"] = victim_ns
    return out


def victim_lines(world: World, namespace: str) -> list[Line]:
    """The memory records of a namespace as export lines."""
    return [line for line in parse(world.export_text(namespace))[1:-1] if line["type"] == "memory"]


def iter_spaces(tenants: Sequence[Tenant]) -> Iterator[str]:
    for t in tenants:
        yield from t.spaces
