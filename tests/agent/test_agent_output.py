"""Finding 4 of issue #19: agent output could set timestamps, metadata and explicit ids, stored as given; some Unicode
digits in a session crashed the agent with a raw ValueError.

Now the model chooses only each op's kind, target and text: every other field it writes is ignored (and recorded),
times and provenance come from the session, ids from the store. No input text crashes the agent: it works, or it
raises a DeltamemError and memory is untouched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deltamem.agent import load_sessions
from deltamem.agent.dates import resolve
from deltamem.agent.guards import content_words
from deltamem.config import MemoryConfig
from deltamem.core import CorruptDataError, DeltamemError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.facade.memory import Memory
from deltamem.llm import ScriptedChatModel
from deltamem.stores.memory import InMemoryStore

EMB = HashingEmbedder(dim=64)
DATE = datetime(2023, 5, 8, 14, 0, tzinfo=UTC)
NS = "user:c"


def ops(*items: dict[str, Any]) -> str:
    return json.dumps({"ops": list(items)})


def memory(*replies: str) -> Memory:
    m = Memory(store=InMemoryStore(), embedder=EMB, llm=ScriptedChatModel(list(replies)),
               config=MemoryConfig(agent={"mode": "session"}))  # the whole-session reply protocol
    m.add(["Caroline lives in Boston"], namespace=NS)
    return m


def say(m: Memory, *texts: str, date: Any = DATE) -> Any:
    return m.add([{"role": "user", "content": t} for t in texts], namespace=NS, session_date=date, session_id="s1")


def test_the_model_chooses_only_kind_target_and_text() -> None:
    m = memory(ops(
        {"op": "ADD", "text": "Caroline adopted a cat named Mo", "id": "chosen-id", "timestamp": "1999-01-01T00:00:00Z",
         "metadata": {"admin": True}, "msgs": [0, 7], "keywords": ["cat"], "namespace": "user:victim",
         "session_id": "forged", "created_at": "0999-01-01", "reason": "a note"},
        {"op": "UPDATE", "id": "m1", "text": "Caroline lives in Denver", "timestamp": "0500-01-01",
         "metadata": {"x": {"y": {"z": 1}}}, "message_indices": [3]},
    ))
    res = say(m, "I adopted a cat named Mo!", "Caroline lives in Denver now, she moved from Boston.")
    assert res.change_set is not None and res.change_set.counts() == {"ADD": 1, "UPDATE": 1, "DELETE": 0}
    entries = {e.text: e for e in m.get_all(namespace=NS)}
    cat, home = entries["Caroline adopted a cat named Mo"], entries["Caroline lives in Denver"]
    for e in (cat, home):
        assert e.timestamp == DATE and e.session_id == "s1" and dict(e.metadata) == {} and e.keywords == ()
        assert e.namespace == NS
    assert cat.id != "chosen-id" and cat.message_indices == (0,) and home.message_indices == (1,)
    assert m.get_all(namespace="user:victim") == []
    reasons = [r.reason for r in res.agent.ignored]
    assert reasons == [
        "ignored field(s) the model may not set: created_at, id, keywords, metadata, msgs, namespace, session_id, "
        "timestamp",
        "ignored field(s) the model may not set: message_indices, metadata, timestamp"]
    assert [r.op.kind for r in res.agent.ignored] == ["ADD", "UPDATE"]


def test_a_plain_reply_records_nothing_ignored() -> None:
    m = memory(ops({"op": "ADD", "text": "Caroline plays the cello", "reason": "stated", "metadata": {}}))
    res = say(m, "I play the cello.")
    assert res.agent.ignored == [] and res.change_set is not None


UNICODE_DIGITS = ["²", "2²", "٣", "３", "𝟗", "٣ days ago", "in ３ weeks", "𝟗 years ago", "١٢:٣٠", "Ⅻ", "½",
                  "9" * 1500 + " days ago", "99999999 years ago", "in 10000 years", "100000000 days ago"]


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_unicode_digits_and_huge_numbers_do_not_crash_the_agent(text: str) -> None:
    content_words(f"I have {text} apples")  # was: ValueError: invalid literal for int() with base 10: '2²'
    resolve(f"We met {text}.", DATE)
    m = memory(ops({"op": "ADD", "text": f"Caroline met Ann {text}", "msgs": [text, "²"]},
                   {"op": "UPDATE", "id": f"m{text}", "text": "Caroline lives in Austin"},
                   {"op": "DELETE", "id": "m٣"}))
    res = say(m, f"I met Ann {text}. I live in Austin.")
    assert res.change_set is not None
    assert all(e.timestamp.year >= 1000 for e in m.get_all(namespace=NS))


@pytest.mark.parametrize(("text", "resolved"), [
    ("Marco hasn't had a cigarette in a month.", None),
    ("It was Ana's first holiday in two years.", None),
    ("Ana will move to Lyon in two weeks.", "Ana will move to Lyon in the week of 22 May 2023."),
])
def test_in_a_month_after_a_negation_is_a_span_not_a_date(text: str, resolved: str | None) -> None:
    r = resolve(text, datetime(2023, 5, 8, tzinfo=UTC))
    assert r.text == (resolved or text) and (r.date is None) is (resolved is None)


def test_every_relative_date_of_a_joined_fact_is_resolved() -> None:
    r = resolve("Caroline moved to Seattle last week and starts at the hospital next Monday.",
                datetime(2024, 3, 4, tzinfo=UTC))
    assert r.text == ("Caroline moved to Seattle in the week of 26 February 2024 and starts at the hospital on "
                      "Monday, 11 March 2024.")
    assert r.date == datetime(2024, 2, 26, tzinfo=UTC) and r.expression == "last week"


def test_relative_dates_past_the_range_stay_as_written() -> None:
    huge = "9" * 5000  # past int()'s 4300-digit limit
    assert resolve(f"we met {huge} days ago", DATE).date is None and "apple" in content_words(f"{huge} apples")
    early = datetime(1000, 1, 3, tzinfo=UTC)
    assert resolve("we met 5 years ago", early).date is None  # year 995: no date to resolve to
    assert resolve("we met yesterday", early).date == datetime(1000, 1, 2, tzinfo=UTC)
    assert resolve("see you tomorrow", datetime(9999, 12, 31, tzinfo=UTC)).date is None
    m = memory(ops({"op": "ADD", "text": "Caroline met Ann 5 years ago"}))
    say(m, "I met Ann 5 years ago.", date=early)
    met = next(e for e in m.get_all(namespace=NS) if "Ann" in e.text)
    assert met.text == "Caroline met Ann 5 years ago" and met.timestamp == early


def test_session_files_with_bad_dates_are_clear_errors(tmp_path: Path) -> None:
    for date in ("٢٠٢٤-٠١-٠١", "0999-01-01", "2024-02-30", 20240101):
        f = tmp_path / "s.json"
        f.write_text(json.dumps({"sessions": [{"date": date, "messages": [{"speaker": "A", "text": "hi"}]}]}))
        with pytest.raises(CorruptDataError):
            load_sessions(f)
    locomo = {"conversation": {"session_1": [{"speaker": "A", "text": "hi"}],
                               "session_1_date_time": "1:56 pm on 30 February, 2023", "session_٢": []}}
    f = tmp_path / "locomo.json"
    f.write_text(json.dumps(locomo))
    with pytest.raises(CorruptDataError, match=r"session_1_date_time.*30 February"):
        load_sessions(f)


# -- no input text crashes the agent -----------------------------------------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from(list("²٣３𝟗\ud800 \n{}[]\"m0123456789")), max_size=60)
_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                      max_leaves=8)
_FIELD = st.sampled_from(["op", "id", "text", "timestamp", "metadata", "msgs", "keywords", "namespace", "event",
                          "message_indices", "reason", "kind", "date"]) | _TEXT
_OP = st.dictionaries(_FIELD, st.sampled_from(["ADD", "UPDATE", "DELETE", "NOOP", "m1", "m٣"]) | _VALUE,
                      max_size=6)
_WELL_FORMED = st.builds(lambda base, extra: {**extra, **base}, st.fixed_dictionaries({
    "op": st.sampled_from(["ADD", "UPDATE", "DELETE"]), "text": _TEXT, "id": st.sampled_from(["m1", "m2", "m٣", "x"])}),
    st.dictionaries(_FIELD, _VALUE, max_size=3))
_REPLY = _TEXT | st.builds(lambda items: json.dumps({"ops": items}, allow_nan=True),
                           st.lists(_WELL_FORMED | _OP, max_size=4)) \
    | st.builds(lambda q: json.dumps({"search": q}), st.lists(_TEXT, max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=st.lists(_TEXT, min_size=1, max_size=3), replies=st.lists(_REPLY, min_size=1, max_size=4),
       date=st.none() | st.sampled_from([DATE, "2023-05-08", "٢٠٢٣-05-08", "0999-01-01", "1000-01-01T00:00:00Z",
                                         "9999-12-31"]))
def test_no_session_text_or_model_output_crashes_the_agent(session: list[str], replies: list[str],
                                                           date: Any) -> None:
    m = memory(*replies)
    before = (m.state(namespace=NS), len(m.change_sets(namespace=NS)))
    try:
        res = say(m, *session, date=date)
    except DeltamemError:
        assert (m.state(namespace=NS), len(m.change_sets(namespace=NS))) == before  # memory untouched
        return
    for e in m.get_all(namespace=NS):
        assert e.namespace == NS and dict(e.metadata) == {} and 1000 <= e.timestamp.year <= 9999
    if res.change_set is not None:
        assert all(c.after is None or c.after.session_id == "s1" for c in res.change_set.changes)
