from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from synth_fakes import model_with, stages_of

from deltamem.core import apply
from deltamem.core.errors import ConfigError, LLMError
from deltamem.llm.base import Message
from deltamem.synth import (
    SynthConfig,
    SynthPipeline,
    compute_stats,
    fake_reply,
    fake_synth_model,
    prompt_stage,
    validate_dir,
)
from deltamem.synth.jsonio import read_jsonl
from deltamem.synth.records import day, op_from_row, state_from_rows, state_rows


def _run(out: Path, model: object, **kw: object) -> dict:
    until = kw.pop("until", "dialogue")
    cfg = SynthConfig(**{"personas": 2, "sessions": 3, "seed": 7, **kw})  # type: ignore[arg-type]
    return SynthPipeline(model, out, cfg).run(until=until)  # type: ignore[arg-type]


def test_full_pipeline_produces_valid_chained_transitions(tmp_path: Path) -> None:
    stats = _run(tmp_path, fake_synth_model(), personas=3, sessions=4)
    rows = read_jsonl(tmp_path / "transitions.jsonl")
    assert stats["transitions"] == len(rows) == 12
    assert validate_dir(tmp_path).ok
    assert {tuple(sorted(r)) for r in rows} == {tuple(sorted(rows[0]))}  # same columns everywhere
    by_persona: dict[str, list[dict]] = {}
    for r in rows:
        by_persona.setdefault(r["persona_id"], []).append(r)
        assert all(re.fullmatch(r"m\d+", m["id"]) for m in r["state"] + r["next_state"])
        after = apply(state_from_rows(r["state"]), [op_from_row(o, day(r["date"])) for o in r["ops"]],
                      now=day(r["date"])).state
        assert state_rows(after) == r["next_state"]
        assert r["session"][0]["speaker"] == "user"
    for seq in by_persona.values():
        assert [r["session_index"] for r in seq] == [1, 2, 3, 4]
        assert [r["date"] for r in seq] == sorted({r["date"] for r in seq})  # strictly increasing dates
        for prev, nxt in itertools.pairwise(seq):
            assert prev["next_state"] == nxt["state"]  # S*_{t+1} of one session is S_t of the next
    kinds = Counter(o["evolution"] for r in rows for o in r["ops"])
    assert kinds["intra"] > 0 and kinds["inter"] > 0 and kinds["padding"] > 0


def test_same_seed_same_data_other_seed_other_personas(tmp_path: Path) -> None:
    _run(tmp_path / "a", fake_synth_model())
    _run(tmp_path / "b", fake_synth_model())
    _run(tmp_path / "c", fake_synth_model(), seed=8)
    text = (tmp_path / "a" / "transitions.jsonl").read_text()
    assert text == (tmp_path / "b" / "transitions.jsonl").read_text()
    assert text != (tmp_path / "c" / "transitions.jsonl").read_text()


def test_calls_are_seeded_and_tries_get_different_seeds(tmp_path: Path) -> None:
    bad_once = {"done": False}

    def override(stage: str | None, messages: Sequence[Message]) -> str | None:
        if stage == "ops" and not bad_once["done"]:
            bad_once["done"] = True
            return '{"ops": [{"op": "DELETE", "id": "m99", "keywords": ["x"]}]}'
        return None

    model = model_with(override)
    _run(tmp_path, model, personas=1, sessions=1)
    seeds = [r["seed"] for r in model.requests]
    assert all(isinstance(s, int) for s in seeds)
    assert len(set(seeds)) == len(seeds)
    assert all(r["temperature"] == 0.7 for r in model.requests)


def test_resume_after_stage_two_repeats_no_llm_call(tmp_path: Path) -> None:
    first = fake_synth_model()
    _run(tmp_path / "r", first, until="timeline")
    assert Counter(stages_of(first)) == {"profile": 2, "timeline": 2}
    assert not (tmp_path / "r" / "transitions.jsonl").exists()
    second = fake_synth_model()
    _run(tmp_path / "r", second)
    assert Counter(stages_of(second)) == {"ops": 6, "dialogue": 6}
    third = fake_synth_model()
    _run(tmp_path / "r", third)
    assert third.requests == []
    _run(tmp_path / "straight", fake_synth_model())
    assert (tmp_path / "r" / "transitions.jsonl").read_text() == (
        tmp_path / "straight" / "transitions.jsonl").read_text()


def test_interrupted_run_resumes_item_by_item(tmp_path: Path) -> None:
    calls = {"n": 0}

    def crash_on_7th(stage: str | None, messages: Sequence[Message]) -> str | None:
        calls["n"] += 1
        if calls["n"] == 7:  # the 3rd ops call: profiles (2) and timelines (2) are done, two events too
            raise LLMError("connection reset")
        return None

    first = model_with(crash_on_7th)
    with pytest.raises(LLMError):
        _run(tmp_path, first)
    assert len(read_jsonl(tmp_path / "ops.jsonl")) == 2
    second = fake_synth_model()
    _run(tmp_path, second)
    assert Counter(stages_of(second)) == {"ops": 4, "dialogue": 6}
    assert (len(first.requests) - 1) + len(second.requests) == 2 + 2 + 6 + 6  # every item asked for exactly once
    assert validate_dir(tmp_path).ok


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    _run(tmp_path, fake_synth_model(), until="profile")
    with pytest.raises(ConfigError, match="other settings"):
        _run(tmp_path, fake_synth_model(), sessions=5)


