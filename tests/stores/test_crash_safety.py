"""Crash safety of SqliteStore: a writer process is SIGKILLed at random moments while committing 300-op change sets.

After each kill the database must open, pass ``PRAGMA integrity_check``, hold every change set whose commit had
returned (the side file), hold each change set whole or not at all, and hold exactly a prefix of the commit
sequence. The live rows, the history, the FTS table and the vector cache must all agree.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_procs import (
    CRASH_NS,
    OPS_PER_CHANGE_SET,
    fts_and_live_rows,
    history_rows_per_change_set,
    replay,
)

from deltamem.stores.sqlite import SqliteStore
from deltamem.stores.sqlite_schema import blob_vector

HELPER = Path(__file__).with_name("helpers_procs.py")
ROUNDS = 5
SAMPLE = 25


def _start_writer(db: Path, side: Path, round_no: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), "writer", "--db", str(db), "--side", str(side), "--round", str(round_no),
         "--seed", str(round_no)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"writer of round {round_no} did not start: {line!r}\n{err}")
    return proc


def _kill_at_random(proc: subprocess.Popen[str], rng: random.Random) -> None:
    time.sleep(rng.uniform(0.2, 1.5))
    if proc.poll() is not None:  # the writer died by itself: that is a failure of the store, show why
        _, err = proc.communicate()
        pytest.fail(f"writer exited with {proc.returncode} before the kill:\n{err}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _token(text: str) -> str:
    return text.split()[1].rstrip(":")  # "Fact a0x3x7: ..." / "Update u1x2x5: ..." -> the unique word


def _vector_ids(store: SqliteStore, k: int, seed: int) -> set[str]:
    q = np.random.default_rng(seed).standard_normal(64).astype(np.float32)
    return {h.entry.id for h in store.search(CRASH_NS, vector=q / np.linalg.norm(q), mode="vector", k=k)}


def _live_ids_raw(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT id FROM memories WHERE namespace = ? AND deleted_at IS NULL",
                                          (CRASH_NS,))}
    finally:
        con.close()


@pytest.mark.timeout(180)
def test_sigkilled_writer_leaves_a_consistent_prefix(tmp_path: Path) -> None:
    db, side = tmp_path / "crash.db", tmp_path / "committed.txt"
    rng = random.Random(20240601)
    # A long-lived reader whose vector cache is synced incrementally across the first crashes; it is closed before
    # the last rounds so that those crashes are recovered by a connection that never saw the WAL before.
    reader: SqliteStore | None = SqliteStore(db)
    for round_no in range(ROUNDS):
        _kill_at_random(_start_writer(db, side, round_no), rng)
        if reader is not None:
            live = _live_ids_raw(db)
            assert _vector_ids(reader, len(live) + 10, round_no) == live, f"stale vector cache after kill {round_no}"
            if round_no == 2:
                reader.close()
                reader = None

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.execute("INSERT INTO memory_fts (memory_fts) VALUES ('integrity-check')")  # raises if the index is corrupt
    con.close()

    store = SqliteStore(db)
    try:
        recorded = [tuple(line.split()) for line in side.read_text().splitlines()]
        recorded_ids = [cs_id for _, cs_id in recorded]
        assert len(set(recorded_ids)) == len(recorded_ids)
        assert len(recorded) >= 2 * ROUNDS, f"only {len(recorded)} change sets were recorded; the test tested little"
        committed = {r.id: r for r in store.change_sets(CRASH_NS)}
        missing = set(recorded_ids) - set(committed)
        assert not missing, f"{len(missing)} change sets that had returned from commit are gone after a kill"

        # A prefix: per round, the recorded change sets in order, then at most the one killed before its record.
        history = store.history(CRASH_NS)
        commit_order = list(dict.fromkeys(h.change_set_id for h in history))
        assert set(commit_order) == set(committed), "change sets without history rows, or history of unknown ones"
        expected: list[str] = []
        for round_no in range(ROUNDS):
            mine = [cs_id for r, cs_id in recorded if int(r) == round_no]
            extra = [i for i in commit_order if committed[i].session_id == f"round-{round_no}" and i not in mine]
            assert len(extra) <= 1, f"round {round_no}: {len(extra)} committed change sets missing from the side file"
            expected += mine + extra
        assert commit_order == expected

        # All or nothing per change set: its history rows are exactly its recorded counts (300, no Noops).
        rows = history_rows_per_change_set(db)
        assert set(rows) == set(committed)
        for cs_id, rec in committed.items():
            assert sum(rec.counts.values()) == OPS_PER_CHANGE_SET
            assert rows[cs_id] == OPS_PER_CHANGE_SET, f"change set {cs_id} is partially written"

        live_entries = store.list_entries(CRASH_NS)
        live_by_id = {e.id: e for e in live_entries}
        assert replay(store, CRASH_NS) == live_by_id
        fts, live_rows = fts_and_live_rows(db)
        assert fts == live_rows

        # Keyword and vector search agree with the live rows on the reopened (cold) store.
        for e in random.Random(1).sample(live_entries, SAMPLE):
            hits = store.search(CRASH_NS, text=_token(e.text), mode="keyword", k=3)
            assert [h.entry.id for h in hits] == [e.id]
        assert _vector_ids(store, len(live_by_id) + 10, 99) == set(live_by_id)
        con = sqlite3.connect(db)
        dead = con.execute("SELECT id, text, vector FROM memories WHERE namespace = ? AND deleted_at IS NOT NULL",
                           (CRASH_NS,)).fetchall()
        con.close()
        assert len(dead) >= SAMPLE
        for mid, text, blob in random.Random(2).sample(dead, SAMPLE):
            assert store.search(CRASH_NS, text=_token(text), mode="keyword", k=5) == []
            hits = store.search(CRASH_NS, vector=blob_vector(blob), text=_token(text), mode="hybrid", k=20)
            assert mid not in {h.entry.id for h in hits}
    finally:
        store.close()
