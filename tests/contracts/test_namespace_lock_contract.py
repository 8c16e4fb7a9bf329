"""The NamespaceLock contract, on every backend that offers the capability (of the shipped ones, PostgreSQL).

The capability is optional: the in-process and SQLite stores do not have it (the facade retries their conflicting
writes after a jittered backoff, ``stores/retry.py``), so the tests are skipped for them, with the reason.
"""

from __future__ import annotations

import threading

import pytest

from deltamem.core import Add, apply
from deltamem.embed.hashing import HashingEmbedder
from deltamem.stores.base import ArchiveStore, NamespaceLock

EMB = HashingEmbedder(dim=64)
NS = "user:held"


def add(store: ArchiveStore, ns: str, text: str) -> None:
    cs = apply(store.get(ns, []), [Add(text=text)])
    store.commit(cs, {c.memory_id: EMB.embed([text])[0] for c in cs.changes})


@pytest.fixture
def locking(store: ArchiveStore) -> NamespaceLock:
    if not isinstance(store, NamespaceLock):
        pytest.skip(f"{type(store).__name__} has no namespace lock; the facade retries after a backoff")
    return store


def test_the_holder_reads_and_commits_while_other_threads_wait(store: ArchiveStore, locking: NamespaceLock) -> None:
    add(store, NS, "seed")
    done = threading.Event()
    writer = threading.Thread(target=lambda: (add(store, NS, "from another thread"), done.set()))
    with locking.exclusive(NS):
        writer.start()
        assert not done.wait(0.5), "another thread committed while the namespace was held"
        assert store.count(NS) == 1  # the holder's own calls proceed
        add(store, NS, "by the holder")
        assert store.count(NS) == 2
    writer.join(10)
    assert done.is_set() and store.count(NS) == 3
    with locking.exclusive(NS):  # taken again after its release
        add(store, NS, "again")
    assert store.count(NS) == 4


def test_a_failure_inside_the_block_releases_the_lock(store: ArchiveStore, locking: NamespaceLock) -> None:
    with pytest.raises(RuntimeError), locking.exclusive(NS):
        raise RuntimeError("inside")
    done = threading.Event()
    writer = threading.Thread(target=lambda: (add(store, NS, "after the failure"), done.set()))
    writer.start()
    writer.join(10)
    assert done.is_set() and store.count(NS) == 1