def test_a_run_grows_by_personas_without_redoing_items(tmp_path: Path) -> None:
    _run(tmp_path / "g", fake_synth_model(), personas=2)
    before = (tmp_path / "g" / "ops.jsonl").read_text()
    more = fake_synth_model()
    _run(tmp_path / "g", more, personas=3)  # seed 7 draws the same two personas first, then one more
    assert Counter(stages_of(more)) == {"profile": 1, "timeline": 1, "ops": 3, "dialogue": 3}
    assert (tmp_path / "g" / "ops.jsonl").read_text().startswith(before)
    _run(tmp_path / "straight", fake_synth_model(), personas=3)
    assert (tmp_path / "g" / "transitions.jsonl").read_text() == (
        tmp_path / "straight" / "transitions.jsonl").read_text()
    with pytest.raises(ConfigError, match="other settings"):  # shrinking is not growing
        _run(tmp_path / "g", fake_synth_model(), personas=2)


def test_growth_is_refused_when_the_larger_draw_reorders_personas(tmp_path: Path) -> None:
    _run(tmp_path, fake_synth_model(), personas=5, until="profile")
    with pytest.raises(ConfigError, match="come first in the larger draw"):  # seed 7: 6 personas are drawn anew
        _run(tmp_path, fake_synth_model(), personas=6, until="profile")


def _first_dialogue_date(messages: Sequence[Message]) -> str:
    return re.search(r"Date of the chat: (\S+)", str(messages[1]["content"])).group(1)  # type: ignore[union-attr]


NO_KEYWORDS = json.dumps({"turns": [{"speaker": "user", "text": "Hello there, how are you?"},
                                    {"speaker": "assistant", "text": "Fine, thanks."},
                                    {"speaker": "user", "text": "Nothing new with me."},
                                    {"speaker": "assistant", "text": "Alright."}]})


@pytest.mark.parametrize(("failures", "dropped"), [(1, 0), (2, 0), (3, 1), (10, 1)])
def test_dialogue_without_keywords_is_regenerated_then_dropped(tmp_path: Path, failures: int, dropped: int) -> None:
    target: dict[str, object] = {"date": None, "seen": 0}

    def override(stage: str | None, messages: Sequence[Message]) -> str | None:
        if stage != "dialogue":
            return None
        date = _first_dialogue_date(messages)
        target["date"] = target["date"] or date
        if date == target["date"]:
            target["seen"] = int(target["seen"]) + 1  # type: ignore[call-overload]
            if int(target["seen"]) <= failures:  # type: ignore[call-overload]
                return NO_KEYWORDS
        return None

    model = model_with(override)
    stats = _run(tmp_path, model, personas=1, sessions=3, max_tries=3)
    tries = min(failures, 3)
    assert stats["rejections"] == {"dialogue_missing_keywords": tries}
    assert stats["dropped"]["dialogue"] == dropped
    assert stats["transitions"] == 3 - dropped
    retries = [r for r in model.requests if prompt_stage(r["messages"]) == "dialogue" and len(r["messages"]) > 2]
    assert len(retries) == min(failures, 2)  # each regeneration shows the model its failed reply and the reason
    assert all("must mention these changes" in r["messages"][-1]["content"] for r in retries)
    assert validate_dir(tmp_path).ok


def test_op_with_unknown_id_is_rejected_counted_and_retried(tmp_path: Path) -> None:
    state = {"n": 0}

    def override(stage: str | None, messages: Sequence[Message]) -> str | None:
        if stage == "ops":
            state["n"] += 1
            if state["n"] == 1:
                return '{"ops": [{"op": "UPDATE", "id": "m42", "text": "Ana moved.", "keywords": ["moved"]}]}'
        return None

    model = model_with(override)
    stats = _run(tmp_path, model, personas=1, sessions=2)
    assert stats["rejections"] == {"op_unknown_id": 1}
    assert stats["transitions"] == 2 and stats["dropped"]["ops"] == 0
    retry = [r for r in model.requests if prompt_stage(r["messages"]) == "ops"][1]
    assert "'m42', which is not in the memory list" in retry["messages"][-1]["content"]


def test_an_event_whose_ops_never_apply_is_dropped_and_later_events_continue(tmp_path: Path) -> None:
    first: dict[str, str] = {}

    def override(stage: str | None, messages: Sequence[Message]) -> str | None:
        if stage == "ops":
            date = re.search(r"Event on (\S+):", str(messages[1]["content"])).group(1)  # type: ignore[union-attr]
            if first.setdefault("date", date) == date:  # every try of the first event
                return '{"ops": [{"op": "DELETE", "id": "m77", "keywords": ["x"]}]}'
        return None

    stats = _run(tmp_path, model_with(override), personas=1, sessions=3, max_tries=2)
    assert stats["dropped"]["ops"] == 1
    assert stats["rejections"]["op_unknown_id"] == 2
    assert stats["transitions"] == 2
    rows = read_jsonl(tmp_path / "transitions.jsonl")
    assert [r["session_index"] for r in rows] == [2, 3]
    assert validate_dir(tmp_path).ok


