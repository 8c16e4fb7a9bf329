"""The SFT warm-up's data: gold replies in the agent's format, aliases for ids, inexpressible ops left out."""

import json
from pathlib import Path

from deltamem.agent.parse import parse_reply
from deltamem.core import Add, Delete, Update
from deltamem.embed.hashing import HashingEmbedder
from deltamem.train.config import AgentSpec, DataSpec
from deltamem.train.data import build_split, load_transitions
from deltamem.train.sft import gold_reply, sft_rows

ALIASES = {"m1": "m7", "m2": "m3"}  # alias shown in the prompt -> stored id


def test_gold_reply_writes_aliases_and_parses_back() -> None:
    ops = [{"op": "UPDATE", "id": "m7", "text": "Ana lives in Lisbon.", "keywords": ["Lisbon"]},
           {"op": "DELETE", "id": "m3", "text": "", "keywords": []},
           {"op": "ADD", "id": "m9", "text": "Ana adopted a cat.", "keywords": ["cat"]}]
    text = gold_reply(ops, ALIASES)
    assert text is not None
    assert json.loads(text) == {"ops": [{"op": "UPDATE", "id": "m1", "text": "Ana lives in Lisbon."},
                                        {"op": "DELETE", "id": "m2"}, {"op": "ADD", "text": "Ana adopted a cat."}]}
    parsed = parse_reply(text, ALIASES, allow_search=False)  # the agent's own parser maps the aliases back
    kinds = [(type(o), getattr(o, "id", None)) for o in parsed.ops]  # type: ignore[union-attr]
    assert kinds[:2] == [(Update, "m7"), (Delete, "m3")] and kinds[2][0] is Add


def test_gold_reply_none_when_the_prompt_does_not_show_the_memory() -> None:
    assert gold_reply([{"op": "DELETE", "id": "m5", "text": ""}], ALIASES) is None
    assert gold_reply([], ALIASES) == '{"ops": []}'


def test_sft_rows_are_prompt_completion_pairs_of_expressible_examples(synth_dir: Path) -> None:
    rows = load_transitions(synth_dir)
    split = build_split(rows, DataSpec(path=str(synth_dir), eval_personas=1), AgentSpec(), HashingEmbedder())
    pairs = sft_rows(split.train)
    with_gold = [e for e in split.train if e["gold"]]
    assert pairs and len(pairs) == len(with_gold) <= len(split.train)
    first = pairs[0]
    assert first["prompt"] == with_gold[0]["prompt"]
    assert first["completion"] == [{"role": "assistant", "content": with_gold[0]["gold"]}]


def test_a_warm_up_made_with_other_settings_is_never_reused(tmp_path: Path) -> None:
    import pytest

    from deltamem.core import ConfigError
    from deltamem.train.config import train_config_from_dict
    from deltamem.train.sft import finished_sft, sft_warmup

    cfg = train_config_from_dict({"sft": {"steps": 4}})
    done = tmp_path / "sft"
    done.mkdir()
    settings = {"base": "/m/base", "steps": 4, "learning_rate": 2e-4, "batch_size": 4, "max_length": 1536}
    (done / "deltamem-sft.json").write_text(json.dumps({"settings": settings}))
    assert finished_sft(tmp_path) == done
    assert sft_warmup(cfg, "/m/base", None, [], tmp_path, use_cpu=True) == done  # same settings: reused
    with pytest.raises(ConfigError, match="other settings"):
        sft_warmup(cfg, "/m/other-base", None, [], tmp_path, use_cpu=True)
    with pytest.raises(ConfigError, match="other settings"):
        sft_warmup(train_config_from_dict({"sft": {"steps": 8}}), "/m/base", None, [], tmp_path, use_cpu=True)
