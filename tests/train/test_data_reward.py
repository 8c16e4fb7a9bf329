import json
from pathlib import Path

import pytest

from deltamem.core import ConfigError
from deltamem.embed.hashing import HashingEmbedder
from deltamem.reward import MLDScorer
from deltamem.train.config import AgentSpec, DataSpec
from deltamem.train.data import build_split, load_transitions
from deltamem.train.reward import make_agent_reward, score_completions


def _split(synth_dir: Path, **kw: int):  # type: ignore[no-untyped-def]
    rows = load_transitions(synth_dir)
    return rows, build_split(rows, DataSpec(path=str(synth_dir), **kw), AgentSpec(), HashingEmbedder())


def test_examples_are_the_agent_prompt_with_aliases(synth_dir: Path) -> None:
    rows, split = _split(synth_dir, eval_personas=1)
    ex = split.train[0]
    row = next(r for r in rows if r["id"] == ex["id"])
    assert [m["role"] for m in ex["prompt"]] == ["system", "user"]
    user = ex["prompt"][1]["content"]
    aliases = json.loads(ex["aliases"])
    state_text = {m["id"]: m["text"] for m in row["state"]}
    assert aliases  # the seed search found related memories
    for alias, mid in aliases.items():  # each alias is shown with the text of the memory it stands for
        assert f"{alias} [" in user and state_text[mid] in user
    assert [m["text"] for m in json.loads(ex["target"])] == [m["text"] for m in row["next_state"]]


def test_held_out_personas_never_in_train(synth_dir: Path) -> None:
    _, split = _split(synth_dir, eval_personas=1)
    assert len(split.eval_personas) == 1
    assert split.eval and all(e["persona_id"] in split.eval_personas for e in split.eval)
    assert all(e["persona_id"] not in split.eval_personas for e in split.train)


def test_curriculum_drops_with_reasons(synth_dir: Path) -> None:
    rows, split = _split(synth_dir, eval_personas=1, max_ops=2)
    assert split.dropped == {"too_many_ops": sum(len(r["ops"]) > 2 for r in rows)}
    assert split.dropped["too_many_ops"] > 0


def test_no_transitions_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"transitions\.jsonl"):
        load_transitions(tmp_path)


def test_reward_gold_one_garbage_zero(synth_dir: Path) -> None:
    _, split = _split(synth_dir, eval_personas=1)
    ex = next(e for e in split.train if e["gold"])  # its changed memories were all shown by the seed search
    texts = [ex["gold"], "I am not sure.", '{"search": ["pottery"]}', '{"ops": []}']
    scored = score_completions(MLDScorer(HashingEmbedder()), texts, states=[ex["state"]] * 4,
                               targets=[ex["target"]] * 4, aliases=[ex["aliases"]] * 4)
    assert [round(s.reward, 6) for s in scored] == [1.0, 0.0, 0.0, 0.0]
    assert [s.parsed for s in scored] == [True, False, False, True]  # "no change" parses but misses the target


def test_trl_reward_logs_parse_failures(synth_dir: Path) -> None:
    _, split = _split(synth_dir, eval_personas=1)
    ex = split.train[0]
    logged: dict[str, float] = {}
    fn = make_agent_reward(MLDScorer(HashingEmbedder()))
    rewards = fn([[{"role": "assistant", "content": "nope"}], '{"ops": []}'], state=[ex["state"]] * 2,
                 target=[ex["target"]] * 2, aliases=[ex["aliases"]] * 2, log_metric=logged.__setitem__)
    assert rewards == [0.0, 0.0] and logged["mld/parse_fail"] == 0.5
    with pytest.raises(ConfigError, match="aliases"):
        fn(["[]"], state=[ex["state"]], target=[ex["target"]])
