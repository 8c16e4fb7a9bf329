"""The core's input gates (issue #19): one validation of every time (``as_utc``), one storage form that round-trips
every accepted time (``to_iso``), a reader that never fails on old rows (``stored_time``), and metadata limits
(``check_metadata``), all enforced by ``apply`` before anything can be written."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltamem.core import (
    MAX_TIME,
    MIN_TIME,
    Add,
    InvalidOperation,
    MemoryEntry,
    MemoryState,
    MetadataLimits,
    Update,
    ValidationError,
    apply,
    as_utc,
    check_metadata,
    op_from_dict,
    stored_time,
    to_iso,
)

BAD_TIMES = [
    datetime(999, 12, 31, 23, 59, tzinfo=UTC), "0999-12-31T23:59:59Z", date(1, 1, 1), "0001-01-01",
    datetime(1000, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # 999 in UTC
    datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),  # past 9999 in UTC (overflows)
    "２０２４-01-01", "٢٠٢٤-01-01", "2024-02-30", "yesterday", "", 5, 1.5, True, None, ["2024-01-01"],
]


@pytest.mark.parametrize("value", BAD_TIMES, ids=repr)
def test_times_outside_the_gate_are_validation_errors(value: object) -> None:
    with pytest.raises(ValidationError):
        as_utc(value)


def test_accepted_forms_are_normalised_to_utc() -> None:
    assert as_utc("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert as_utc("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert as_utc(datetime(2024, 5, 1, 10)) == datetime(2024, 5, 1, 10, tzinfo=UTC)  # naive = UTC
    assert as_utc(date(2024, 5, 1)) == datetime(2024, 5, 1, tzinfo=UTC)
    assert as_utc(MIN_TIME) == MIN_TIME and as_utc(MAX_TIME) == MAX_TIME
    assert as_utc(MIN_TIME).tzinfo is UTC


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999)))
def test_every_accepted_time_round_trips_through_the_storage_form(naive: datetime) -> None:
    value = naive.replace(tzinfo=UTC)
    text = to_iso(value)
    assert len(text) == len("2024-01-01T00:00:00.000000+00:00")  # fixed width: string order is time order
    assert as_utc(text) == value
    assert datetime.fromisoformat(text) == value


def test_storage_form_sorts_like_time() -> None:
    times = [MIN_TIME, datetime(1000, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), MAX_TIME]
    assert sorted(to_iso(t) for t in times) == [to_iso(t) for t in times]


def test_stored_time_reads_what_old_versions_wrote(caplog: pytest.LogCaptureFixture) -> None:
    row = f"memory {uuid.uuid4().hex!r}"  # each row is reported once per process
    with caplog.at_level(logging.WARNING, logger="deltamem.timeutil"):
        assert stored_time("999-01-01T00:00:00.000000+00:00", of=row) == MIN_TIME
        assert stored_time(datetime(12, 3, 4, tzinfo=UTC), of=row) == MIN_TIME
        assert stored_time(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), of=row) == MAX_TIME
        assert stored_time("garbage", of=row) == MIN_TIME
    assert caplog.text.count(row) == 4 and "older version" in caplog.text
    assert stored_time("2024-01-01T00:00:00.000000+00:00") == datetime(2024, 1, 1, tzinfo=UTC)


def test_entries_and_ops_refuse_bad_times() -> None:
    with pytest.raises(ValidationError, match="timestamp"):
        MemoryEntry(id="m", namespace="n", text="t", timestamp=datetime(999, 1, 1), created_at=MIN_TIME,
                    updated_at=MIN_TIME)
    with pytest.raises(InvalidOperation, match="out of range"):
        op_from_dict({"op": "ADD", "text": "t", "timestamp": "0999-01-01"})
    with pytest.raises(InvalidOperation, match="ISO-8601"):
        op_from_dict({"op": "ADD", "text": "t", "timestamp": 5})
    state = MemoryState("n")
    with pytest.raises(InvalidOperation, match=r"op #0.*out of range"):
        apply(state, [Add(text="t", timestamp=datetime(999, 1, 1, tzinfo=UTC))])
    base = apply(state, [Add(text="t", id="m1")]).state
    with pytest.raises(InvalidOperation, match="out of range"):
        apply(base, [Update(id="m1", text="u", timestamp=datetime(10, 1, 1))])


DEEP: dict[str, object] = {}
_node = DEEP
for _ in range(40):
    _node["a"] = {}
    _node = _node["a"]  # type: ignore[assignment]


@pytest.mark.parametrize(("value", "message"), [
    (DEEP, "nested more than 16 levels"),
    ({f"k{i}": i for i in range(300)}, "300 keys; the limit is 256"),
    ({"blob": "x" * 20_000}, "bytes as JSON; the limit is 16384"),
    ({"n": float("nan")}, "JSON cannot store"),
    ({"n": float("inf")}, "JSON cannot store"),
    ({1: "int key"}, "keys must be strings"),
    ({"when": datetime(2024, 1, 1)}, "only JSON values"),
    ({"s": "\ud800"}, "not valid JSON text"),
    ([1, 2], "must be an object"),
], ids=["deep", "keys", "bytes", "nan", "inf", "int-key", "datetime", "surrogate", "list"])
def test_metadata_outside_the_limits_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_metadata(value)


def test_metadata_is_returned_in_the_form_stores_give_back() -> None:
    assert check_metadata({"b": (1, 2), "a": {"c": True}}) == {"a": {"c": True}, "b": [1, 2]}
    limits = MetadataLimits(max_depth=2, max_keys=3, max_bytes=40)
    assert check_metadata({"a": {"b": 1}}, limits) == {"a": {"b": 1}}
    with pytest.raises(ValidationError):
        check_metadata({"a": {"b": [1]}}, limits)


def test_apply_checks_metadata_and_text_before_anything_changes() -> None:
    state = apply(MemoryState("n"), [Add(text="kept", id="m1")]).state
    with pytest.raises(InvalidOperation, match=r"op #1.*nested more than 16"):
        apply(state, [Add(text="fine"), Add(text="deep", metadata=DEEP)])
    with pytest.raises(InvalidOperation, match=r"op #0.*limit is 2"):
        apply(state, [Update(id="m1", text="x", metadata={"a": 1, "b": 2, "c": 3})],
              metadata_limits=MetadataLimits(max_keys=2))
    with pytest.raises(InvalidOperation, match="not valid Unicode"):
        apply(state, [Add(text="half a pair \ud800")])
    with pytest.raises(InvalidOperation, match="not valid Unicode"):
        apply(state, [Add(text="fine", keywords=("\udc80",))])
    with pytest.raises(InvalidOperation, match="not valid Unicode"):
        apply(state, [Add(text="fine", id="m\ud800")])
    cs = apply(state, [Add(text="ok", metadata={"t": (1, 2)})])
    assert dict(cs.changes[0].after.metadata) == {"t": [1, 2]}  # canonical: what a store reads back
