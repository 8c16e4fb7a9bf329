"""``bench/replay_ingest.py``: replaying deltamem's ingestion from an eval's LLM cache reproduces the run exactly."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from deltamem.core.errors import ConfigError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.eval.fake import FakeEvalModel
from deltamem.eval.harness import EvalSpec, evaluate

FIX = Path(__file__).parent / "fixtures"
SCRIPT = Path(__file__).parents[2] / "bench" / "replay_ingest.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("replay_ingest", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replay_reproduces_every_session_of_the_run_without_a_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    model = FakeEvalModel()
    evaluate(EvalSpec(bench="halumem", data=FIX / "halumem_mini.jsonl", out=out, llm="fake", systems=("deltamem",),
                      progress=False, plots=False), model_factory=lambda _: model, embedder=HashingEmbedder())
    sessions = [r for r in map(json.loads, (out / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines())
                if r["kind"] == "session"]
    calls = model.requests

    replay = _script().replay("halumem", FIX / "halumem_mini.jsonl", out, None, None, model.name, False, "hashing")

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


def test_replay_of_another_model_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "run"
    evaluate(EvalSpec(bench="halumem", data=FIX / "halumem_mini.jsonl", out=out, llm="fake", systems=("deltamem",),
                      progress=False, plots=False), model_factory=lambda _: FakeEvalModel(), embedder=HashingEmbedder())
    with pytest.raises(ConfigError, match="cache miss for model 'other'"):
        _script().replay("halumem", FIX / "halumem_mini.jsonl", out, None, None, "other", False, "hashing")


def test_refusal_reasons_are_counted_without_their_particulars() -> None:
    kind = _script().reason_kind
    reason = "near-duplicate of a stored memory (0.93): Melanie is swamped"
    assert kind(reason) == "near-duplicate of a stored memory (…)"
    assert kind("UPDATE of unknown id 'm7' dropped") == "UPDATE of unknown id … dropped"
