"""The deprecated TRL reward function (the trainer's is deltamem.train.make_agent_reward, tested in
tests/train/test_data_reward.py): dataset columns in, one float per completion out, a DeprecationWarning; no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from reward_fakes import TableEmbedder

from deltamem.core import ConfigError
from deltamem.reward import MLDScorer, make_trl_reward

STATE = [{"id": "m1", "text": "Caroline lives in Boston", "keywords": []}]
TARGET = [{"id": "m1", "text": "Caroline lives in Seattle", "keywords": ["Seattle"]}]
TABLE = {"Caroline lives in Boston": (0.0, 1.0), "Caroline lives in Seattle": (1.0, 0.0),
         "Caroline resides in Seattle": (0.8, 0.6)}
GOOD = '[{"op": "UPDATE", "id": "m1", "text": "Caroline lives in Seattle"}]'
CLOSE = '[{"op": "UPDATE", "id": "m1", "text": "Caroline resides in Seattle"}]'


def test_rewards_for_plain_and_conversational_completions() -> None:
    metrics: dict[str, float] = {}
    with pytest.warns(DeprecationWarning, match="make_agent_reward"):
        fn = make_trl_reward(MLDScorer(TableEmbedder(TABLE)))
    completions = [GOOD, [{"role": "assistant", "content": CLOSE}], "no idea", '[{"op": "NOOP"}]']
    rewards = fn(prompts=["p"] * 4, completions=completions, completion_ids=[[1]] * 4,
                 state=[STATE, json.dumps(STATE), STATE, STATE], target=[TARGET] * 4,
                 trainer_state=None, log_metric=lambda k, v: metrics.__setitem__(k, v))
    assert rewards == pytest.approx([1.0, 0.8, 0.0, 0.0], abs=1e-6)
    assert fn.__name__ == "mld_reward"
    assert metrics["mld_reward/invalid"] == 0.25
    assert metrics["mld_reward/p_soft"] == pytest.approx((1.0 + 0.8) / 4, abs=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_missing_column_is_a_config_error() -> None:
    fn = make_trl_reward(MLDScorer(TableEmbedder(TABLE)))
    with pytest.raises(ConfigError, match="'target' dataset column"):
        fn(completions=[GOOD], state=[STATE])


def test_importing_the_reward_does_not_import_torch_or_trl() -> None:
    code = "import sys, deltamem.reward; print(sorted(m for m in ('torch', 'trl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
