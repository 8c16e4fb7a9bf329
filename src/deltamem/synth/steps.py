"""The four synthesis steps, one item each: build the prompt, ask, check, and return the checkpoint record.

Every record carries ``status`` (``ok`` or ``dropped``), its LLM ``usage`` and its ``rejections`` by reason, so that
statistics can be recomputed from the files at any time, across interrupted and resumed runs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from deltamem.core import MemoryState
from deltamem.llm.base import ChatModel
from deltamem.reward.text import normalise_text
from deltamem.synth.config import SynthConfig
from deltamem.synth.keywords import clean_keywords, missing_in_text
from deltamem.synth.llmcall import CallSettings, Tally, ask_structured, derive_seed
from deltamem.synth.personas import Persona
from deltamem.synth.prompting import (
    SCHEMAS,
    dialogue_messages,
    example_texts,
    ops_messages,
    profile_messages,
    timeline_messages,
)
from deltamem.synth.records import day, op_row, state_from_rows
from deltamem.synth.validate import LabelledOp, Rejection, check_dialogue, check_event_ops


def _settings(config: SynthConfig, stage: str) -> CallSettings:
    return CallSettings(max_tries=config.max_tries, temperature=config.temperature,
                        max_tokens=config.max_tokens.get(stage, 512), seed=config.seed)


def _record(key: str, persona: Persona, tally: Tally, result: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"key": key, "persona_id": persona.id, "status": "ok" if result is not None else "dropped",
            **(result or {}), **tally.to_dict()}


def start_date(config: SynthConfig, persona: Persona) -> str:
    """The persona's S_0 date: the run's start date plus a seeded offset of up to a year."""
    offset = random.Random(derive_seed(config.seed, "start", persona.id)).randint(0, 365)
    return (date.fromisoformat(config.start_date) + timedelta(days=offset)).isoformat()


def event_dates(config: SynthConfig, persona: Persona, start: str) -> list[str]:
    """The session dates (ours, seeded): strictly increasing, ``gap_days`` apart."""
    rng = random.Random(derive_seed(config.seed, "dates", persona.id))
    d, out = date.fromisoformat(start), []
    for _ in range(config.sessions):
        d += timedelta(days=rng.randint(*config.gap_days))
        out.append(d.isoformat())
    return out


def turn_times(config: SynthConfig, key: str, when: str, n: int) -> list[str]:
    """ISO times of ``n`` turns on the session date: a seeded hour, two minutes per turn."""
    hour = random.Random(derive_seed(config.seed, "hour", key)).randint(8, 21)
    t0 = day(when) + timedelta(hours=hour)
    return [(t0 + timedelta(minutes=2 * i)).isoformat() for i in range(n)]


def make_profile(model: ChatModel, persona: Persona, *, config: SynthConfig) -> dict[str, Any]:
    """Step 1: seed persona → profile + initial memories ``m1..mN`` dated on the start date."""
    start = start_date(config, persona)
    lo, hi = config.memories

    def check(data: Mapping[str, Any]) -> dict[str, Any]:
        profile = data.get("profile")
        items = data.get("memories")
        if not isinstance(profile, str) or not profile.strip() or not isinstance(items, list):
            raise Rejection("shape", 'the reply needs "profile" (text) and "memories" (a list)')
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in items:
            text = item.get("text") if isinstance(item, Mapping) else item
            if not isinstance(text, str) or not text.strip() or normalise_text(text) in seen:
                continue
            seen.add(normalise_text(text))
            kws = clean_keywords(item.get("keywords") if isinstance(item, Mapping) else None)
            missing = set(missing_in_text(kws, text))  # S_0 labels are not targets: keep only the valid ones
            rows.append({"id": f"m{len(rows) + 1}", "text": text.strip(), "timestamp": start,
                         "keywords": [k for k in kws if k not in missing]})
        if len(rows) < config.min_initial:
            raise Rejection("too_few_memories", f"give {lo} to {hi} memories, each a sentence; got {len(rows)}")
        return {"start": start, "profile": profile.strip(), "memories": rows[:hi]}

    tally = Tally()
    result = ask_structured(model, profile_messages(persona, start=start, n_min=lo, n_max=hi), check,
                            schema=SCHEMAS["profile"], settings=_settings(config, "profile"),
                            key=f"profile/{persona.id}", tally=tally)
    return _record(persona.id, persona, tally, result)


def make_timeline(model: ChatModel, persona: Persona, profile: Mapping[str, Any], *,
                  config: SynthConfig) -> dict[str, Any]:
    """Step 2: profile + S_0 → one event per (seeded) date, in order; extra events are cut, missing ones omitted."""
    dates = event_dates(config, persona, str(profile["start"]))
    state = state_from_rows(profile["memories"])

    def check(data: Mapping[str, Any]) -> dict[str, Any]:
        items = data.get("events")
        if not isinstance(items, list):
            raise Rejection("shape", 'the reply needs a list "events" of {"date", "summary"}')
        summaries = [str(it.get("summary", "")).strip() for it in items if isinstance(it, Mapping)]
        summaries = [s for s in summaries if s]
        if not summaries:
            raise Rejection("no_events", f"write {len(dates)} events, each with a one-sentence summary")
        return {"events": [{"date": d, "summary": s} for d, s in zip(dates, summaries, strict=False)]}

    tally = Tally()
    messages = timeline_messages(persona, profile=str(profile["profile"]), state=state, start=str(profile["start"]),
                                 dates=dates)
    result = ask_structured(model, messages, check, schema=SCHEMAS["timeline"],
                            settings=_settings(config, "timeline"), key=f"timeline/{persona.id}", tally=tally)
    return _record(persona.id, persona, tally, result)


def make_ops(model: ChatModel, persona: Persona, *, key: str, index: int, event: Mapping[str, Any],
             state: MemoryState, origin: Mapping[str, int | None], next_id: int,
             config: SynthConfig) -> dict[str, Any]:
    """Step 3: S_t + event → labelled ops that apply cleanly (ADD ids continue from ``next_id``)."""
    when = day(str(event["date"]))

    trimmed: Counter[str] = Counter()

    def check(data: Mapping[str, Any]) -> list[LabelledOp]:
        attempt: Counter[str] | None = Counter() if config.trim_bad_ops else None
        labelled = check_event_ops(data, state, next_id=next_id, when=when, origin=origin, max_ops=config.max_ops,
                                   trimmed=attempt, example_texts=example_texts("ops"))[0]
        trimmed.clear()  # only the accepted reply's trimmings are kept (rejected tries count as rejections)
        trimmed.update(attempt or {})
        return labelled

    tally = Tally()
    messages = ops_messages(persona, state=state, date=str(event["date"]), event=str(event["summary"]))
    ops = ask_structured(model, messages, check, schema=SCHEMAS["ops"], settings=_settings(config, "ops"),
                         key=f"ops/{key}", tally=tally)
    result = None if ops is None else {
        "ops": [op_row(lo.op, keywords=lo.keywords, evolution=lo.evolution) for lo in ops],
        "trimmed": dict(sorted(trimmed.items()))}
    return {**_record(key, persona, tally, result), "event_index": index, "date": event["date"]}


def make_dialogue(model: ChatModel, persona: Persona, *, key: str, event: Mapping[str, Any], state: MemoryState,
                  ops: Sequence[LabelledOp], config: SynthConfig,
                  prior: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Step 4: the labelled changes of one event → a dated dialogue that expresses them. ``prior``: the record of an
    earlier, dropped attempt at this item; its tries, usage and rejections are carried on."""
    lo, hi = config.turns

    def check(data: Mapping[str, Any]) -> list[tuple[str, str]]:
        return check_dialogue(data, ops, min_turns=lo, max_turns=hi, keyword_coverage=config.keyword_coverage,
                              example_texts=example_texts("dialogue"))

    tally = Tally.resumed(prior)
    messages = dialogue_messages(persona, state=state, ops=ops, date=str(event["date"]), event=str(event["summary"]),
                                 min_turns=lo, max_turns=hi)
    turns = ask_structured(model, messages, check, schema=SCHEMAS["dialogue"], settings=_settings(config, "dialogue"),
                           key=f"dialogue/{key}", tally=tally)
    result = None
    if turns is not None:
        times = turn_times(config, key, str(event["date"]), len(turns))
        result = {"session": [{"speaker": s, "text": t, "time": tm} for (s, t), tm in zip(turns, times, strict=True)]}
    return _record(key, persona, tally, result)
