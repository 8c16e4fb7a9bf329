"""``bench/replay_ingest.py``: replaying deltamem's ingestion from an eval's LLM cache reproduces the run exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from deltamem.core.errors import ConfigError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.eval.fake import FakeEvalModel
from deltamem.eval.harness import EvalSpec, evaluate

Loader = Callable[[str], ModuleType]  # the bench_script fixture (tests/eval/conftest.py)

FIX = Path(__file__).parent / "fixtures"


def test_replay_reproduces_every_session_of_the_run_without_a_model(tmp_path: Path, bench_script: Loader) -> None:
    out = tmp_path / "run"
    model = FakeEvalModel()
    evaluate(EvalSpec(bench="halumem", data=FIX / "halumem_mini.jsonl", out=out, llm="fake", systems=("deltamem",),
                      progress=False, plots=False), model_factory=lambda _: model, embedder=HashingEmbedder())
    sessions = [r for r in map(json.loads, (out / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines())
                if r["kind"] == "session"]
    calls = model.requests

    replay = bench_script("replay_ingest").replay("halumem", FIX / "halumem_mini.jsonl", out, None, None, model.name,
                                                  False, "hashing")

    assert model.requests == calls  # everything came from the cache
    assert [r["session"] for r in replay] == [s["session"] for s in sessions]
    for r, s in zip(replay, sessions, strict=True):
        ops = dict(r["applied"])
        if r["repaired"]:
            ops["REPAIRED"] = r["repaired"]
        if r["refused"]:
            ops["REJECTED"] = sum(r["refused"].values())
        assert ops == s["ops"], r["session"]
        assert len(r["memories"]) == s["memories"]
    assert sum(sum(r["applied"].values()) for r in replay) > 0


def test_replay_of_another_model_is_a_clear_error(tmp_path: Path, bench_script: Loader) -> None:
    out = tmp_path / "run"
    evaluate(EvalSpec(bench="halumem", data=FIX / "halumem_mini.jsonl", out=out, llm="fake", systems=("deltamem",),
                      progress=False, plots=False), model_factory=lambda _: FakeEvalModel(), embedder=HashingEmbedder())
    with pytest.raises(ConfigError, match="cache miss for model 'other'"):
        bench_script("replay_ingest").replay("halumem", FIX / "halumem_mini.jsonl", out, None, None, "other", False,
                                             "hashing")


def test_refusal_reasons_are_counted_without_their_particulars(bench_script: Loader) -> None:
    kind = bench_script("replay_ingest").reason_kind
    reason = "near-duplicate of a stored memory (0.93): Melanie is swamped"
    assert kind(reason) == "near-duplicate of a stored memory (…)"
    assert kind("UPDATE of unknown id 'm7' dropped") == "UPDATE of unknown id … dropped"
