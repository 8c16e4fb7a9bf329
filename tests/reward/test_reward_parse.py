"""The small agent-output parser and the state record format."""

from __future__ import annotations

import pytest

from deltamem.core import AgentOutputError, ConfigError, MemoryState
from deltamem.reward import extract_ops, items_of, records_of, state_from_records

OPS = [{"op": "ADD", "text": "Caroline adopted a cat"}, {"op": "DELETE", "id": "m2"}]


@pytest.mark.parametrize("raw", [
    '[{"op": "ADD", "text": "Caroline adopted a cat"}, {"op": "DELETE", "id": "m2"}]',
    'Final answer:\n```json\n[{"op": "ADD", "text": "Caroline adopted a cat"}, {"op": "DELETE", "id": "m2"}]\n```\n',
    '<think>maybe [{"op": "NOOP"}] or not</think>\n[{"op": "ADD", "text": "Caroline adopted a cat"},'
    ' {"op": "DELETE", "id": "m2"}]',
    'Memory [m2] is stale. Ops: {"ops": [{"op": "ADD", "text": "Caroline adopted a cat"},'
    ' {"op": "DELETE", "id": "m2"}]}',
    'draft: [{"op": "NOOP"}]\nfinal: [{"op": "ADD", "text": "Caroline adopted a cat"}, {"op": "DELETE", "id": "m2"}]',
])
def test_extract_ops_tolerates_wrapping(raw: str) -> None:
    assert extract_ops(raw) == OPS


def test_single_op_object_and_empty_list() -> None:
    assert extract_ops('{"op": "NOOP"}') == [{"op": "NOOP"}]
    assert extract_ops("No change needed: []") == []


@pytest.mark.parametrize("raw", [
    "I think Caroline moved.",
    "[m1] should change",
    '<think>[{"op": "NOOP"}] ... and then the output was cut',
    '{"answer": 42}',
])
def test_unparsable_output_raises_with_the_raw_text(raw: str) -> None:
    with pytest.raises(AgentOutputError) as info:
        extract_ops(raw)
    assert info.value.raw == raw
    assert "no JSON list of operations" in str(info.value)


def test_records_round_trip_through_a_state() -> None:
    records = [{"id": "m1", "text": "Caroline lives in Boston", "keywords": ["Boston"]},
               {"id": "m2", "text": "Rex is a dog", "keywords": []}]
    state = state_from_records(records)
    assert isinstance(state, MemoryState)
    assert state["m1"].keywords == ("Boston",)
    assert records_of(state) == records
    assert items_of('[{"text": "no id"}]', what="pred") == [("#0", "no id", ())]


@pytest.mark.parametrize(("data", "message"), [
    ({"id": "m1", "text": "x"}, "expected a list"),
    ("not json", "not valid JSON"),
    ([{"id": "m1"}], "needs a string 'text'"),
    ([{"id": "m1", "text": "x", "keywords": "Boston"}], "keywords must be a list"),
    ([{"text": "x"}], "needs a string 'id'"),
    ([{"id": "m1", "text": "x"}, {"id": "m1", "text": "y"}], "unique"),
])
def test_bad_state_records_are_config_errors(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        state_from_records(data)