@pytest.mark.parametrize(("bad_replies", "schema_used", "rejected"), [(1, False, 0), (2, True, 0), (3, True, 1)])
def test_json_repair_then_schema_fallback(tmp_path: Path, bad_replies: int, schema_used: bool, rejected: int) -> None:
    state = {"n": 0}

    def override(stage: str | None, messages: Sequence[Message]) -> str | None:
        if stage == "profile":
            state["n"] += 1
            if state["n"] <= bad_replies:
                return "Sure! Here is a lovely profile of this person, with many memories."
        return None

    model = model_with(override)
    stats = _run(tmp_path, model, personas=1, sessions=1)
    profile_calls = [r for r in model.requests if prompt_stage(r["messages"]) == "profile"]
    assert "could not be used: no JSON object found" in profile_calls[1]["messages"][-1]["content"]
    schema_calls = [i for i, r in enumerate(profile_calls) if r["json_schema"] is not None]
    assert schema_calls == ([2] if schema_used else [])  # the schema is the third call of a try, never the first
    assert stats["rejections"] == ({"json": 1} if rejected else {})
    assert stats["dropped"]["profile"] == 0 and stats["transitions"] == 1


def test_stats_match_the_files_and_the_model_usage(tmp_path: Path) -> None:
    model = fake_synth_model()
    stats = _run(tmp_path, model, personas=3, sessions=2)
    prompt = sum(len(str(m["content"]).split()) for r in model.requests for m in r["messages"])
    completion = sum(len(fake_reply(r["messages"]).split()) for r in model.requests)
    assert stats["usage"] == {"prompt_tokens": prompt, "completion_tokens": completion,
                              "calls": len(model.requests), "tries": len(model.requests)}
    rows = read_jsonl(tmp_path / "transitions.jsonl")
    expected = {"ADD": 0, "UPDATE": 0, "DELETE": 0}
    for r in rows:
        for o in r["ops"]:
            expected[o["op"]] += 1
    assert stats["ops"] == expected and sum(expected.values()) > 6
    assert stats["sessions_per_persona"] == dict(Counter(r["persona_id"] for r in rows))
    assert sum(stats["sessions_per_persona"].values()) == 6
    assert json.loads((tmp_path / "stats.json").read_text()) == stats == compute_stats(tmp_path)


def test_hf_datasets_loads_the_transitions(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    _run(tmp_path / "d", fake_synth_model(), personas=3, sessions=3)
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "d" / "transitions.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert ds.num_rows == 9
    assert set(ds.column_names) >= {"state", "session", "ops", "next_state", "date", "persona_id"}
    row = ds[0]
    assert set(row["state"][0]) == {"id", "text", "timestamp", "keywords"}
    assert set(row["session"][0]) == {"speaker", "text", "time"}
    assert set(row["ops"][0]) == {"op", "id", "text", "keywords", "evolution"}
    assert row["state"][0]["id"] == "m1"


def test_retry_dropped_gives_a_dropped_dialogue_fresh_tries_and_keeps_its_history(tmp_path: Path) -> None:
    seen = {"n": 0}

    def override(stage: str | None, messages: Sequence[Message]) -> str | None:
        if stage == "dialogue" and _first_dialogue_date(messages) == first_date["d"]:
            seen["n"] += 1
            return NO_KEYWORDS if seen["n"] <= 4 else None  # fails 3 tries, then 1 more, then passes
        return None

    first_date: dict[str, str | None] = {"d": None}
    probe = fake_synth_model()
    SynthPipeline(probe, tmp_path / "probe", SynthConfig(personas=1, sessions=3, seed=7)).run()
    first_date["d"] = _first_dialogue_date(next(r["messages"] for r in probe.requests
                                                if prompt_stage(r["messages"]) == "dialogue"))
    model = model_with(override)
    cfg = SynthConfig(personas=1, sessions=3, seed=7, max_tries=3)
    assert SynthPipeline(model, tmp_path / "d", cfg).run()["transitions"] == 2
    calls = len(model.requests)
    assert SynthPipeline(model, tmp_path / "d", cfg).run()["transitions"] == 2  # plain resume: no retry, no call
    assert len(model.requests) == calls
    stats = SynthPipeline(model, tmp_path / "d", cfg).run(retry_dropped=True)
    assert stats["transitions"] == 3 and stats["dropped"]["dialogue"] == 0
    assert stats["rejections"] == {"dialogue_missing_keywords": 4}  # the old 3 failed tries are still counted
    assert len(model.requests) == calls + 2
    seeds = [r["seed"] for r in model.requests if prompt_stage(r["messages"]) == "dialogue"]
    assert len(set(seeds)) == len(seeds)  # the retried tries did not replay the old seeds
    assert validate_dir(tmp_path / "d").ok
