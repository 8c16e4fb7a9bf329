"""The one reply protocol: the agent and the reward read every reply alike."""

from __future__ import annotations

import pytest

from deltamem.agent.parse import OpsReply, parse_reply
from deltamem.core.reply import Truncated, find_reply, salvage_ops
from deltamem.reward import extract_ops

CASES = [
    ('{"ops": [{"op": "ADD", "text": "Tom lives in Austin."}]}', [{"op": "ADD", "text": "Tom lives in Austin."}]),
    ('Sure!\n```json\n[{"op": "ADD", "text": "Tom lives in Austin."}]\n```\nDone.',
     [{"op": "ADD", "text": "Tom lives in Austin."}]),
    ('<think>maybe {"ops": [{"op": "ADD", "text": "draft"}]}</think>{"ops": [{"op": "ADD", "text": "Tom cooks."}]}',
     [{"op": "ADD", "text": "Tom cooks."}]),
    ('{"ops": [{"op": "ADD", "text": "draft"}]} on second thought: {"ops": [{"op": "ADD", "text": "Tom cooks."}]}',
     [{"op": "ADD", "text": "Tom cooks."}]),  # the last reply wins, for both readers
    ('{"ops": [{"op": "ADD", "text": "Tom cooks."}, {"op": "ADD", "text": "Tom li',
     [{"op": "ADD", "text": "Tom cooks."}]),
    ('{"op": "ADD", "text": "Tom cooks."}', [{"op": "ADD", "text": "Tom cooks."}]),
]


@pytest.mark.parametrize(("reply", "ops"), CASES)
def test_agent_and_reward_read_the_same_ops(reply: str, ops: list[dict[str, str]]) -> None:
    assert extract_ops(reply) == ops
    parsed = parse_reply(reply, {}, allow_search=False)
    assert isinstance(parsed, OpsReply)
    assert [{"op": o.kind, "text": getattr(o, "text", None)} for o in parsed.ops] == ops


def test_truncation_is_told_apart_and_salvaged() -> None:
    cut = '{"ops": [{"op": "ADD", "text": "a b c"}, {"op": "DEL'
    with pytest.raises(Truncated):
        find_reply(cut)
    assert salvage_ops(cut) == [{"op": "ADD", "text": "a b c"}]
    assert find_reply("no json at all") is None and find_reply('{"label": "x"}') is None
    assert find_reply('<think>{"ops": []}') is None  # an unclosed think hides the rest
