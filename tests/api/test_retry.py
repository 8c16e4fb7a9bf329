"""Retrying writes that lost a race (issue #19, finding 6): jittered backoff bounded by time, the namespace lock on
retries where the store has one, and no retry of errors that are not races."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import pytest

from deltamem.core import Add, ChangeSet, ConflictError, MemoryState, Update, apply
from deltamem.embed.base import Vectors
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.facade.writer import commit_fresh
from deltamem.stores.base import NamespaceLock
from deltamem.stores.memory import InMemoryStore
from deltamem.stores.retry import Backoff, Retry

EMB = HashingEmbedder(dim=16)
NS = "user:r"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_pauses_grow_with_full_jitter_up_to_the_cap() -> None:
    b = Backoff(base_s=0.01, cap_s=0.05, budget_s=10)
    assert [b.delay(n, 1.0) for n in range(5)] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert b.delay(3, 0.5) == 0.025 and b.delay(0, 0.0) == 0.0
    assert b.delay(10_000, 1.0) == 0.05  # no overflow


def test_retry_raises_the_conflict_once_the_time_budget_is_spent() -> None:
    clock = FakeClock()
    retry = Retry(Backoff(base_s=0.1, cap_s=0.1, budget_s=1.0), sleep=clock.sleep, clock=clock,
                  uniform=lambda: 1.0)
    err = ConflictError("lost")
    for _ in range(10):
        retry.pause(err)
    with pytest.raises(ConflictError) as raised:
        retry.pause(err)
    assert raised.value is err and retry.attempts == 10 and clock.now == pytest.approx(1.0)


class RacingStore(InMemoryStore):
    """Another writer commits first the first ``lose`` times this store is asked to commit."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose, self.locked_commits, self.held = lose, 0, False

    def commit(self, change_set: ChangeSet, vectors: Mapping[str, Vectors]) -> None:
        if self.held:
            self.locked_commits += 1
        elif self.lose > 0:
            self.lose -= 1
            raise ConflictError("someone else committed first")
        super().commit(change_set, vectors)


class LockingRacingStore(RacingStore):
    """The same race, with a namespace lock (as PostgreSQL has): inside it, the other writer cannot commit first."""

    @contextlib.contextmanager
    def exclusive(self, namespace: str) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False


def vectors(cs: ChangeSet) -> dict[str, Vectors]:
    return {c.memory_id: EMB.embed([c.after.text])[0] for c in cs.changes if c.after is not None}


def seeded(store: RacingStore) -> str:
    cs = apply(MemoryState(NS), [Add(text="hot")])
    InMemoryStore.commit(store, cs, vectors(cs))
    return cs.changes[0].memory_id


@pytest.mark.parametrize("lockable", [False, True])
def test_commit_fresh_recomputes_and_retries(lockable: bool) -> None:
    store = LockingRacingStore(3) if lockable else RacingStore(3)
    assert isinstance(store, NamespaceLock) is lockable
    hot = seeded(store)
    computed: list[ChangeSet] = []

    def compute() -> ChangeSet:
        computed.append(apply(store.get(NS, [hot]), [Update(id=hot, text="hotter")]))
        return computed[-1]

    cs = commit_fresh(store, NS, compute, vectors, backoff=Backoff(base_s=0.0001, cap_s=0.0001))
    assert store.get(NS, [hot])[hot].text == "hotter" and cs is computed[-1]
    # With the namespace lock, the first retry runs inside it and cannot lose again.
    assert (len(computed), store.locked_commits) == ((2, 1) if lockable else (4, 0))


def test_errors_of_the_computation_are_not_retried() -> None:
    store = RacingStore(0)
    calls: list[int] = []

    def compute() -> ChangeSet:
        calls.append(1)
        raise ConflictError("a later change set touched these memories")  # e.g. invert refusing a revert

    with pytest.raises(ConflictError, match="later change set"):
        commit_fresh(store, NS, compute, vectors)
    assert calls == [1]


def test_memory_apply_outlasts_more_than_eight_lost_races() -> None:
    store = RacingStore(20)  # the old facade gave up after 8 tries
    mem = Memory(store=store, embedder=EMB)
    mem.backoff = Backoff(base_s=0.0001, cap_s=0.0005, budget_s=5)
    hot = seeded(store)
    mem.update(hot, "updated after 20 lost races", namespace=NS)
    assert mem.get(hot, namespace=NS).text == "updated after 20 lost races"


def test_a_revert_that_keeps_losing_gives_up_after_the_budget() -> None:
    store = RacingStore(0)
    mem = Memory(store=store, embedder=EMB)
    hot = seeded(store)
    cs = mem.update(hot, "v2", namespace=NS)
    store.lose = 10**6
    mem.backoff = Backoff(base_s=0.001, cap_s=0.002, budget_s=0.05)
    with pytest.raises(ConflictError, match="someone else"):
        mem.revert(cs.id, namespace=NS)
    assert mem.get(hot, namespace=NS).text == "v2"
