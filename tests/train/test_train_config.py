from pathlib import Path

import pytest

from deltamem.core import ConfigError
from deltamem.train.config import load_train_config, train_config_from_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.mark.parametrize("name", ["cpu_smoke.toml", "cpu_50step.toml", "gpu_smollm2.toml", "gpu_qwen3_8b.toml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_train_config(CONFIGS / name)
    assert cfg.grpo.num_generations >= 2
    assert cfg.batch_size == cfg.grpo.prompts_per_step * cfg.grpo.num_generations
    assert cfg.to_dict()["grpo"]["max_steps"] == cfg.grpo.max_steps


def test_gpu_config_is_full_finetune_with_vllm() -> None:
    cfg = load_train_config(CONFIGS / "gpu_qwen3_8b.toml")
    assert (cfg.lora.enabled, cfg.grpo.use_vllm, cfg.model.dtype) == (False, True, "bfloat16")
    assert cfg.launch.accelerate_config == "configs/train/accelerate_zero3.yaml"


@pytest.mark.parametrize("name", ["cpu_50step.toml", "gpu_smollm2.toml"])
def test_smollm2_runs_warm_up_first_and_hold_out_the_same_personas(name: str) -> None:
    cfg = load_train_config(CONFIGS / name)
    assert cfg.sft.steps > 0 and cfg.grpo.max_steps >= 50
    assert (cfg.data.path, cfg.data.eval_personas, cfg.data.split_seed) == ("data/synth", 2, 0)


def test_sft_table_is_checked() -> None:
    with pytest.raises(ConfigError, match="sft"):
        train_config_from_dict({"sft": {"steps": -1}})
    with pytest.raises(ConfigError, match="unknown key"):
        train_config_from_dict({"sft": {"epochs": 2}})
    assert train_config_from_dict({}).sft.steps == 0  # off unless asked for


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        train_config_from_dict({"grpo": {"num_generation": 4}})
    with pytest.raises(ConfigError, match="unknown table"):
        train_config_from_dict({"optimizer": {}})


def test_wrong_type_and_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"grpo\.max_steps must be int"):
        train_config_from_dict({"grpo": {"max_steps": "50"}})
    with pytest.raises(ConfigError, match="num_generations"):
        train_config_from_dict({"grpo": {"num_generations": 1}})
    cfg = train_config_from_dict({"grpo": {"learning_rate": 1}})  # an int where a float is expected is fine
    assert cfg.grpo.learning_rate == 1.0


def test_bad_toml(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text("[grpo\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_train_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_train_config(tmp_path / "missing.toml")
