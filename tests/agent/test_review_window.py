"""Review policy over a window (issue #19, finding 5): slow erosion by a compliant model is held for review.

A model that deletes a quarter of the namespace per session stays under the per-change-set limits (more than 5
*and* more than 30 %), so 100 memories used to fall to 13 in six sessions with no review item. Destructive ops are
now counted over the namespace's recent agent change sets, against its size when the window opened.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deltamem.agent import AgentConfig, MemoryAgent
from deltamem.config import MemoryConfig, ReviewPolicy, load_config
from deltamem.core import Add, Delete, Operation, Update
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.ingest import IngestResult
from deltamem.facade.memory import Memory
from deltamem.facade.review_policy import Window, assess, select_window
from deltamem.llm import ScriptedChatModel
from deltamem.stores.base import ChangeSetRecord
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.sqlite import SqliteStore

EMB = HashingEmbedder(dim=64)
NS = "user:c"
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
         "romeo sierra tango uniform victor whiskey xray yankee zulu").split()
_SHOWN = re.compile(r"^(m\d+) \[[^]]*\] (.*)$")

Plan = Callable[[list[tuple[str, str]], str], list[dict[str, Any]]]


def fact(i: int) -> str:
    return f"Caroline keeps note {WORDS[i % 26]} {WORDS[i // 26]} about her week"


def agent_following(plan: Plan) -> MemoryAgent:
    """A model that answers every session with ``plan(shown, prompt)``; shown: (alias, text) of each memory."""

    def reply(messages: Sequence[Any]) -> str:
        prompt = messages[1]["content"]
        shown = [(m.group(1), m.group(2)) for ln in prompt.splitlines() if (m := _SHOWN.match(ln))]
        return json.dumps({"ops": plan(shown, prompt)})

    # A seed search wide enough to show the model every memory of the namespace.
    return MemoryAgent(ScriptedChatModel(default=reply), embedder=EMB,
                       config=AgentConfig(mode="session", seed_k=500, max_seed_memories=500))


def delete_quarter(shown: list[tuple[str, str]], prompt: str = "") -> list[dict[str, Any]]:
    return [{"op": "DELETE", "id": a} for a, _ in shown[: math.ceil(len(shown) / 4)]]


def delete_all(shown: list[tuple[str, str]], prompt: str = "") -> list[dict[str, Any]]:
    return [{"op": "DELETE", "id": a} for a, _ in shown]


@pytest.fixture(params=["memory", "sqlite"])
def mem(request: pytest.FixtureRequest, tmp_path: Path) -> Memory:
    store = InMemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "m.db")
    return Memory(store=store, embedder=EMB)


def session(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


FORGET = session("Please forget some of my old notes about the week now.")


def test_slow_erosion_is_held_by_the_second_or_third_session(mem: Memory) -> None:
    mem.add([fact(i) for i in range(100)], namespace=NS)
    mem.agent = agent_following(delete_quarter)
    results: list[IngestResult] = []
    for _ in range(6):
        results.append(mem.add(FORGET, namespace=NS))
        if results[-1].queued:
            break
    held = [i for i, r in enumerate(results, start=1) if r.queued]
    assert held and held[0] in (2, 3), f"held at sessions {held}; live {mem.store.count(NS)}"
    assert mem.store.count(NS) >= 56  # at most two quarters gone
    [item] = mem.review.list(namespace=NS)
    assert item.id == results[-1].review_id
    assert item.reason.startswith("destructive share: ")
    assert re.search(r"of the 100 memories the namespace held when the window opened", item.reason)
    assert re.search(r"\d+ in \d+ earlier agent change sets? since 20", item.reason) and "window: " in item.reason
    # The reviewer approves; the approved change set reverts like any other.
    cs = mem.review.approve(item.id, namespace=NS, by="alice")
    after_approval = mem.store.count(NS)
    mem.revert(cs.id, namespace=NS)
    assert mem.store.count(NS) == after_approval + cs.counts()["DELETE"]


def test_agent_emptying_a_small_namespace_is_held(mem: Memory) -> None:
    mem.add([fact(0), fact(1)], namespace=NS)
    mem.agent = agent_following(delete_all)
    res = mem.add(session("Forget everything you know about my notes this week."), namespace=NS)
    assert res.queued and mem.store.count(NS) == 2
    reason = mem.review.get(res.review_id, namespace=NS).reason  # type: ignore[arg-type]
    assert reason.startswith("emptying: ") and "last 2 memories" in reason


def test_emptying_step_by_step_is_held_at_the_last_memory(mem: Memory) -> None:
    mem.add([fact(0), fact(1)], namespace=NS)
    mem.agent = agent_following(lambda shown, _: delete_all(shown)[:1])
    first = mem.add(session("Forget one of my notes about the week please."), namespace=NS)
    assert not first.queued and mem.store.count(NS) == 1
    second = mem.add(session("Forget one more of my notes about the week please."), namespace=NS)
    assert second.queued and mem.store.count(NS) == 1


def test_explicit_user_deletes_are_not_agent_sessions(mem: Memory) -> None:
    ids = [c.memory_id for c in mem.add([fact(i) for i in range(10)], namespace=NS).changes]
    for mid in ids[:4]:
        mem.delete(mid, namespace=NS)
    assert mem.delete_all(namespace=NS).counts()["DELETE"] == 6
    assert mem.store.count(NS) == 0 and mem.review.list(namespace=NS) == []


_NORMAL = re.compile(r"My note (\w+ \w+) about the week changed to golf lessons\. I met (\w+ \w+ \w+) at the "
                     r"club and visited (\w+ \w+ \w+)\.")


def update_one_add_two(shown: list[tuple[str, str]], prompt: str) -> list[dict[str, Any]]:
    """What a normal session asks for: one note changed (UPDATE), two new facts (ADD)."""
    m = _NORMAL.search(prompt)
    assert m is not None
    return [{"op": "UPDATE", "id": a, "text": f"{text} changed to golf lessons"} for a, text in shown
            if f" note {m.group(1)} " in text] + [{"op": "ADD", "text": f"Caroline met {m.group(2)} at the club"},
                                                 {"op": "ADD", "text": f"Caroline visited {m.group(3)}"}]


def test_normal_sessions_are_not_held(mem: Memory) -> None:
    mem.add([fact(i) for i in range(30)], namespace=NS)
    mem.agent = agent_following(update_one_add_two)
    for i in range(8):
        note = " ".join(fact(i).split()[3:5])
        met, visited = (" ".join(WORDS[(6 * i + j) % 26] for j in range(k, k + 3)) for k in (0, 3))
        res = mem.add(session(f"My note {note} about the week changed to golf lessons. I met {met} at the club "
                              f"and visited {visited}."), namespace=NS)
        assert not res.queued, mem.review.list(namespace=NS)[0].reason
        assert res.change_set is not None and res.change_set.counts() == {"ADD": 2, "UPDATE": 1, "DELETE": 0}, (
            res.agent.rejected if res.agent else None)
    assert mem.store.count(NS) == 46


def test_policy_comes_from_config_and_can_be_turned_off(tmp_path: Path) -> None:
    cfg = load_config(env={"DELTAMEM_REVIEW__MAX_DELETES": "3", "DELTAMEM_REVIEW__WINDOW_HOURS": "2"})
    assert cfg.review.max_deletes == 3 and cfg.review.window_hours == 2.0
    assert MemoryConfig().review == ReviewPolicy()
    m = Memory(store=InMemoryStore(), embedder=EMB, config=cfg)
    assert m.review_policy.max_deletes == 3
    off = Memory(store=InMemoryStore(), embedder=EMB, review_policy=ReviewPolicy(enabled=False))
    off.add([fact(0), fact(1)], namespace=NS)
    off.agent = agent_following(delete_all)
    assert not off.add(session("Forget everything you know about my notes this week."), namespace=NS).queued


# -- the pure rules ---------------------------------------------------------------------------------------------------
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def rec(i: int, *, hours_ago: float, actor: str = "agent", add: int = 0, delete: int = 0,
        reverted_by: str | None = None) -> ChangeSetRecord:
    return ChangeSetRecord(id=f"cs{i}", namespace=NS, created_at=NOW - timedelta(hours=hours_ago), session_id=None,
                           actor=actor, ops=(), counts={"ADD": add, "UPDATE": 0, "DELETE": delete},
                           reverted_by=reverted_by)


def test_window_takes_the_last_n_agent_change_sets_or_the_last_hours() -> None:
    policy = ReviewPolicy(window_change_sets=2, window_hours=24)
    recs = [rec(5, hours_ago=1, actor="user", add=3), rec(4, hours_ago=30), rec(3, hours_ago=40, delete=2),
            rec(2, hours_ago=50, actor="user", delete=1), rec(1, hours_ago=60)]
    sel = select_window(recs, policy, now=NOW, live=10)
    assert [r.id for r in sel.counted] == ["cs4", "cs3"] and sel.start == recs[2].created_at
    assert sel.size_at_start == 10 - 3 + 2  # undo what happened since the window opened
    # Within the hours, more than N agent change sets are taken; a reverted one is not counted.
    recs = [rec(i, hours_ago=i, delete=1, reverted_by="x" if i == 2 else None) for i in range(1, 6)]
    sel = select_window(recs, policy, now=NOW, live=10)
    assert [r.id for r in sel.counted] == ["cs1", "cs3", "cs4", "cs5"] and sel.size_at_start == 15


def window(*, size: int, touched: int = 0, deleted: int = 0, change_sets: int = 1) -> Window:
    return Window(start=NOW - timedelta(hours=1), change_sets=change_sets, size_at_start=size,
                  touched=frozenset(f"old{i}" for i in range(touched)),
                  deleted=frozenset(f"old{i}" for i in range(deleted)))


def deletes(n: int) -> list[Operation]:
    return [Delete(id=f"new{i}") for i in range(n)]


@pytest.mark.parametrize(("ops", "win", "live", "rule"), [
    (deletes(6), Window.empty(10), 10, "destructive share"),      # the per-change-set rule, as before
    (deletes(5), Window.empty(10), 10, None),
    (deletes(6), Window.empty(30), 30, None),
    (deletes(20), window(size=100, touched=25, deleted=25), 75, "destructive share"),  # 45 of 100 in the window
    (deletes(4), window(size=100, touched=25, deleted=25), 75, None),                  # 29 of 100
    (deletes(30), window(size=1000, touched=30, deleted=30), 970, "delete count"),     # 60 > 50, share 6 %
    (deletes(2), Window.empty(2), 2, "emptying"),
    ([*deletes(2), Add(text="x")], Window.empty(2), 2, None),
    ([Update(id="new0", text="y")], Window.empty(1), 1, None),
    ([], Window.empty(0), 0, None),
])
def test_rules(ops: list[Operation], win: Window, live: int, rule: str | None) -> None:
    reason = assess(ReviewPolicy(), ops, window=win, live=live)
    if rule is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(rule + ": "), reason


def test_disabled_policy_holds_nothing() -> None:
    assert assess(ReviewPolicy(enabled=False), deletes(2), window=Window.empty(2), live=2) is None


def test_memories_added_inside_the_window_are_not_its_erosion() -> None:
    # 20 updates, but 18 of them rewrite memories added after the window opened: 2 of 10 old memories touched.
    ops: list[Operation] = [Update(id=f"new{i}", text="z") for i in range(20)]
    fresh = frozenset(f"new{i}" for i in range(2, 20))
    assert assess(ReviewPolicy(), ops, window=window(size=10), live=28, fresh=fresh) is None
    assert assess(ReviewPolicy(), ops, window=window(size=10), live=28) is not None
